// RewardMixture: a node's weighting α of its rewards, r(x, y) = Σ_m α_m R_m(x, y), the
// topology's `rewards = { arithmetic = 0.7, fluency = 0.3 }`. The weights and the
// reward models never leave the device.

/// Why a mixture cannot be made.
public struct RewardMixtureError: Error, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

public struct RewardMixture: Sendable, Equatable {
    /// The rewards a node can compute, in the order reports list them.
    public static let names = [ArithmeticReward.rewardName, StyleReward.rewardName, FluencyReward.rewardName, LengthReward.rewardName]

    /// α by reward name; every weight finite and not negative, at least one positive.
    public let weights: [String: Double]

    public init(weights: [String: Double]) throws(RewardMixtureError) {
        for name in weights.keys.sorted() where !Self.names.contains(name) {
            throw RewardMixtureError("unknown reward \"\(name)\" (known: \(Self.names.joined(separator: ", ")))")
        }
        for name in Self.names {
            guard let w = weights[name] else { continue }
            guard w.isFinite, w >= 0 else { throw RewardMixtureError("the weight of \(name) must be a number of at least 0, got \(w)") }
        }
        guard weights.values.contains(where: { $0 > 0 }) else { throw RewardMixtureError("at least one reward weight must be positive") }
        self.weights = weights
    }

    /// The rewards with a positive weight, in `names` order.
    public var components: [String] { Self.names.filter { (weights[$0] ?? 0) > 0 } }

    /// Σ_m α_m R_m per sample, from each component's scores by name.
    public func combine(_ scores: [String: [Double]]) -> [Double] {
        let count = scores.values.first?.count ?? 0
        return (0..<count).map { i in components.reduce(0) { $0 + weights[$1]! * scores[$1]![i] } }
    }
}

extension RewardMixture: Codable {
    /// Decodes the weights by name and checks them as `init(weights:)` does.
    public init(from decoder: any Decoder) throws { try self.init(weights: [String: Double](from: decoder)) }

    public func encode(to encoder: any Encoder) throws { try weights.encode(to: encoder) }
}
