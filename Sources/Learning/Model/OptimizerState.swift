// OptimizerState: what a Trainer must keep across a restart — the schedule's step and
// each parameter group's AdamW moments — saved as safetensors so any reader can
// inspect it.

/// One parameter group's AdamW state.
public struct GroupMoments: Sendable, Equatable {
    /// Steps this group has taken (AdamW's bias-correction t).
    public var steps: Int
    /// First and second moments, in the group's layout.
    public var m: [Float]
    public var v: [Float]

    public init(steps: Int, m: [Float], v: [Float]) {
        precondition(m.count == v.count, "both moments cover the same parameters")
        self.steps = steps
        self.m = m
        self.v = v
    }
}

/// A Trainer's resumable state.
public struct OptimizerState: Sendable, Equatable {
    /// Steps taken (the schedule's position).
    public var step: Int
    /// AdamW state by group name (`slot.default`, `base`, …).
    public var groups: [String: GroupMoments]

    public init(step: Int, groups: [String: GroupMoments]) {
        self.step = step
        self.groups = groups
    }

    /// Writes the state atomically to `path` as safetensors: `<group>.adam.m` and
    /// `<group>.adam.v` per group, the step and each group's steps in the metadata.
    public func write(to path: String) throws(SafeTensorsError) {
        var tensors: [NamedTensor] = []
        var metadata = ["step": String(step)]
        for name in groups.keys.sorted() {
            let g = groups[name]!
            tensors.append(NamedTensor(name: name + ".adam.m", shape: [g.m.count], values: g.m))
            tensors.append(NamedTensor(name: name + ".adam.v", shape: [g.v.count], values: g.v))
            metadata[name + ".steps"] = String(g.steps)
        }
        try SafeTensors.write(tensors, metadata: metadata, to: path)
    }

    /// Reads a state written by `write(to:)`.
    public static func read(from path: String) throws(SafeTensorsError) -> OptimizerState {
        let file = try SafeTensors.read(from: path)
        func invalid(_ why: String) -> SafeTensorsError { .invalidMetadata(reason: "\(path) is not an optimizer state: \(why)") }
        guard let stepText = file.metadata["step"], let step = Int(stepText), step >= 0 else { throw invalid("no step") }
        var groups: [String: GroupMoments] = [:]
        for tensor in file.tensors where tensor.name.hasSuffix(".adam.m") {
            let name = String(tensor.name.dropLast(".adam.m".count))
            guard let v = file[name + ".adam.v"], v.count == tensor.count else { throw invalid("\(name).adam.v is missing or of another length") }
            guard let text = file.metadata[name + ".steps"], let steps = Int(text), steps >= 0 else { throw invalid("no \(name).steps") }
            groups[name] = GroupMoments(steps: steps, m: tensor.values, v: v.values)
        }
        guard groups.count * 2 == file.tensors.count else { throw invalid("tensors other than group moments") }
        return OptimizerState(step: step, groups: groups)
    }
}

extension Trainer {
    /// The state to save for a restart.
    public func optimizerState() -> OptimizerState {
        OptimizerState(
            step: step,
            groups: optimizers.mapValues { GroupMoments(steps: $0.stepCount, m: $0.m.array, v: $0.v.array) })
    }

    /// Continues from a saved state: the schedule's step and every group's moments.
    /// - Throws: `ModelError.unknownGroup` for a group the model cannot train;
    ///   `ModelError.adapterMismatch` when a group's size differs.
    public func restore(_ state: OptimizerState) throws(ModelError) {
        var restored: [String: AdamW] = [:]
        for (name, moments) in state.groups {
            guard let group = model.parameterGroup(named: name) else { throw .unknownGroup("optimizer state names \(name)") }
            model.allocateGradients(for: group)
            let count = model.groupSegments(group).reduce(0) { $0 + $1.count }
            guard moments.m.count == count else {
                throw .adapterMismatch("optimizer state of \(name) holds \(moments.m.count) moments, the group has \(count) values")
            }
            let adam = AdamW(parameterCount: count, beta1: beta1, beta2: beta2, epsilon: epsilon, weightDecay: weightDecay)
            adam.m.copy(from: moments.m)
            adam.v.copy(from: moments.v)
            adam.restoreStepCount(moments.steps)
            restored[name] = adam
        }
        optimizers = restored
        restoreStep(state.step)
    }
}

extension TransformerModel {
    /// The group called `name` (as `ParameterGroup.name` spells it), if the model has it.
    public func parameterGroup(named name: String) -> ParameterGroup? {
        if name == "base" { return .base }
        if name.hasPrefix("slot.") {
            let slotName = String(name.dropFirst("slot.".count))
            return slot(named: slotName) == nil && bottleneck(named: slotName) == nil ? nil : .slot(slotName)
        }
        if name.hasPrefix("base.blocks.") {
            let list = name.dropFirst("base.blocks.".count).split(separator: ",").map { Int($0) }
            guard !list.isEmpty, list.allSatisfy({ $0.map(config.blocks.contains) ?? false }) else { return nil }
            return .baseBlocks(list.map { $0! })
        }
        return nil
    }
}
