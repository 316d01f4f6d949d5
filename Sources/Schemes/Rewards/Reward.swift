// Reward: a score a node computes for one completion of a prompt, on the device. No
// reward model can be downloaded here, so every reward is one the node computes or
// trains itself (RewardMixture.swift lists them).

/// One completion to score: the prompt and completion as ids and as text.
public struct RewardSample: Sendable, Equatable {
    public var prompt: [Int32]
    public var completion: [Int32]
    public var promptText: String
    public var completionText: String

    public init(prompt: [Int32], completion: [Int32], promptText: String, completionText: String) {
        self.prompt = prompt
        self.completion = completion
        self.promptText = promptText
        self.completionText = completionText
    }
}

/// A reward model of the node.
public protocol Reward: AnyObject {
    /// The name a topology's `rewards` table uses.
    var name: String { get }
    /// One score per sample (higher is better).
    func scores(_ samples: [RewardSample]) -> [Double]
}
