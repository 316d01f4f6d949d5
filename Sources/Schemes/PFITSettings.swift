// PFITSettings: the topology's `rewards` mixture and `pfit = { … }` table.

/// What a PFIT node optimises and how.
public struct PFITSettings: Sendable, Equatable, Codable {
    /// The node's weighting α of its rewards.
    public var rewards: RewardMixture
    /// G, completions sampled per prompt.
    public var group = 4
    /// Tokens of each completion.
    public var completionTokens = 12
    /// Tokens of a prompt cut from the node's own text.
    public var promptTokens = 12
    /// β, the weight of KL(π ‖ π_ref).
    public var beta = 0.04
    /// The clip range ε of the ratio; nil for the plain policy gradient.
    public var clip: Double? = 0.2
    /// Whether advantages are divided by the group's standard deviation (GRPO).
    public var normalizeAdvantages = true
    /// Optimizer steps on each sampled group (the ratio leaves 1 from the second on).
    public var updatesPerGroup = 1
    /// Sampling temperature.
    public var temperature = 1.0
    /// The AdamW learning rate of the policy steps (constant).
    public var learningRate = 1e-3
    /// The `length` reward's target band, in characters of the completion's first line.
    public var lengthBand: ClosedRange<Int> = 8...32
    /// Prompts scored by `evaluate` after each round (fixed, so rounds compare).
    public var evaluationPrompts = 4

    public init(rewards: RewardMixture) { self.rewards = rewards }

    /// Fluency alone, the mixture of a node whose topology names none.
    public static let `default` = PFITSettings(rewards: try! RewardMixture(weights: [FluencyReward.rewardName: 1]))
}
