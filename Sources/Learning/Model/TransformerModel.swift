// TransformerModel: a transformer with named adapter slots, trained on the CPU.
//
// Parameters live in one flat buffer laid out and named by `ModelConfig`'s projection
// table, so a checkpoint loads by name. Each adapter slot (a named LoRA set with its
// own rank, scale, targets and blocks) owns another flat buffer. Activations live in a
// third, sized for (B,T) and kept for backward. Every matrix product goes through
// cblas_sgemm.
//
// What trains is a list of parameter groups: the base (all of it or some blocks) and
// any slots. Backward carries input gradients as far down as something trains and
// computes weight gradients only for the groups being trained; a frozen slot still
// shapes the forward pass and the input gradients through it.

import Foundation

/// Errors of loading parameters or adapters into a model.
public enum ModelError: Error, Equatable, CustomStringConvertible {
    /// A tensor the model needs is not in the checkpoint.
    case missingTensor(name: String)
    /// A tensor has the wrong shape.
    case shapeMismatch(name: String, expected: [Int], found: [Int])
    /// The model has no adapter slot of that name.
    case noSlot(String)
    /// An adapter's configuration or tensors do not match the slot's layout.
    case adapterMismatch(String)
    /// A parameter group names blocks or slots the model does not have.
    case unknownGroup(String)

    public var description: String {
        switch self {
        case .missingTensor(let name): "missing tensor \(name)"
        case .shapeMismatch(let name, let expected, let found): "tensor \(name) has shape \(found), expected \(expected)"
        case .noSlot(let name): "the model has no adapter slot \"\(name)\""
        case .adapterMismatch(let why): "adapter does not match the model: \(why)"
        case .unknownGroup(let why): "unknown parameter group: \(why)"
        }
    }
}

/// A named LoRA slot a model carries: its name and configuration.
public struct AdapterSlotSpec: Sendable, Equatable {
    public var name: String
    public var lora: LoRAConfig
    public init(name: String, lora: LoRAConfig) {
        self.name = name
        self.lora = lora
    }
}

/// Something a trainer can optimise, with AdamW state of its own.
public enum ParameterGroup: Hashable, Sendable, CustomStringConvertible {
    /// Every base parameter (embeddings, blocks, final norm).
    case base
    /// The base parameters of some blocks, by block index (`ModelConfig.blocks`).
    case baseBlocks([Int])
    /// One adapter slot.
    case slot(String)

    /// The group's name, as optimizer state files key it.
    public var name: String {
        switch self {
        case .base: "base"
        case .baseBlocks(let blocks): "base.blocks." + blocks.map(String.init).joined(separator: ",")
        case .slot(let name): "slot." + name
        }
    }

    public var description: String { name }
}

/// One adapter slot inside a model: its layout and buffers.
final class AdapterSlot {
    let name: String
    let lora: LoRAConfig
    let layout: LoRALayout
    let values: FloatBuffer
    /// Allocated when the slot first trains.
    var gradients: FloatBuffer?

    init(name: String, lora: LoRAConfig, layout: LoRALayout) {
        self.name = name
        self.lora = lora
        self.layout = layout
        values = FloatBuffer(count: layout.count)
    }
}

/// A transformer of either family (GPT-2: LayerNorm, GELU, learned positions, output
/// tied to `wte`; Llama: RMSNorm, rotary grouped-query attention, SwiGLU, tied or
/// separate output) with any number of named LoRA slots.
///
/// ```swift
/// let model = TransformerModel(config: .tiny, lora: LoRAConfig(rank: 4), seed: 1)
/// let loss = model.forward(inputs: x, targets: y, batchSize: 4, sequenceLength: 64, training: true)
/// model.zeroGradients()
/// model.backward()
/// ```
public final class TransformerModel {
    /// The name of the slot `init(config:lora:seed:)` makes, as PEFT names its default adapter.
    public static let defaultSlot = "default"

    public let config: ModelConfig
    public let seed: UInt64

    let parameterLayout: ParameterLayout
    let parameters: FloatBuffer
    /// Base parameter gradients, same layout as `parameters`; allocated when a base group first trains.
    private(set) var parameterGradients: FloatBuffer?
    let slots: [AdapterSlot]
    /// Bottleneck slots (BottleneckSlot.swift), applied after each block's MLP residual.
    var bottlenecks: [BottleneckSlot] = []

    /// The slots the forward pass applies (all of them at first).
    public var activeSlots: Set<String>
    /// A factor on a slot's alpha / r, by slot name (1 when absent): fusing two slots'
    /// updates as w1 ΔW_1 + w2 ΔW_2 without touching their values.
    public var slotScaleFactors: [String: Float] = [:]
    /// What backward computes weight gradients for and a trainer steps.
    public private(set) var trainableGroups: [ParameterGroup] = []
    /// Per block position: whether its base parameters train.
    private var baseTrains: [Bool]
    private var embeddingsTrain = false

    var activations: Activations?
    /// Bytes a training pass may keep for backward before it keeps only each block's
    /// output and recomputes the rest in backward, its logits remade run by run (one more
    /// forward of the blocks and the output layer, a fraction of the memory; see
    /// `recomputesBlocks(B:T:)`); nil keeps everything whatever its size.
    public var activationBudgetBytes: Int?
    /// Floats of logits a bounded run of rows may take (`scoringLogitRows`); tests lower it.
    var logitFloatBudget = 1 << 22
    /// The forward-only pass's buffers (TransformerModel+ForwardOnly.swift).
    var forwardOnlyActivations: Activations?
    /// The buffers the last forward wrote its logits to.
    var lastActivations: Activations?
    /// Candidates stacked along the rows of a forward-only pass: each group of rows
    /// carries its own values of one slot (TransformerModel+ForwardOnly.swift).
    var candidateRows: CandidateRows?
    private var inputs: [Int32] = []
    private var targets: [Int32]?
    /// Number of positions with a target in the last forward.
    var targetCount = 0
    /// Counts training forwards; each one draws fresh dropout masks. Part of a
    /// resumable state: a restored run sets it back to continue the same masks.
    public var dropoutPosition: UInt64 = 0
    private var lastForwardTrained = false
    /// Whether the last forward kept what backward needs.
    private var lastForwardKept = false
    /// Backward turns the logits into their gradient in place.
    private var logitsHoldGradient = false

