// Each reward against hand cases; the mixture against its exact errors.

import Foundation
import Learning
import Testing

@testable import Schemes

@Suite struct ArithmeticRewardTests {
    @Test func aRightSumScoresOneAndAWrongSumZero() {
        #expect(ArithmeticReward.score(prompt: "12+7=", completion: "19") == 1)
        #expect(ArithmeticReward.score(prompt: "12+7=", completion: " 19, and more") == 1)
        #expect(ArithmeticReward.score(prompt: "12+7=", completion: "18") == 0)
        // A longer number is not the answer, nor is an answer later in the text.
        #expect(ArithmeticReward.score(prompt: "12+7=", completion: "190") == 0)
        #expect(ArithmeticReward.score(prompt: "12+7=", completion: "x19") == 0)
    }

    @Test func aProductIsCheckedToo() {
        #expect(ArithmeticReward.score(prompt: "some text 6 * 7 = ", completion: "42\n") == 1)
        #expect(ArithmeticReward.score(prompt: "6*7=", completion: "13") == 0)
    }

    @Test func aPromptWithoutAQuestionScoresZero() {
        #expect(ArithmeticReward.answer(toPromptEnding: "the old man") == nil)
        #expect(ArithmeticReward.answer(toPromptEnding: "3-2=") == nil)
        #expect(ArithmeticReward.answer(toPromptEnding: "+2=") == nil)
        #expect(ArithmeticReward.score(prompt: "hello", completion: "5") == 0)
    }

    @Test func generatedQuestionsHaveTheirAnswer() {
        var random = SeededRandom(seed: 3)
        for _ in 0..<50 {
            let q = ArithmeticReward.question(using: &random)
            let parts = q.dropLast().split(whereSeparator: { $0 == "+" || $0 == "*" }).map { Int($0)! }
            let expected = q.contains("+") ? parts[0] + parts[1] : parts[0] * parts[1]
            #expect(ArithmeticReward.answer(toPromptEnding: q) == expected)
            #expect(ArithmeticReward.score(prompt: q, completion: "\(expected) ") == 1)
        }
    }
}

@Suite struct LengthRewardTests {
    @Test func insideTheBandScoresOneAndOutsideFallsWithDistance() {
        let reward = LengthReward(band: 10...20)
        #expect(reward.score(String(repeating: "a", count: 10)) == 1)
        #expect(reward.score(String(repeating: "a", count: 20)) == 1)
        // 5 short of 10, band width 10: 1 − 0.5
        #expect(reward.score(String(repeating: "a", count: 5)) == 0.5)
        #expect(reward.score(String(repeating: "a", count: 25)) == 0.5)
        #expect(reward.score(String(repeating: "a", count: 200)) == -1)
        // Only the first line counts.
        #expect(reward.score(String(repeating: "a", count: 12) + "\n" + String(repeating: "b", count: 50)) == 1)
    }
}

@Suite struct StyleRewardTests {
    static let own = [
        "the old man walked down to the sea and the boat was waiting there",
        "the sea was calm and the old man sat in the boat with the nets",
        "he walked along the shore where the water met the sand at dawn",
        "the wind came over the water and the man pulled at the old nets",
    ]
    static let reference = [
        "QUARTERLY REVENUE ROSE 12% ON STRONG DEMAND; OUTLOOK RAISED TO 2027.",
        "SHARES FELL 3.4% AFTER THE FILING; ANALYSTS CUT TARGETS BY $5.",
        "NET INCOME: $1.2BN (Q3), VS. $0.9BN A YEAR EARLIER; EPS 4.10.",
        "BOARD APPROVES 10-FOR-1 SPLIT, EFFECTIVE 01/06; DIVIDEND UNCHANGED.",
    ]

    @Test func aTextInTheNodesOwnStyleScoresAboveAnother() {
        let reward = StyleReward(own: Self.own, reference: Self.reference)
        let mine = reward.logOdds("the man and the boat went out on the water")
        let theirs = reward.logOdds("PROFIT UP 7%; GUIDANCE: $3.1BN FOR FY26.")
        #expect(mine > 0)
        #expect(theirs < 0)
        #expect(mine > theirs)
    }

