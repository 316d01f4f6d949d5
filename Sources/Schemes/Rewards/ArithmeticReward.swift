// ArithmeticReward: a verifiable reward, no model. A prompt ends with a question
// "a+b=" or "a*b="; the completion earns 1 when it begins (after spaces) with the exact
// answer not followed by another digit, else 0. A prompt without a question earns 0.

import Learning

public final class ArithmeticReward: Reward {
    public static let rewardName = "arithmetic"
    public var name: String { Self.rewardName }

    public init() {}

    public func scores(_ samples: [RewardSample]) -> [Double] {
        samples.map { Self.score(prompt: $0.promptText, completion: $0.completionText) }
    }

    /// 1 for a right answer to the prompt's question, 0 otherwise.
    public static func score(prompt: String, completion: String) -> Double {
        guard let answer = answer(toPromptEnding: prompt) else { return 0 }
        let digits = completion.drop { $0 == " " }.prefix { $0.isASCII && $0.isNumber }
        return !digits.isEmpty && digits.count <= 18 && Int(digits) == answer ? 1 : 0
    }

    /// The answer to the question "a+b=" or "a*b=" that `text` ends with (spaces allowed
    /// around the parts), nil when it ends with none.
    public static func answer(toPromptEnding text: String) -> Int? {
        var rest = Substring(text)
        func trim() { while rest.last == " " { rest.removeLast() } }
        func number() -> Int? {
            trim()
            let digits = rest.reversed().prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, digits.count <= 9 else { return nil }
            rest.removeLast(digits.count)
            return Int(String(digits.reversed()))
        }
        trim()
        guard rest.last == "=" else { return nil }
        rest.removeLast()
        guard let b = number() else { return nil }
        trim()
        guard let op = rest.last, op == "+" || op == "*" else { return nil }
        rest.removeLast()
        guard let a = number() else { return nil }
        return op == "+" ? a + b : a * b
    }

    /// A question to ask: a sum of two numbers below 50 or a product of two below 10,
    /// as "a+b=" or "a*b=".
    public static func question(using random: inout SeededRandom) -> String {
        if random.next() % 2 == 0 {
            return "\(random.next() % 50)+\(random.next() % 50)="
        }
        return "\(random.next() % 10)*\(random.next() % 10)="
    }
}