    /// Makes a model with GPT-2's initialisation drawn from `seed`: weights normal(0, 0.02),
    /// GPT-2's two residual projections (`c_proj`) normal(0, 0.02 / sqrt(2L)), biases 0,
    /// norm weights 1 — or, with `parameters`, the base from those tensors (no
    /// random draw). Every slot's A is Kaiming-uniform as PEFT draws it (bound
    /// 1 / sqrt(in)), each B is zero, so the initial model equals the base.
    /// Nothing trains until `setTrainable` says what.
    /// - Throws: `ModelError` when `parameters` lack a tensor or have a wrong shape.
    public init(config: ModelConfig, slots: [AdapterSlotSpec], seed: UInt64, parameters tensors: [String: NamedTensor]? = nil) throws {
        do { try config.validate() } catch { preconditionFailure("invalid model config: \(error)") }
        precondition(Set(slots.map(\.name)).count == slots.count, "adapter slot names must be distinct")
        let slots = slots.map { AdapterSlotSpec(name: $0.name, lora: $0.lora.resolvingTargets(for: config)) }
        self.config = config
        self.seed = seed
        parameterLayout = ParameterLayout(config: config)
        parameters = FloatBuffer(count: parameterLayout.count)
        baseTrains = Array(repeating: false, count: config.layers)
        activeSlots = Set(slots.map(\.name))
        var built: [AdapterSlot] = []
        for (k, spec) in slots.enumerated() {
            do { try spec.lora.validate() } catch { preconditionFailure("slot \(spec.name): \(error)") }
            for target in spec.lora.targets where config.projection(target) == nil {
                throw ModelError.adapterMismatch("slot \(spec.name): target \(target.rawValue) is not a projection of a \(config.family.rawValue) block")
            }
            if let blocks = spec.lora.blocks, let missing = blocks.first(where: { !config.blocks.contains($0) }) {
                throw ModelError.adapterMismatch("slot \(spec.name): block \(missing) is not in the model (blocks \(config.blocks))")
            }
            let slot = AdapterSlot(name: spec.name, lora: spec.lora, layout: LoRALayout(config: config, lora: spec.lora))
            // The first slot's stream is the one a single-adapter model always drew.
            var random = SeededRandom(seed: SeededRandom.mix(seed ^ 0x4C6F_5241 &+ UInt64(k) &* 0x9E37_79B9_7F4A_7C15))  // "LoRA"
            for entry in slot.layout.slots {
                let bound = 1 / Float(entry.inFeatures).squareRoot()
                let a = slot.values[entry.a]
                for i in 0..<(spec.lora.rank * entry.inFeatures) { a[i] = random.uniform(-bound, bound) }
            }
            built.append(slot)
        }
        self.slots = built
        if let tensors {
            try loadParameters(tensors)
        } else {
            var random = SeededRandom(seed: seed)
            let residualStd = 0.02 / Float(2 * config.layers).squareRoot()
            for slot in parameterLayout.slots {
                let values = UnsafeMutableBufferPointer(start: parameters[slot.offset], count: slot.count)
                if slot.shape.count == 1 && slot.name.hasSuffix(".weight") {  // every norm weight
                    values.update(repeating: 1)
                } else if slot.name.hasSuffix(".bias") {
                    values.update(repeating: 0)
                } else {
                    // GPT-2 scales its residual projections; Hugging Face's Llama draws every weight alike.
                    let scaled = config.family == .gpt2 && slot.name.hasSuffix("c_proj.weight")
                    random.fillNormal(values, std: scaled ? residualStd : 0.02)
                }
            }
        }
    }

    /// A model with one LoRA slot named `default` that trains (the base frozen), or,
    /// with `lora` nil, no slot and the whole base training (pretraining).
    public convenience init(config: ModelConfig, lora: LoRAConfig?, seed: UInt64) {
        // Cannot throw: no tensors are loaded and the default targets resolve to the model's own.
        try! self.init(config: config, lora: lora, seed: seed, parameters: nil)
    }

    /// As `init(config:lora:seed:)`, with the base from `parameters` (Hugging Face
    /// names, as `loadParameters` takes them).
    /// - Throws: what `loadParameters` throws.
    public convenience init(config: ModelConfig, lora: LoRAConfig?, seed: UInt64, parameters: [String: NamedTensor]?) throws {
        try self.init(config: config, slots: lora.map { [AdapterSlotSpec(name: Self.defaultSlot, lora: $0)] } ?? [],
                      seed: seed, parameters: parameters)
        try setTrainable(lora == nil ? [.base] : [.slot(Self.defaultSlot)])
    }

    /// Names of the model's adapter slots, in order.
    public var slotNames: [String] { slots.map(\.name) }

    /// The LoRA settings of slot `name`.
    public func slotConfig(named name: String) -> LoRAConfig? { slot(named: name)?.lora }

    func slot(named name: String) -> AdapterSlot? { slots.first { $0.name == name } }

    /// Number of base parameters (124,439,808 for GPT-2 small).
    public var parameterCount: Int { parameterLayout.count }

    /// Number of values of every group that trains.
    public var trainableParameterCount: Int { trainableGroups.reduce(0) { $0 + groupSegments($1).reduce(0) { $0 + $1.count } } }

    // MARK: - What trains

    /// Makes `groups` the ones that train; gradient buffers are allocated on first use.
    /// - Throws: `ModelError.unknownGroup` for a slot or block the model lacks.
    public func setTrainable(_ groups: [ParameterGroup]) throws(ModelError) {
        var base = Array(repeating: false, count: config.layers)
        var embeddings = false
        for group in groups {
            switch group {
            case .base:
                base = base.map { _ in true }
                embeddings = true
            case .baseBlocks(let blocks):
                for b in blocks {
                    guard let l = config.blocks.firstIndex(of: b) else { throw .unknownGroup("block \(b) is not in the model") }
                    base[l] = true
                }
            case .slot(let name):
                guard slot(named: name) != nil || bottleneck(named: name) != nil else { throw .unknownGroup("no slot \"\(name)\"") }
            }
        }
        for group in groups { allocateGradients(for: group) }
        baseTrains = base
        embeddingsTrain = embeddings
        trainableGroups = groups
    }

