// StyleReward: a classifier of the node's own text against reference text, trained on
// the device: logistic regression over hashed character n-grams (n = 1…3, FNV-1a into
// `buckets` buckets, counts divided by the text's n-gram total so long and short
// texts compare), fitted by full-batch gradient descent on the mean log-loss with the
// two classes weighted equally and an L2 penalty. The reward is the log-odds
// w·x + b that a completion is the node's own style.

import Foundation

public final class StyleReward: Reward {
    public static let rewardName = "style"
    public var name: String { Self.rewardName }
    public let buckets: Int
    public private(set) var weights: [Double]
    public private(set) var bias = 0.0

    /// Fits the classifier: `own` texts are class 1, `reference` texts class 0.
    public init(own: [String], reference: [String], buckets: Int = 4096, steps: Int = 300, learningRate: Double = 2,
                l2: Double = 1e-4) {
        precondition(!own.isEmpty && !reference.isEmpty, "the style classifier needs texts of both classes")
        precondition(buckets >= 1, "at least one bucket")
        self.buckets = buckets
        weights = [Double](repeating: 0, count: buckets)
        let documents = (own.map { (Self.features($0, buckets: buckets), 1.0) } + reference.map { (Self.features($0, buckets: buckets), 0.0) })
        let classWeight = [0.5 / Double(reference.count), 0.5 / Double(own.count)]
        for _ in 0..<steps {
            var gradient = [Double](repeating: 0, count: buckets), gradientBias = 0.0
            for (x, y) in documents {
                let p = 1 / (1 + exp(-logOdds(x)))
                let g = (p - y) * classWeight[Int(y)]
                for (i, v) in x { gradient[i] += g * v }
                gradientBias += g
            }
            for i in 0..<buckets { weights[i] -= learningRate * (gradient[i] + l2 * weights[i]) }
            bias -= learningRate * gradientBias
        }
    }

    public func scores(_ samples: [RewardSample]) -> [Double] { samples.map { logOdds($0.completionText) } }

    /// log P(own) / P(reference) of `text`.
    public func logOdds(_ text: String) -> Double { logOdds(Self.features(text, buckets: buckets)) }

    func logOdds(_ x: [(Int, Double)]) -> Double { x.reduce(bias) { $0 + weights[$1.0] * $1.1 } }

    /// The normalised counts of the character 1-, 2- and 3-grams of `text` by bucket
    /// (sparse, sorted by bucket).
    public static func features(_ text: String, buckets: Int) -> [(Int, Double)] {
        let scalars = Array(text.unicodeScalars)
        var counts: [Int: Double] = [:]
        var total = 0.0
        for n in 1...3 where scalars.count >= n {
            for start in 0...(scalars.count - n) {
                var hash: UInt64 = 0xCBF2_9CE4_8422_2325 ^ UInt64(n)  // FNV-1a offset basis, then the order
                for s in scalars[start..<(start + n)] {
                    hash = (hash ^ UInt64(s.value)) &* 0x100_0000_01B3
                }
                counts[Int(hash % UInt64(buckets)), default: 0] += 1
                total += 1
            }
        }
        return counts.sorted { $0.key < $1.key }.map { ($0.key, $0.value / total) }
    }
}
