// TokenBatch: the unit a model trains or evaluates on.

/// B sequences of T token ids and their next-token targets, row-major (B,T).
/// A negative target marks a position that has none (padding).
public struct TokenBatch: Sendable, Equatable {
    public var inputs: [Int32]
    public var targets: [Int32]
    public var batchSize: Int
    public var sequenceLength: Int

    public init(inputs: [Int32], targets: [Int32], batchSize: Int, sequenceLength: Int) {
        precondition(inputs.count == batchSize * sequenceLength && targets.count == inputs.count,
                     "a TokenBatch holds B·T inputs and B·T targets")
        self.inputs = inputs
        self.targets = targets
        self.batchSize = batchSize
        self.sequenceLength = sequenceLength
    }
}