    /// Makes the gradient buffer a group needs, if it is not there yet.
    func allocateGradients(for group: ParameterGroup) {
        switch group {
        case .base, .baseBlocks:
            if parameterGradients == nil { parameterGradients = FloatBuffer(count: parameterLayout.count) }
        case .slot(let name):
            if let slot = slot(named: name), slot.gradients == nil { slot.gradients = FloatBuffer(count: slot.layout.count) }
            bottleneck(named: name)?.allocateGradients()
        }
    }

    /// The (values, gradients, count) runs of a group's storage, in a fixed order.
    func groupSegments(_ group: ParameterGroup) -> [(values: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>, count: Int)] {
        switch group {
        case .base:
            guard let g = parameterGradients else { return [] }
            return [(parameters.pointer, g.pointer, parameters.count)]
        case .baseBlocks(let blocks):
            guard let g = parameterGradients else { return [] }
            return blocks.compactMap { b in
                config.blocks.firstIndex(of: b).map { l in
                    let r = parameterLayout.blocks[l].range
                    return (parameters[r.lowerBound], g[r.lowerBound], r.count)
                }
            }
        case .slot(let name):
            if let b = bottleneck(named: name) { return b.gradients.map { [(b.values.pointer, $0.pointer, b.values.count)] } ?? [] }
            guard let slot = slot(named: name), let g = slot.gradients else { return [] }
            return [(slot.values.pointer, g.pointer, slot.values.count)]
        }
    }

    /// Whether slot `slot` trains now.
    private func trains(_ slot: AdapterSlot) -> Bool { trainableGroups.contains(.slot(slot.name)) }

    /// The lowest block position whose input gradient is needed: below it nothing
    /// trains. -1 when the embeddings train; `layers` when nothing does.
    private var lowestTrainedLayer: Int {
        if embeddingsTrain { return -1 }
        var lowest = config.layers
        if let l = baseTrains.firstIndex(of: true) { lowest = l }
        for slot in slots where trains(slot) {
            if let l = slot.layout.slots.first?.layer { lowest = min(lowest, l) }
        }
        if bottlenecks.contains(where: { trainableGroups.contains(.slot($0.name)) }) { lowest = 0 }
        return lowest
    }

    // MARK: - Forward

