// FluencyReward: the mean log-probability of the completion's tokens under the frozen
// base model (every adapter slot switched off), given the prompt. The base is the one
// model every node shares, so fluency pulls toward text the base finds likely.

import Learning

public final class FluencyReward: Reward {
    public static let rewardName = "fluency"
    public var name: String { Self.rewardName }
    let model: TransformerModel

    /// Scores with `model`'s base: its slots are off while scoring and restored after.
    public init(model: TransformerModel) { self.model = model }

    public func scores(_ samples: [RewardSample]) -> [Double] {
        let saved = model.activeSlots
        model.activeSlots = []
        defer { model.activeSlots = saved }
        // Samples of equal prompt and completion lengths are scored in one batch.
        var result = [Double](repeating: 0, count: samples.count)
        let groups = Dictionary(grouping: samples.indices) { [samples[$0].prompt.count, samples[$0].completion.count] }
        for (_, indices) in groups.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            let first = samples[indices[0]]
            guard !first.completion.isEmpty else { continue }
            let logps = model.completionLogProbabilities(indices.map { samples[$0].prompt + samples[$0].completion },
                                                         promptLength: first.prompt.count)
            for (k, i) in indices.enumerated() { result[i] = logps[k].reduce(0, +) / Double(logps[k].count) }
        }
        return result
    }
}
