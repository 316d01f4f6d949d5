// OptimizerState: what a Trainer must keep across a restart — the step count and the
// AdamW moments — saved as safetensors so any reader can inspect it.

/// A Trainer's resumable state.
public struct OptimizerState: Sendable, Equatable {
    /// Steps taken (the schedule's position and AdamW's bias-correction t).
    public var step: Int
    /// AdamW first and second moments, in the trainable layout.
    public var m: [Float]
    public var v: [Float]

    public init(step: Int, m: [Float], v: [Float]) {
        precondition(m.count == v.count, "both moments cover the same parameters")
        self.step = step
        self.m = m
        self.v = v
    }

    /// Writes the state atomically to `path` as safetensors (`adam.m`, `adam.v`, step in metadata).
    public func write(to path: String) throws(SafeTensorsError) {
        try SafeTensors.write(
            [NamedTensor(name: "adam.m", shape: [m.count], values: m), NamedTensor(name: "adam.v", shape: [v.count], values: v)],
            metadata: ["step": String(step)], to: path)
    }

    /// Reads a state written by `write(to:)`.
    public static func read(from path: String) throws(SafeTensorsError) -> OptimizerState {
        let file = try SafeTensors.read(from: path)
        guard let m = file["adam.m"], let v = file["adam.v"], m.count == v.count,
            let stepText = file.metadata["step"], let step = Int(stepText), step >= 0
        else {
            throw .invalidMetadata(reason: "\(path) is not an optimizer state (needs adam.m and adam.v of equal length and a step)")
        }
        return OptimizerState(step: step, m: m.values, v: v.values)
    }
}

extension Trainer {
    /// The state to save for a restart.
    public func optimizerState() -> OptimizerState {
        OptimizerState(step: step, m: optimizer.m.array, v: optimizer.v.array)
    }

    /// Continues from a saved state: the step count and the moments.
    public func restore(_ state: OptimizerState) throws(GPT2Error) {
        guard state.m.count == optimizer.parameterCount else {
            throw .adapterMismatch("optimizer state holds \(state.m.count) moments, the model trains \(optimizer.parameterCount)")
        }
        optimizer.m.copy(from: state.m)
        optimizer.v.copy(from: state.v)
        optimizer.restoreStepCount(state.step)
        restoreStep(state.step)
    }
}