    /// Runs the model on `inputs` (B,T) token ids. With `targets` (B,T) it returns the
    /// mean cross-entropy over the positions whose target is not negative (a negative
    /// target marks padding). `training` enables LoRA dropout. Activations are kept for
    /// `backward()` and the logits for `withLogits`.
    @discardableResult
    public func forward(inputs: [Int32], targets: [Int32]?, batchSize B: Int, sequenceLength T: Int, training: Bool) -> Float? {
        let N = B * T
        checkBatch(inputs: inputs, targets: targets, batchSize: B, sequenceLength: T)
        let acts = activations(B: B, T: T, training: training)
        self.inputs = inputs
        self.targets = targets
        if training { dropoutPosition &+= 1 }
        lastForwardTrained = training
        run(acts: acts, inputs: inputs, targets: targets, groupRows: N) { _ in }

        guard let targets else {
            targetCount = 0
            return nil
        }
        targetCount = targets.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) }
        var sum: Float = 0
        for i in 0..<N { sum += acts[acts.losses][i] }
        return targetCount > 0 ? sum / Float(targetCount) : 0
    }

    /// The forward pass over `acts` (B,T): embeddings, blocks, final norm, then the
    /// logits (and with `targets` the losses) in runs of at most `acts.logitRows` rows
    /// that never cross a multiple of `groupRows`. `logits` is called with each run's
    /// rows while the logits buffer holds them (its row 0 is the run's first row).
    /// Losses land at acts.losses, one per row.
    func run(acts: Activations, inputs: [Int32], targets: [Int32]?, groupRows: Int, logits body: (Range<Int>) -> Void) {
        let C = config.channels, V = config.vocabularySize, B = acts.B, T = acts.T, N = B * T
        logitsHoldGradient = false
        lastForwardKept = acts.keepsActivations
        // A forward-only pass never drops out, whatever the last forward did.
        if !acts.keepsActivations { lastForwardTrained = false }
        lastActivations = acts
        let p = parameters, layout = parameterLayout

        inputs.withUnsafeBufferPointer { tokens in
            if layout.wpe >= 0 {
                encoderForward(out: acts[acts.encoded], tokens: tokens.baseAddress!, wte: p[layout.wte], wpe: p[layout.wpe], B: B, T: T, C: C)
            } else {
                embeddingForward(out: acts[acts.encoded], tokens: tokens.baseAddress!, wte: p[layout.wte], N: N, C: C)
            }
        }
        var residual = acts[acts.encoded]
        for l in 0..<config.layers {
            let w = layout.blocks[l], a = acts.blocks[l]
            normForward(out: a.ln1, mean: a.ln1Mean, rstd: a.ln1Rstd, inp: residual, weight: w.ln1Weight, bias: w.ln1Bias, acts: acts)
            attentionForward(layer: l, acts: acts)
            residualForward(out: acts[a.residual2], a: residual, b: acts[a.attentionProjection], N: N * C)
            normForward(out: a.ln2, mean: a.ln2Mean, rstd: a.ln2Rstd, inp: acts[a.residual2], weight: w.ln2Weight, bias: w.ln2Bias, acts: acts)
            mlpForward(layer: l, acts: acts)
            residualForward(out: acts[a.residual3], a: acts[a.residual2], b: acts[a.fcProjection], N: N * C)
            applyBottlenecks(layer: l, stream: acts[a.residual3], N: N, keep: acts.keepsActivations)
            residual = acts[a.residual3]
        }
        normForward(out: acts.lnf, mean: acts.lnfMean, rstd: acts.lnfRstd, inp: residual, weight: layout.lnfWeight, bias: layout.lnfBias,
                    acts: acts)
        // logits (rows,V) = lnf (rows,C) · outputᵀ (C,V): the output layer is the embedding
        // when tied, else lm_head, both stored (V,C).
        var start = 0
        while start < N {
            let end = min(start + acts.logitRows, (start / groupRows + 1) * groupRows, N), rows = end - start
            sgemm(transposeA: false, transposeB: true, m: rows, n: V, k: C, a: acts[acts.lnf] + start * C, lda: C, b: p[layout.output],
                  ldb: C, beta: 0, c: acts[acts.logits], ldc: V)
            if let targets {
                targets.withUnsafeBufferPointer { t in
                    crossEntropyForward(losses: acts[acts.losses] + start, logsumexp: acts[acts.logsumexp] + start, logits: acts[acts.logits],
                                        targets: t.baseAddress! + start, N: rows, V: V)
                }
            }
            body(start..<end)
            start = end
        }
    }

    /// Calls `body` with the (B,T,V) logits of the last forward. Valid until the next
    /// `backward()`, which overwrites them with their gradient.
    public func withLogits<R>(_ body: (UnsafeBufferPointer<Float>) -> R) -> R {
        guard let acts = lastActivations else { preconditionFailure("withLogits before any forward") }
        precondition(!logitsHoldGradient, "withLogits after backward: the logits now hold their gradient")
        precondition(acts.logitRows >= acts.B * acts.T, "withLogits after a forward that kept only some rows' logits")
        return body(UnsafeBufferPointer(start: acts[acts.logits], count: acts.B * acts.T * config.vocabularySize))
    }

    // MARK: - The block body, by family

    /// The norm at activation offset `out` of `inp`: LayerNorm (keeping mean and rstd)
    /// or RMSNorm (keeping rstd), with the parameters at `weight` and `bias`.
    private func normForward(
        out: Int, mean: Int, rstd: Int, inp: UnsafeMutablePointer<Float>, weight: Int, bias: Int, acts: Activations
    ) {
        let N = acts.B * acts.T, C = config.channels, p = parameters
        switch config.norm {
        case .layerNorm:
            layerNormForward(out: acts[out], mean: acts[mean], rstd: acts[rstd], inp: inp, weight: p[weight], bias: p[bias],
                             N: N, C: C, epsilon: config.normEpsilon)
        case .rmsNorm:
            rmsNormForward(out: acts[out], rstd: acts[rstd], inp: inp, weight: p[weight], N: N, C: C, epsilon: config.normEpsilon)
        }
    }

    /// dinp (N,C) += the gradient through the norm of dout; weight (and bias) gradients
    /// into `g` when the norm trains.
    private func normBackward(
        dinp: UnsafeMutablePointer<Float>, g: FloatBuffer?, dout: UnsafeMutablePointer<Float>, inp: UnsafeMutablePointer<Float>,
        mean: Int, rstd: Int, weight: Int, bias: Int, acts: Activations
    ) {
        let N = acts.B * acts.T, C = config.channels, p = parameters
        switch config.norm {
        case .layerNorm:
            layerNormBackward(dinp: dinp, dweight: g?[weight], dbias: g?[bias], dout: dout, inp: inp, weight: p[weight],
                              mean: acts[mean], rstd: acts[rstd], N: N, C: C)
        case .rmsNorm:
            rmsNormBackward(dinp: dinp, dweight: g?[weight], dout: dout, inp: inp, weight: p[weight], rstd: acts[rstd], N: N, C: C)
        }
    }

    /// Block `layer`'s attention, from ln1 to attentionProjection: GPT-2's fused qkv, or
    /// Llama's q, k, v with rotary positions and grouped-query heads.
    private func attentionForward(layer l: Int, acts: Activations) {
        let a = acts.blocks[l], C = config.channels, NH = config.heads, B = acts.B, T = acts.T
        switch config.family {
        case .gpt2:
            projectionForward(layer: l, projection: 0, out: acts[a.qkv], inp: acts[a.ln1], acts: acts, IC: C, OC: 3 * C)
            Learning.attentionForward(out: acts[a.atty], att: acts[a.att], qkv: acts[a.qkv], B: B, T: T, C: C, NH: NH)
        case .llama:
            let KC = config.kvChannels, NKV = config.kvHeads, hs = config.headSize, theta = Double(config.ropeTheta!)
            let q = acts[a.qkv], k = q + B * T * C, v = k + B * T * KC
            projectionForward(layer: l, projection: 0, out: q, inp: acts[a.ln1], acts: acts, IC: C, OC: C)
            projectionForward(layer: l, projection: 1, out: k, inp: acts[a.ln1], acts: acts, IC: C, OC: KC)
            projectionForward(layer: l, projection: 2, out: v, inp: acts[a.ln1], acts: acts, IC: C, OC: KC)
            rotaryForward(out: q, inp: q, B: B, T: T, NH: NH, hs: hs, theta: theta)
            rotaryForward(out: k, inp: k, B: B, T: T, NH: NKV, hs: hs, theta: theta)
            groupedQueryAttentionForward(out: acts[a.atty], att: acts[a.att], q: q, k: k, v: v, B: B, T: T, NH: NH, NKV: NKV, hs: hs)
        }
        let o = config.inputProjections
        projectionForward(layer: l, projection: o, out: acts[a.attentionProjection], inp: acts[a.atty], acts: acts, IC: C, OC: C)
    }

    /// Block `layer`'s MLP, from ln2 to fcProjection: GELU or SwiGLU.
    private func mlpForward(layer l: Int, acts: Activations) {
        let a = acts.blocks[l], C = config.channels, H = config.mlpWidth, N = acts.B * acts.T
        switch config.family {
        case .gpt2:
            projectionForward(layer: l, projection: 2, out: acts[a.fch], inp: acts[a.ln2], acts: acts, IC: C, OC: H)
            geluForward(out: acts[a.fchGelu], inp: acts[a.fch], N: N * H)
            projectionForward(layer: l, projection: 3, out: acts[a.fcProjection], inp: acts[a.fchGelu], acts: acts, IC: H, OC: C)
        case .llama:
            projectionForward(layer: l, projection: 4, out: acts[a.fch], inp: acts[a.ln2], acts: acts, IC: C, OC: H)
            projectionForward(layer: l, projection: 5, out: acts[a.up], inp: acts[a.ln2], acts: acts, IC: C, OC: H)
            swiGLUForward(out: acts[a.fchGelu], gate: acts[a.fch], up: acts[a.up], N: N * H)
            projectionForward(layer: l, projection: 6, out: acts[a.fcProjection], inp: acts[a.fchGelu], acts: acts, IC: H, OC: C)
        }
    }

    /// Backward of `mlpForward`: dLN (N,C) = the gradient of ln2, given dout (N,C).
    private func mlpBackward(layer l: Int, dout: UnsafeMutablePointer<Float>, acts: Activations) {
        let a = acts.blocks[l], C = config.channels, H = config.mlpWidth, N = acts.B * acts.T
        let dLN = acts[acts.dLN], dFCH = acts[acts.dFCH]
        switch config.family {
        case .gpt2:
            projectionBackward(layer: l, projection: 3, dinp: dFCH, dout: dout, inp: acts[a.fchGelu], acts: acts, IC: H, OC: C)
            geluBackward(dinp: dFCH, inp: acts[a.fch], dout: dFCH, N: N * H)
            projectionBackward(layer: l, projection: 2, dinp: dLN, dout: dFCH, inp: acts[a.ln2], acts: acts, IC: C, OC: H)
        case .llama:
            let dUp = acts[acts.dUp]
            projectionBackward(layer: l, projection: 6, dinp: dFCH, dout: dout, inp: acts[a.fchGelu], acts: acts, IC: H, OC: C)
            // dFCH turns from the gradient of silu(gate) · up into that of the gate, in place.
            swiGLUBackward(dgate: dFCH, dup: dUp, dout: dFCH, gate: acts[a.fch], up: acts[a.up], N: N * H)
            projectionBackward(layer: l, projection: 4, dinp: dLN, dout: dFCH, inp: acts[a.ln2], acts: acts, IC: C, OC: H)
            projectionBackward(layer: l, projection: 5, dinp: dLN, dout: dUp, inp: acts[a.ln2], acts: acts, IC: C, OC: H, accumulate: true)
        }
    }

    /// Backward of `attentionForward`: dLN (N,C) = the gradient of ln1 when
    /// `needsInputGradient`, given dout (N,C) of the attention projection.
    private func attentionBackward(layer l: Int, dout: UnsafeMutablePointer<Float>, needsInputGradient: Bool, acts: Activations) {
        let a = acts.blocks[l], C = config.channels, NH = config.heads, B = acts.B, T = acts.T
        let dLN = needsInputGradient ? acts[acts.dLN] : nil, dAtty = acts[acts.dAtty], dQKV = acts[acts.dQKV]
        let o = config.inputProjections
        projectionBackward(layer: l, projection: o, dinp: dAtty, dout: dout, inp: acts[a.atty], acts: acts, IC: C, OC: C)
        switch config.family {
        case .gpt2:
            Learning.attentionBackward(dqkv: dQKV, dout: dAtty, qkv: acts[a.qkv], att: acts[a.att], B: B, T: T, C: C, NH: NH)
            projectionBackward(layer: l, projection: 0, dinp: dLN, dout: dQKV, inp: acts[a.ln1], acts: acts, IC: C, OC: 3 * C)
        case .llama:
            let KC = config.kvChannels, NKV = config.kvHeads, hs = config.headSize, theta = Double(config.ropeTheta!), N = B * T
            let q = acts[a.qkv], k = q + N * C, v = k + N * KC
            let dq = dQKV, dk = dq + N * C, dv = dk + N * KC
            groupedQueryAttentionBackward(dq: dq, dk: dk, dv: dv, dout: dAtty, q: q, k: k, v: v, att: acts[a.att],
                                          B: B, T: T, NH: NH, NKV: NKV, hs: hs)
            rotaryBackward(dinp: dq, dout: dq, B: B, T: T, NH: NH, hs: hs, theta: theta)
            rotaryBackward(dinp: dk, dout: dk, B: B, T: T, NH: NKV, hs: hs, theta: theta)
            projectionBackward(layer: l, projection: 0, dinp: dLN, dout: dq, inp: acts[a.ln1], acts: acts, IC: C, OC: C)
            projectionBackward(layer: l, projection: 1, dinp: dLN, dout: dk, inp: acts[a.ln1], acts: acts, IC: C, OC: KC, accumulate: true)
            projectionBackward(layer: l, projection: 2, dinp: dLN, dout: dv, inp: acts[a.ln1], acts: acts, IC: C, OC: KC, accumulate: true)
        }
    }

    /// out = inp · W + b, plus the branch of every active slot on that projection.
    private func projectionForward(
        layer: Int, projection: Int, out: UnsafeMutablePointer<Float>, inp: UnsafeMutablePointer<Float>,
        acts: Activations, IC: Int, OC: Int
    ) {
        let N = acts.B * acts.T, w = parameterLayout.blocks[layer]
        let bias = w.biases[projection]
        let weight = parameters[w.weights[projection]], b = bias >= 0 ? parameters[bias] : nil
        switch config.family {
        case .gpt2: matmulForward(out: out, inp: inp, weight: weight, bias: b, N: N, IC: IC, OC: OC)
        case .llama: linearForward(out: out, inp: inp, weight: weight, bias: b, N: N, IC: IC, OC: OC)
        }
        for (k, slot) in slots.enumerated() where activeSlots.contains(slot.name) {
            guard let entry = slot.layout.slot(layer: layer, projection: projection) else { continue }
            let h = acts[acts.loraH(slot: k, layer: layer, projection: projection)], r = slot.lora.rank
            if let stacked = candidateRows, stacked.slot == slot.name {
                // Each candidate's branch on its own rows; the base product above was shared.
                let n = N / stacked.groups
                for g in 0..<stacked.groups {
                    let values = stacked.values(g)
                    loraForward(out: out + g * n * OC, h: h + g * n * r, xd: acts[acts.loraXD], inp: inp + g * n * IC,
                                A: values + entry.a, B: values + entry.b, N: n, IN: IC, OUT: OC, r: r, scale: scale(of: slot), mask: nil)
                }
                continue
            }
            loraForward(out: out, h: h, xd: acts[acts.loraXD],
                        inp: inp, A: slot.values[entry.a], B: slot.values[entry.b], N: N, IN: IC, OUT: OC, r: r,
                        scale: scale(of: slot), mask: dropoutMask(slot: k, layer: layer, projection: projection))
        }
    }

    /// The factor a slot's branch is scaled by: alpha / r times its scale factor.
    private func scale(of slot: AdapterSlot) -> Float { slot.lora.scale * (slotScaleFactors[slot.name] ?? 1) }

    /// The dropout mask of the last forward for one adapter, nil outside training.
    private func dropoutMask(slot k: Int, layer: Int, projection: Int) -> DropoutMask? {
        let lora = slots[k].lora
        guard lastForwardTrained, lora.dropout > 0 else { return nil }
        let stream = dropoutPosition << 20 | UInt64(k) << 16 | UInt64(layer) << 4 | UInt64(projection)
        return DropoutMask(seed: seed, stream: stream, keep: 1 - lora.dropout)
    }

    private func activations(B: Int, T: Int, training: Bool) -> Activations {
        // Only the last pass's buffers are ever read again: a training pass frees the
        // forward-only ones, so the two never take memory at once.
        forwardOnlyActivations = nil
        lastActivations = nil
        let recompute = recomputesBlocks(B: B, T: T)
        // A training pass that recomputes its blocks also remakes its logits in backward,
        // a bounded run of rows at a time (80 rows at GPT-2's vocabulary), as `backward()`
        // alone consumes them; any other pass keeps all of them.
        let logitRows = recompute && training ? min(B * T, scoringLogitRows) : B * T
        if let acts = activations, acts.B == B, acts.T == T, acts.recomputesBlocks == recompute, acts.logitRows == logitRows { return acts }
        activations = nil  // free the old buffers before allocating new ones
        let acts = Activations(config: config, slots: slots.map(\.layout), ranks: slots.map(\.lora.rank), B: B, T: T,
                               logitRows: logitRows, recomputesBlocks: recompute)
        activations = acts
        return acts
    }

    /// Frees every pass's buffers (the training pass's kept activations, the forward-only
    /// pass's scratch); the next pass of either kind allocates its own again. What the
    /// last forward left for `backward()` or `withLogits` goes with them.
    public func releasePassBuffers() {
        activations = nil
        forwardOnlyActivations = nil
        lastActivations = nil
        lastForwardKept = false
    }

    /// Whether a training pass at (B,T) recomputes its blocks in backward: when only
    /// adapter slots train (no base group, no bottleneck) and keeping everything would
    /// take more than `activationBudgetBytes` (at GPT-2 124M, batch 4 × 64: 231 MB,
    /// against a budget of a quarter of its 498 MB of weights).
    public func recomputesBlocks(B: Int, T: Int) -> Bool {
        if !bottlenecks.isEmpty || embeddingsTrain || baseTrains.contains(true) { return false }
        guard let activationBudgetBytes else { return false }
        return keptActivationBytes(B: B, T: T) > activationBudgetBytes
    }

    /// Bytes of the tensors a training pass at (B,T) that keeps everything holds for
    /// backward: every block's and all B·T rows of logits (LoRA h, the norms of the
    /// output and the backward scratch, each at most a few (N,C), left out).
    public func keptActivationBytes(B: Int, T: Int) -> Int {
        4 * (config.layers * Activations.blockFloats(config: config, B: B, T: T) + B * T * config.vocabularySize)
    }

    /// An activation budget of `fraction` of the base's f32 weight bytes, and never
    /// below 64 MiB, where recomputing would save too little to be worth its time.
    public func activationBudget(fractionOfWeights fraction: Double) -> Int {
        max(Int(fraction * Double(4 * parameterLayout.count)), 64 << 20)
    }

    /// Runs block `l`'s forward again over the shared block tensors, from its input
    /// (kept) to fcProjection: the same kernels in the same order as `run`, so the
    /// tensors and LoRA h are the first forward's bit for bit, dropout masks included.
    private func recomputeBlock(_ l: Int, acts: Activations) {
        let N = acts.B * acts.T, C = config.channels, w = parameterLayout.blocks[l], a = acts.blocks[l]
        let residual = l == 0 ? acts[acts.encoded] : acts[acts.blocks[l - 1].residual3]
        normForward(out: a.ln1, mean: a.ln1Mean, rstd: a.ln1Rstd, inp: residual, weight: w.ln1Weight, bias: w.ln1Bias, acts: acts)
        attentionForward(layer: l, acts: acts)
        residualForward(out: acts[a.residual2], a: residual, b: acts[a.attentionProjection], N: N * C)
        normForward(out: a.ln2, mean: a.ln2Mean, rstd: a.ln2Rstd, inp: acts[a.residual2], weight: w.ln2Weight, bias: w.ln2Bias, acts: acts)
        mlpForward(layer: l, acts: acts)
    }

    // MARK: - Backward

    /// Accumulates into the trainable gradients the gradient of `lossScale` times the
    /// mean loss of the last forward (which must have had targets). Gradient
    /// accumulation over k micro-batches passes lossScale = 1/k. Runs once per forward.
    /// With `rowWeights` (B·T) the loss is lossScale · Σ_rows w_row · CE_row instead of
    /// the mean: a policy gradient weighs each token by its own coefficient.
    public func backward(lossScale: Float = 1, rowWeights: [Float]? = nil) {
        guard let acts = activations, let targets else { preconditionFailure("backward needs a forward with targets") }
        let N = acts.B * acts.T, V = config.vocabularySize
        precondition(rowWeights.map { $0.count == N } ?? true, "row weights must hold B·T values")
        let dloss = rowWeights != nil ? lossScale : targetCount > 0 ? lossScale / Float(targetCount) : 0
        backpropagate(rowsGradient: { dLogits, rows in
            // dLogits holds the logits of `rows`; its row 0 is rows.lowerBound.
            targets.withUnsafeBufferPointer { t in
                crossEntropyBackward(dlogits: dLogits, logits: dLogits, logsumexp: acts[acts.logsumexp] + rows.lowerBound,
                                     targets: t.baseAddress! + rows.lowerBound, dloss: dloss, rows: 0..<rows.count, V: V)
            }
            if let rowWeights {
                for row in rows {
                    let d = dLogits + (row - rows.lowerBound) * V, w = rowWeights[row]
                    for i in 0..<V { d[i] *= w }
                }
            }
        })
    }

    /// Backward of the last forward from any loss on its outputs: `logitsGradient`
    /// turns the (N,V) logits, in place, into the loss's gradient with respect to
    /// them; `streamGradient`, when given, adds the loss's gradient with respect to
    /// the output of the block at position `layer` (N,C) to what flows down from above.
    ///
    /// The `rowsGradient` form below does the same for a run of rows at a time (their
    /// logits, the rows): the only form a pass that kept only some rows' logits takes.
    func backpropagate(
        logitsGradient: (UnsafeMutablePointer<Float>) -> Void,
        streamGradient: (layer: Int, add: (UnsafeMutablePointer<Float>) -> Void)? = nil
    ) {
        precondition((activations?.logitRows ?? 0) >= (activations.map { $0.B * $0.T } ?? 0),
                     "backward of a pass that kept only some rows' logits needs rowsGradient")
        backpropagate(rowsGradient: { dLogits, _ in logitsGradient(dLogits) }, streamGradient: streamGradient)
    }

    func backpropagate(
        rowsGradient: (UnsafeMutablePointer<Float>, Range<Int>) -> Void,
        streamGradient: (layer: Int, add: (UnsafeMutablePointer<Float>) -> Void)? = nil
    ) {
        guard let acts = activations else { preconditionFailure("backward needs a forward") }
        precondition(lastForwardKept, "backward after a forward-only pass")
        precondition(!logitsHoldGradient, "backward twice after one forward")
        precondition(!trainableGroups.isEmpty, "backward with nothing to train")
        let C = config.channels, V = config.vocabularySize
        let B = acts.B, T = acts.T, N = B * T
        let p = parameters, layout = parameterLayout
        let gEmbed = embeddingsTrain ? parameterGradients : nil
        let lowest = lowestTrainedLayer

        // Output layer, in place over the logits as llm.c does (a second (N,V) buffer
        // would cost 200 MB at GPT-2's vocabulary, and chunking it slows the products):
        // dlogits = dloss · (softmax - onehot) for cross-entropy; dlnf = dlogits · W;
        // dW += dlogitsᵀ · lnf, W the embedding when tied, else lm_head.
        let dLNF = acts[acts.dLN], dLogits = acts[acts.logits]
        if acts.logitRows < N {
            // Only the last run of logits is held: remake each run as the forward made it.
            var start = 0
            while start < N {
                let rows = min(acts.logitRows, N - start)
                sgemm(transposeA: false, transposeB: true, m: rows, n: V, k: C, a: acts[acts.lnf] + start * C, lda: C, b: p[layout.output],
                      ldb: C, beta: 0, c: dLogits, ldc: V)
                rowsGradient(dLogits, start..<(start + rows))
                sgemm(transposeA: false, transposeB: false, m: rows, n: C, k: V, a: dLogits, lda: V, b: p[layout.output], ldb: C,
                      beta: 0, c: dLNF + start * C, ldc: C)
                start += rows
            }
        } else {
            rowsGradient(dLogits, 0..<N)
            sgemm(transposeA: false, transposeB: false, m: N, n: C, k: V, a: dLogits, lda: V, b: p[layout.output], ldb: C,
                  beta: 0, c: dLNF, ldc: C)
        }
        logitsHoldGradient = true
        if let g = gEmbed {
            precondition(acts.logitRows >= N, "the embeddings' gradient needs every row's logits")
            sgemm(transposeA: true, transposeB: false, m: V, n: C, k: N, a: dLogits, lda: V, b: acts[acts.lnf], ldb: C,
                  beta: 1, c: g[layout.output], ldc: C)
        }
        let lastResidual = acts[acts.blocks[config.layers - 1].residual3]
        // dStream holds the gradient of the current block's output.
        let dResidual = acts[acts.dStream], dResidual2 = acts[acts.dStream2]
        dResidual.update(repeating: 0, count: N * C)
        normBackward(dinp: dResidual, g: gEmbed, dout: dLNF, inp: lastResidual, mean: acts.lnfMean, rstd: acts.lnfRstd,
                     weight: layout.lnfWeight, bias: layout.lnfBias, acts: acts)

        let dBranch = acts[acts.dBranch], dLN = acts[acts.dLN]
        for l in stride(from: config.layers - 1, through: max(0, lowest), by: -1) {
            let w = layout.blocks[l], a = acts.blocks[l]
            let g = baseTrains[l] ? parameterGradients : nil
            let residual = l == 0 ? acts[acts.encoded] : acts[acts.blocks[l - 1].residual3]
            // Below the lowest trained block nothing needs a gradient.
            let needsInputGradient = lowest < l || g != nil
            if let streamGradient, streamGradient.layer == l { streamGradient.add(dResidual) }
            backpropagateBottlenecks(layer: l, dStream: dResidual, N: N)
            // The shared tensors still hold the top block from the forward pass.
            if acts.recomputesBlocks && l < config.layers - 1 { recomputeBlock(l, acts: acts) }

            // residual3 = residual2 + fcProjection
            dResidual2.update(repeating: 0, count: N * C)
            dBranch.update(repeating: 0, count: N * C)
            residualBackward(da: dResidual2, db: dBranch, dout: dResidual, N: N * C)
            mlpBackward(layer: l, dout: dBranch, acts: acts)
            normBackward(dinp: dResidual2, g: g, dout: dLN, inp: acts[a.residual2], mean: a.ln2Mean, rstd: a.ln2Rstd,
                         weight: w.ln2Weight, bias: w.ln2Bias, acts: acts)

            // residual2 = residual + attentionProjection
            dResidual.update(repeating: 0, count: N * C)
            dBranch.update(repeating: 0, count: N * C)
            residualBackward(da: dResidual, db: dBranch, dout: dResidual2, N: N * C)
            attentionBackward(layer: l, dout: dBranch, needsInputGradient: needsInputGradient, acts: acts)
            if needsInputGradient {
                normBackward(dinp: dResidual, g: g, dout: dLN, inp: residual, mean: a.ln1Mean, rstd: a.ln1Rstd,
                             weight: w.ln1Weight, bias: w.ln1Bias, acts: acts)
            }
            // dResidual now holds the gradient of this block's input: the next block down's output.
        }
        if let g = gEmbed {
            inputs.withUnsafeBufferPointer { tokens in
                if layout.wpe >= 0 {
                    encoderBackward(dwte: g[layout.wte], dwpe: g[layout.wpe], dout: dResidual, tokens: tokens.baseAddress!, B: B, T: T, C: C)
                } else {
                    embeddingBackward(dwte: g[layout.wte], dout: dResidual, tokens: tokens.baseAddress!, N: N, C: C)
                }
            }
        }
    }

    /// Backward of `projectionForward`: dinp (overwritten) through the base and every
    /// active slot's branch; base weight gradients when the block trains, A and B
    /// gradients for the slots that train.
    private func projectionBackward(
        layer: Int, projection: Int, dinp: UnsafeMutablePointer<Float>?, dout: UnsafeMutablePointer<Float>,
        inp: UnsafeMutablePointer<Float>, acts: Activations, IC: Int, OC: Int, accumulate: Bool = false
    ) {
        let N = acts.B * acts.T, w = parameterLayout.blocks[layer]
        let g = baseTrains[layer] ? parameterGradients : nil
        let bias = w.biases[projection]
        let dweight = g?[w.weights[projection]], dbias = bias >= 0 ? g?[bias] : nil, weight = parameters[w.weights[projection]]
        switch config.family {
        case .gpt2:
            precondition(!accumulate, "GPT-2's projections each read their own input")
            matmulBackward(dinp: dinp, dweight: dweight, dbias: dbias, dout: dout, inp: inp, weight: weight, N: N, IC: IC, OC: OC)
        case .llama:
            linearBackward(dinp: dinp, dweight: dweight, dbias: dbias, dout: dout, inp: inp, weight: weight, N: N, IC: IC, OC: OC,
                           accumulate: accumulate)
        }
        for (k, slot) in slots.enumerated() where activeSlots.contains(slot.name) {
            guard let entry = slot.layout.slot(layer: layer, projection: projection) else { continue }
            let grads = trains(slot) ? slot.gradients : nil
            if grads == nil && dinp == nil { continue }
            loraBackward(dinp: dinp, dA: grads?[entry.a], dB: grads?[entry.b], dout: dout, inp: inp,
                         h: acts[acts.loraH(slot: k, layer: layer, projection: projection)],
                         A: slot.values[entry.a], B: slot.values[entry.b], xd: acts[acts.loraXD], dh: acts[acts.loraDH],
                         N: N, IN: IC, OUT: OC, r: slot.lora.rank, scale: scale(of: slot),
                         mask: dropoutMask(slot: k, layer: layer, projection: projection))
        }
    }

    // MARK: - Trainable parameters

    /// Sets every trainable gradient to zero.
    public func zeroGradients() {
        for group in trainableGroups {
            for segment in groupSegments(group) { segment.gradients.update(repeating: 0, count: segment.count) }
        }
    }

    /// The Euclidean norm of all trainable gradients together.
    public func gradientNorm() -> Float {
        var sum: Double = 0
        for group in trainableGroups {
            for segment in groupSegments(group) {
                for i in 0..<segment.count { sum += Double(segment.gradients[i]) * Double(segment.gradients[i]) }
            }
        }
        return Float(sum.squareRoot())
    }

}