    @Test func featuresAreNormalisedCountsOfOneTwoAndThreeGrams() {
        // "aa": 1-grams a, a; 2-gram aa: three n-grams, "a" twice.
        let f = StyleReward.features("aa", buckets: 1 << 20)
        #expect(f.count == 2)
        let values: [Double] = f.map { $0.1 }.sorted()
        let expected: [Double] = [1.0 / 3, 2.0 / 3]
        #expect(values == expected)
    }
}

@Suite struct FluencyRewardTests {
    @Test func fluencyIsTheMeanLogProbabilityUnderTheBaseWhateverTheSlots() throws {
        let model = TransformerModel(config: .tiny, lora: LoRAConfig(rank: 2), seed: 3)
        let prompt: [Int32] = [104, 101, 108], completion: [Int32] = [108, 111, 32]
        let sample = RewardSample(prompt: prompt, completion: completion, promptText: "hel", completionText: "lo ")
        // By hand: the base's cross-entropy on the completion's targets only.
        let inputs = Array((prompt + completion).dropLast()), targets: [Int32] = [-1, -1, 108, 111, 32]
        let loss = model.forward(inputs: inputs, targets: targets, batchSize: 1, sequenceLength: 5, training: false)!
        let reward = FluencyReward(model: model)
        #expect(abs(reward.scores([sample])[0] + Double(loss)) < 1e-5)
        // A trained slot does not change the base's score, and the slots come back on.
        var adapter = try model.adapter(named: TransformerModel.defaultSlot)
        for i in adapter.tensors.indices { adapter.tensors[i].values = adapter.tensors[i].values.map { $0 + 0.5 } }
        try model.setAdapter(adapter, named: TransformerModel.defaultSlot)
        #expect(abs(reward.scores([sample])[0] + Double(loss)) < 1e-5)
        #expect(model.activeSlots == [TransformerModel.defaultSlot])
    }

    @Test func aLikelierCompletionScoresHigher() throws {
        let model = TransformerModel(config: .tiny, lora: nil, seed: 3)
        let prompt: [Int32] = [1, 2, 3]
        model.forward(inputs: prompt, targets: nil, batchSize: 1, sequenceLength: 3, training: false)
        let last = model.withLogits { Array($0[(2 * 256)..<(3 * 256)]) }
        let best = Int32(last.indices.max { last[$0] < last[$1] }!), worst = Int32(last.indices.min { last[$0] < last[$1] }!)
        let reward = FluencyReward(model: model)
        let scores = reward.scores([
            RewardSample(prompt: prompt, completion: [best], promptText: "", completionText: ""),
            RewardSample(prompt: prompt, completion: [worst], promptText: "", completionText: ""),
        ])
        #expect(scores[0] > scores[1])
    }
}

@Suite struct RewardMixtureTests {
    @Test func theMixtureIsTheWeightedSumOfItsComponents() throws {
        let mixture = try RewardMixture(weights: ["arithmetic": 0.7, "fluency": 0.3, "style": 0])
        #expect(mixture.components == ["arithmetic", "fluency"])
        let r = mixture.combine(["arithmetic": [1, 0], "fluency": [-2, -1]])
        #expect(abs(r[0] - (0.7 - 0.6)) < 1e-12)
        #expect(abs(r[1] - -0.3) < 1e-12)
    }

    @Test func anUnknownRewardIsRefusedByName() {
        #expect(throws: RewardMixtureError("unknown reward \"toxicity\" (known: arithmetic, style, fluency, length)")) {
            try RewardMixture(weights: ["toxicity": 1, "fluency": 1])
        }
    }

    @Test func aNegativeWeightIsRefused() {
        #expect(throws: RewardMixtureError("the weight of fluency must be a number of at least 0, got -0.3")) {
            try RewardMixture(weights: ["arithmetic": 1, "fluency": -0.3])
        }
    }

    @Test func allZeroWeightsAreRefused() {
        #expect(throws: RewardMixtureError("at least one reward weight must be positive")) {
            try RewardMixture(weights: ["arithmetic": 0])
        }
    }
}