extension TransformerModel {
    /// Floating-point operations of the matrix products of one forward and backward
    /// pass at (B,T), counted as this model computes them: weight-gradient products
    /// only for what trains, no input gradient below the lowest trained block;
    /// attention over its causal blocks (5/8 of T×T when T ≥ 4). Elementwise kernels
    /// (LayerNorm, GELU, softmax) are not counted.
    public func trainingFLOPs(batchSize B: Int, sequenceLength T: Int) -> Double {
        let C = Double(config.channels), V = Double(config.vocabularySize)
        let N = Double(B * T), b = Double(B)
        let lowest = lowestTrainedLayer
        // Per layer, forward: q·kᵀ and att·v over the causal blocks' (query, key) pairs.
        let pairs = Double(causalBlocks(T).reduce(0) { $0 + $1.count * $1.upperBound })
        let attention = 4 * b * pairs * C
        var forward = 2 * N * C * V
        var backward = 2 * N * C * V + (embeddingsTrain ? 2 * N * C * V : 0)
        for l in 0..<config.layers {
            forward += attention
            if l >= lowest { backward += 2 * attention }
            for (p, projection) in config.projections.enumerated() {
                let product = 2 * N * Double(projection.inFeatures) * Double(projection.outFeatures)
                forward += product
                guard l >= max(0, lowest) else { continue }
                // Input gradient, except block 0's qkv when nothing below trains.
                if !(p < config.inputProjections && l <= lowest && !baseTrains[l]) { backward += product }
                if baseTrains[l] { backward += product }
            }
        }
        for slot in slots where activeSlots.contains(slot.name) {
            let r = Double(slot.lora.rank)
            for entry in slot.layout.slots {
                let i = Double(entry.inFeatures), o = Double(entry.outFeatures)
                forward += 2 * N * r * (i + o)
                guard entry.layer >= max(0, lowest) else { continue }
                backward += 2 * N * r * o  // dh
                if trains(slot) { backward += 2 * N * r * o + 2 * N * r * i }  // dB, dA
                let projection = config.projections.firstIndex { $0.target == entry.target }!
                if !(projection < config.inputProjections && entry.layer <= lowest && !baseTrains[entry.layer]) { backward += 2 * N * r * i }  // dx
            }
        }
        return forward + backward
    }
}
