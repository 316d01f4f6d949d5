// GPT2Model: a GPT-2-family transformer with optional LoRA, trained on the CPU.
//
// Parameters live in one flat buffer laid out and named as Hugging Face's GPT-2, so
// a checkpoint loads by name. Activations live in another, sized for (B,T) and kept
// for backward. Every matrix product goes through cblas_sgemm.
//
// Two modes:
//   .lora  base frozen; only the LoRA A and B train. Backward carries input gradients
//          through the base but computes no base weight gradient (none is allocated).
//   .full  every base parameter trains and there is no LoRA (pretraining a small base).

import Foundation

/// What a `GPT2Model` trains.
public enum TrainingMode: Sendable, Equatable {
    /// Only the LoRA adapters train; the base is frozen.
    case lora
    /// Every base parameter trains; there is no adapter.
    case full
}

/// Errors of loading parameters or adapters into a model.
public enum GPT2Error: Error, Equatable, CustomStringConvertible {
    /// A tensor the model needs is not in the checkpoint.
    case missingTensor(name: String)
    /// A tensor has the wrong shape.
    case shapeMismatch(name: String, expected: [Int], found: [Int])
    /// The model has no LoRA (it was made in `.full` mode).
    case noAdapter
    /// An adapter's configuration or tensors do not match the model's LoRA layout.
    case adapterMismatch(String)

    public var description: String {
        switch self {
        case .missingTensor(let name): "missing tensor \(name)"
        case .shapeMismatch(let name, let expected, let found): "tensor \(name) has shape \(found), expected \(expected)"
        case .noAdapter: "the model has no LoRA adapter"
        case .adapterMismatch(let why): "adapter does not match the model: \(why)"
        }
    }
}

/// A GPT-2 transformer (LayerNorm, GELU, learned positions, output tied to `wte`) with
/// LoRA on chosen projections.
///
/// ```swift
/// let model = GPT2Model(config: .tiny, lora: LoRAConfig(rank: 4), seed: 1)
/// let loss = model.forward(inputs: x, targets: y, batchSize: 4, sequenceLength: 64, training: true)
/// model.zeroGradients()
/// model.backward()
/// ```
public final class GPT2Model {
    public let config: GPT2Config
    /// The LoRA configuration, nil in `.full` mode.
    public let loraConfig: LoRAConfig?
    public let seed: UInt64

    let parameterLayout: ParameterLayout
    let parameters: FloatBuffer
    /// Base parameter gradients, same layout as `parameters`; only in `.full` mode.
    let parameterGradients: FloatBuffer?
    let loraLayout: LoRALayout?
    let loraParameters: FloatBuffer?
    let loraGradients: FloatBuffer?

    private(set) var activations: Activations?
    private var inputs: [Int32] = []
    private var targets: [Int32]?
    /// Number of positions with a target in the last forward.
    private(set) var targetCount = 0
    /// Counts training forwards; each one draws fresh dropout masks.
    private var dropoutStep: UInt64 = 0
    private var lastForwardTrained = false
    /// Backward turns the logits into their gradient in place.
    private var logitsHoldGradient = false

    /// Makes a model with GPT-2's initialisation drawn from `seed`: weights normal(0, 0.02),
    /// the two residual projections (`c_proj`) normal(0, 0.02 / sqrt(2L)), biases 0,
    /// LayerNorm weights 1. With `lora`, the model is in `.lora` mode: each A is
    /// Kaiming-uniform as PEFT draws it (bound 1 / sqrt(in)), each B is zero, so the
    /// initial model equals the base.
    public convenience init(config: GPT2Config, lora: LoRAConfig?, seed: UInt64) {
        self.init(config: config, lora: lora, seed: seed, randomBase: true)
    }

    /// Makes a model whose base parameters are `parameters` (Hugging Face names, as
    /// `loadParameters` takes them), skipping the random draw of the base; the LoRA A
    /// matrices are still drawn from `seed`.
    /// - Throws: what `loadParameters` throws.
    public convenience init(config: GPT2Config, lora: LoRAConfig?, seed: UInt64, parameters: [String: NamedTensor]) throws {
        self.init(config: config, lora: lora, seed: seed, randomBase: false)
        try loadParameters(parameters)
    }

    private init(config: GPT2Config, lora: LoRAConfig?, seed: UInt64, randomBase: Bool) {
        precondition(lora.map { $0.rank > 0 && !$0.targets.isEmpty && $0.dropout >= 0 && $0.dropout < 1 } ?? true,
                     "LoRA needs a positive rank, at least one target and dropout in [0, 1)")
        self.config = config
        self.loraConfig = lora
        self.seed = seed
        parameterLayout = ParameterLayout(config: config)
        parameters = FloatBuffer(count: parameterLayout.count)
        var random = SeededRandom(seed: seed)
        let residualStd = 0.02 / Float(2 * config.layers).squareRoot()
        for slot in parameterLayout.slots where randomBase {
            let values = UnsafeMutableBufferPointer(start: parameters[slot.offset], count: slot.count)
            if slot.name.hasSuffix("ln_1.weight") || slot.name.hasSuffix("ln_2.weight") || slot.name == "ln_f.weight" {
                values.update(repeating: 1)
            } else if slot.name.hasSuffix(".bias") {
                values.update(repeating: 0)
            } else {
                random.fillNormal(values, std: slot.name.hasSuffix("c_proj.weight") ? residualStd : 0.02)
            }
        }
        if let lora {
            let layout = LoRALayout(config: config, lora: lora)
            loraLayout = layout
            loraParameters = FloatBuffer(count: layout.count)
            loraGradients = FloatBuffer(count: layout.count)
            parameterGradients = nil
            var loraRandom = SeededRandom(seed: SeededRandom.mix(seed ^ 0x4C6F_5241))  // "LoRA"
            for slot in layout.slots {
                let bound = 1 / Float(slot.inFeatures).squareRoot()
                let a = loraParameters![slot.a]
                for i in 0..<(lora.rank * slot.inFeatures) { a[i] = loraRandom.uniform(-bound, bound) }
            }
        } else {
            loraLayout = nil
            loraParameters = nil
            loraGradients = nil
            parameterGradients = FloatBuffer(count: parameterLayout.count)
        }
    }

    public var mode: TrainingMode { loraConfig == nil ? .full : .lora }

    /// Number of base parameters (124,439,808 for GPT-2 small).
    public var parameterCount: Int { parameterLayout.count }

    /// Number of parameters that train: the adapter's in `.lora` mode, the base's in `.full`.
    public var trainableParameterCount: Int { loraLayout?.count ?? parameterLayout.count }

    // MARK: - Forward

    /// Runs the model on `inputs` (B,T) token ids. With `targets` (B,T) it returns the
    /// mean cross-entropy over the positions whose target is not negative (a negative
    /// target marks padding). `training` enables LoRA dropout. Activations are kept for
    /// `backward()` and the logits for `withLogits`.
    @discardableResult
    public func forward(inputs: [Int32], targets: [Int32]?, batchSize B: Int, sequenceLength T: Int, training: Bool) -> Float? {
        let C = config.channels, V = config.vocabularySize, NH = config.heads, N = B * T
        precondition(B > 0 && T > 0 && T <= config.maxSequenceLength, "sequence length \(T) outside 1...\(config.maxSequenceLength)")
        precondition(inputs.count == N, "inputs hold \(inputs.count) ids, expected B·T = \(N)")
        precondition(inputs.allSatisfy { $0 >= 0 && Int($0) < V }, "an input id is outside the vocabulary 0..<\(V)")
        if let targets {
            precondition(targets.count == N, "targets hold \(targets.count) ids, expected B·T = \(N)")
            precondition(targets.allSatisfy { Int($0) < V }, "a target id is outside the vocabulary 0..<\(V)")
        }
        let acts = activations(B: B, T: T)
        self.inputs = inputs
        self.targets = targets
        logitsHoldGradient = false
        if training { dropoutStep &+= 1 }
        lastForwardTrained = training
        let p = parameters, layout = parameterLayout

        inputs.withUnsafeBufferPointer { tokens in
            encoderForward(out: acts[acts.encoded], tokens: tokens.baseAddress!, wte: p[layout.wte], wpe: p[layout.wpe], B: B, T: T, C: C)
        }
        var residual = acts[acts.encoded]
        for l in 0..<config.layers {
            let w = layout.blocks[l], a = acts.blocks[l]
            layerNormForward(out: acts[a.ln1], mean: acts[a.ln1Mean], rstd: acts[a.ln1Rstd], inp: residual,
                             weight: p[w.ln1Weight], bias: p[w.ln1Bias], N: N, C: C)
            projectionForward(layer: l, target: .attentionQKV, out: acts[a.qkv], inp: acts[a.ln1],
                              weight: w.qkvWeight, bias: w.qkvBias, acts: acts, IC: C, OC: 3 * C)
            attentionForward(out: acts[a.atty], att: acts[a.att], qkv: acts[a.qkv], B: B, T: T, C: C, NH: NH)
            projectionForward(layer: l, target: .attentionOutput, out: acts[a.attentionProjection], inp: acts[a.atty],
                              weight: w.attentionProjectionWeight, bias: w.attentionProjectionBias, acts: acts, IC: C, OC: C)
            residualForward(out: acts[a.residual2], a: residual, b: acts[a.attentionProjection], N: N * C)
            layerNormForward(out: acts[a.ln2], mean: acts[a.ln2Mean], rstd: acts[a.ln2Rstd], inp: acts[a.residual2],
                             weight: p[w.ln2Weight], bias: p[w.ln2Bias], N: N, C: C)
            projectionForward(layer: l, target: .mlpIn, out: acts[a.fch], inp: acts[a.ln2],
                              weight: w.fcWeight, bias: w.fcBias, acts: acts, IC: C, OC: 4 * C)
            geluForward(out: acts[a.fchGelu], inp: acts[a.fch], N: N * 4 * C)
            projectionForward(layer: l, target: .mlpOut, out: acts[a.fcProjection], inp: acts[a.fchGelu],
                              weight: w.fcProjectionWeight, bias: w.fcProjectionBias, acts: acts, IC: 4 * C, OC: C)
            residualForward(out: acts[a.residual3], a: acts[a.residual2], b: acts[a.fcProjection], N: N * C)
            residual = acts[a.residual3]
        }
        layerNormForward(out: acts[acts.lnf], mean: acts[acts.lnfMean], rstd: acts[acts.lnfRstd], inp: residual,
                         weight: p[layout.lnfWeight], bias: p[layout.lnfBias], N: N, C: C)
        // logits (N,V) = lnf (N,C) · wteᵀ (C,V): the output layer is tied to the embedding.
        sgemm(transposeA: false, transposeB: true, m: N, n: V, k: C, a: acts[acts.lnf], lda: C, b: p[layout.wte], ldb: C,
              beta: 0, c: acts[acts.logits], ldc: V)

        guard let targets else {
            targetCount = 0
            return nil
        }
        targets.withUnsafeBufferPointer { t in
            crossEntropyForward(losses: acts[acts.losses], logsumexp: acts[acts.logsumexp], logits: acts[acts.logits],
                                targets: t.baseAddress!, N: N, V: V)
        }
        targetCount = targets.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) }
        var sum: Float = 0
        for i in 0..<N { sum += acts[acts.losses][i] }
        return targetCount > 0 ? sum / Float(targetCount) : 0
    }

    /// Calls `body` with the (B,T,V) logits of the last forward. Valid until the next
    /// `backward()`, which overwrites them with their gradient.
    public func withLogits<R>(_ body: (UnsafeBufferPointer<Float>) -> R) -> R {
        guard let acts = activations else { preconditionFailure("withLogits before any forward") }
        precondition(!logitsHoldGradient, "withLogits after backward: the logits now hold their gradient")
        return body(UnsafeBufferPointer(start: acts[acts.logits], count: acts.B * acts.T * config.vocabularySize))
    }

    /// out = inp · W + b, plus the LoRA branch when `target` carries one.
    private func projectionForward(
        layer: Int, target: LoRAConfig.Target, out: UnsafeMutablePointer<Float>, inp: UnsafeMutablePointer<Float>,
        weight: Int, bias: Int, acts: Activations, IC: Int, OC: Int
    ) {
        let N = acts.B * acts.T
        matmulForward(out: out, inp: inp, weight: parameters[weight], bias: parameters[bias], N: N, IC: IC, OC: OC)
        guard let lora = loraConfig, let slot = loraLayout?.slot(layer: layer, target: target), let adapter = loraParameters else { return }
        loraForward(out: out, h: acts[acts.blocks[layer].loraH[targetIndex(target)]], xd: acts[acts.loraXD], inp: inp,
                    A: adapter[slot.a], B: adapter[slot.b], N: N, IN: IC, OUT: OC, r: lora.rank, scale: lora.scale,
                    mask: dropoutMask(layer: layer, target: target))
    }

    /// The dropout mask of the last forward for one adapter, nil outside training.
    private func dropoutMask(layer: Int, target: LoRAConfig.Target) -> DropoutMask? {
        guard lastForwardTrained, let lora = loraConfig, lora.dropout > 0 else { return nil }
        let stream = dropoutStep << 20 | UInt64(layer) << 4 | UInt64(targetIndex(target))
        return DropoutMask(seed: seed, stream: stream, keep: 1 - lora.dropout)
    }

    private func targetIndex(_ target: LoRAConfig.Target) -> Int {
        LoRAConfig.Target.allCases.firstIndex(of: target)!
    }

    private func activations(B: Int, T: Int) -> Activations {
        if let acts = activations, acts.B == B, acts.T == T { return acts }
        activations = nil  // free the old buffers before allocating new ones
        let acts = Activations(config: config, rank: loraConfig?.rank ?? 0, B: B, T: T)
        activations = acts
        return acts
    }

    // MARK: - Backward

    /// Accumulates into the trainable gradients the gradient of `lossScale` times the
    /// mean loss of the last forward (which must have had targets). Gradient
    /// accumulation over k micro-batches passes lossScale = 1/k. Runs once per forward.
    public func backward(lossScale: Float = 1) {
        guard let acts = activations, let targets else { preconditionFailure("backward needs a forward with targets") }
        precondition(!logitsHoldGradient, "backward twice after one forward")
        let C = config.channels, V = config.vocabularySize, NH = config.heads
        let B = acts.B, T = acts.T, N = B * T
        let p = parameters, layout = parameterLayout, g = parameterGradients
        let full = mode == .full
        let dloss = targetCount > 0 ? lossScale / Float(targetCount) : 0

        // Output layer, in place over the logits as llm.c does (a second (N,V) buffer
        // would cost 200 MB at GPT-2's vocabulary, and chunking it slows the products):
        // dlogits = dloss · (softmax - onehot); dlnf = dlogits · wte; dwte += dlogitsᵀ · lnf.
        let dLNF = acts[acts.dLN], dLogits = acts[acts.logits]
        targets.withUnsafeBufferPointer { t in
            crossEntropyBackward(dlogits: dLogits, logits: dLogits, logsumexp: acts[acts.logsumexp],
                                 targets: t.baseAddress!, dloss: dloss, rows: 0..<N, V: V)
        }
        logitsHoldGradient = true
        sgemm(transposeA: false, transposeB: false, m: N, n: C, k: V, a: dLogits, lda: V, b: p[layout.wte], ldb: C,
              beta: 0, c: dLNF, ldc: C)
        if let g {
            sgemm(transposeA: true, transposeB: false, m: V, n: C, k: N, a: dLogits, lda: V, b: acts[acts.lnf], ldb: C,
                  beta: 1, c: g[layout.wte], ldc: C)
        }
        let lastResidual = acts[acts.blocks[config.layers - 1].residual3]
        // dStream holds the gradient of the current block's output.
        let dResidual = acts[acts.dStream], dResidual2 = acts[acts.dStream2]
        dResidual.update(repeating: 0, count: N * C)
        layerNormBackward(dinp: dResidual, dweight: g?[layout.lnfWeight], dbias: g?[layout.lnfBias], dout: dLNF,
                          inp: lastResidual, weight: p[layout.lnfWeight], mean: acts[acts.lnfMean], rstd: acts[acts.lnfRstd], N: N, C: C)

        let dBranch = acts[acts.dBranch], dLN = acts[acts.dLN], dAtty = acts[acts.dAtty]
        let dQKV = acts[acts.dQKV], dFCH = acts[acts.dFCH]
        for l in stride(from: config.layers - 1, through: 0, by: -1) {
            let w = layout.blocks[l], a = acts.blocks[l]
            let residual = l == 0 ? acts[acts.encoded] : acts[acts.blocks[l - 1].residual3]
            // Below block 0 only the embeddings remain, frozen in .lora mode.
            let needsInputGradient = full || l > 0

            // residual3 = residual2 + fcProjection
            dResidual2.update(repeating: 0, count: N * C)
            dBranch.update(repeating: 0, count: N * C)
            residualBackward(da: dResidual2, db: dBranch, dout: dResidual, N: N * C)
            projectionBackward(layer: l, target: .mlpOut, dinp: dFCH, dout: dBranch, inp: acts[a.fchGelu],
                               weight: w.fcProjectionWeight, bias: w.fcProjectionBias, acts: acts, IC: 4 * C, OC: C)
            geluBackward(dinp: dFCH, inp: acts[a.fch], dout: dFCH, N: N * 4 * C)
            projectionBackward(layer: l, target: .mlpIn, dinp: dLN, dout: dFCH, inp: acts[a.ln2],
                               weight: w.fcWeight, bias: w.fcBias, acts: acts, IC: C, OC: 4 * C)
            layerNormBackward(dinp: dResidual2, dweight: g?[w.ln2Weight], dbias: g?[w.ln2Bias], dout: dLN,
                              inp: acts[a.residual2], weight: p[w.ln2Weight], mean: acts[a.ln2Mean], rstd: acts[a.ln2Rstd], N: N, C: C)

            // residual2 = residual + attentionProjection
            dResidual.update(repeating: 0, count: N * C)
            dBranch.update(repeating: 0, count: N * C)
            residualBackward(da: dResidual, db: dBranch, dout: dResidual2, N: N * C)
            projectionBackward(layer: l, target: .attentionOutput, dinp: dAtty, dout: dBranch, inp: acts[a.atty],
                               weight: w.attentionProjectionWeight, bias: w.attentionProjectionBias, acts: acts, IC: C, OC: C)
            attentionBackward(dqkv: dQKV, dout: dAtty, qkv: acts[a.qkv], att: acts[a.att], B: B, T: T, C: C, NH: NH)
            projectionBackward(layer: l, target: .attentionQKV, dinp: needsInputGradient ? dLN : nil, dout: dQKV, inp: acts[a.ln1],
                               weight: w.qkvWeight, bias: w.qkvBias, acts: acts, IC: C, OC: 3 * C)
            if needsInputGradient {
                layerNormBackward(dinp: dResidual, dweight: g?[w.ln1Weight], dbias: g?[w.ln1Bias], dout: dLN,
                                  inp: residual, weight: p[w.ln1Weight], mean: acts[a.ln1Mean], rstd: acts[a.ln1Rstd], N: N, C: C)
            }
            // dResidual now holds the gradient of this block's input: the next block down's output.
        }
        if let g {
            inputs.withUnsafeBufferPointer { tokens in
                encoderBackward(dwte: g[layout.wte], dwpe: g[layout.wpe], dout: dResidual, tokens: tokens.baseAddress!, B: B, T: T, C: C)
            }
        }
    }

    /// Backward of `projectionForward`: dinp (overwritten) through the base and the LoRA
    /// branch; base weight gradients only in `.full` mode, A and B gradients in `.lora`.
    private func projectionBackward(
        layer: Int, target: LoRAConfig.Target, dinp: UnsafeMutablePointer<Float>?, dout: UnsafeMutablePointer<Float>,
        inp: UnsafeMutablePointer<Float>, weight: Int, bias: Int, acts: Activations, IC: Int, OC: Int
    ) {
        let N = acts.B * acts.T
        let g = parameterGradients
        matmulBackward(dinp: dinp, dweight: g?[weight], dbias: g?[bias], dout: dout, inp: inp, weight: parameters[weight], N: N, IC: IC, OC: OC)
        guard let lora = loraConfig, let slot = loraLayout?.slot(layer: layer, target: target),
              let adapter = loraParameters, let grads = loraGradients else { return }
        loraBackward(dinp: dinp, dA: grads[slot.a], dB: grads[slot.b], dout: dout, inp: inp,
                     h: acts[acts.blocks[layer].loraH[targetIndex(target)]], A: adapter[slot.a], B: adapter[slot.b],
                     xd: acts[acts.loraXD], dh: acts[acts.loraDH], N: N, IN: IC, OUT: OC, r: lora.rank, scale: lora.scale,
                     mask: dropoutMask(layer: layer, target: target))
    }

    // MARK: - Trainable parameters

    /// The values that train (the adapter in `.lora` mode, the base in `.full`).
    var trainableValues: FloatBuffer { loraParameters ?? parameters }
    /// Their gradients, same layout.
    var trainableGradients: FloatBuffer { loraGradients ?? parameterGradients! }

    /// Sets every trainable gradient to zero.
    public func zeroGradients() { trainableGradients.zero() }

    /// The Euclidean norm of all trainable gradients together.
    public func gradientNorm() -> Float {
        let g = trainableGradients
        var sum: Double = 0
        for i in 0..<g.count { sum += Double(g.pointer[i]) * Double(g.pointer[i]) }
        return Float(sum.squareRoot())
    }

    // MARK: - Evaluation

    /// The mean loss over every target position of `batches` (no dropout, no gradients).
    public func evaluateLoss(batches: [TokenBatch]) -> Float {
        var total: Double = 0
        var count = 0
        for batch in batches {
            guard let loss = forward(inputs: batch.inputs, targets: batch.targets, batchSize: batch.batchSize,
                                     sequenceLength: batch.sequenceLength, training: false) else { continue }
            total += Double(loss) * Double(targetCount)
            count += targetCount
        }
        return count > 0 ? Float(total / Double(count)) : 0
    }
}

extension GPT2Model {
    /// Floating-point operations of the matrix products of one forward and backward
    /// pass at (B,T), counted as this model computes them: in `.lora` mode no base
    /// weight-gradient product and no input gradient below block 0; attention over
    /// its causal blocks (5/8 of T×T when T ≥ 4). Elementwise kernels
    /// (LayerNorm, GELU, softmax) are not counted.
    public func trainingFLOPs(batchSize B: Int, sequenceLength T: Int) -> Double {
        let C = Double(config.channels), V = Double(config.vocabularySize), L = Double(config.layers)
        let N = Double(B * T), b = Double(B)
        let full = mode == .full
        let projections = 24 * N * C * C  // qkv 3C² + proj C² + fc 4C² + fcproj 4C², times 2
        // Per layer, forward: q·kᵀ and att·v over the causal blocks' (query, key) pairs.
        let pairs = Double(causalBlocks(T).reduce(0) { $0 + $1.count * $1.upperBound })
        let attention = 4 * b * pairs * C
        var forward = L * (projections + attention) + 2 * N * C * V
        var backward = 2 * N * C * V + L * (projections + 2 * attention)
        if full {
            backward += 2 * N * C * V + L * projections  // dwte and every dW
        } else {
            backward -= 6 * N * C * C  // block 0's qkv input gradient is skipped
        }
        if let lora = loraConfig, let layout = loraLayout {
            let r = Double(lora.rank)
            for slot in layout.slots {
                let i = Double(slot.inFeatures), o = Double(slot.outFeatures)
                forward += 2 * N * r * (i + o)
                backward += 4 * N * r * o + 2 * N * r * i  // dB, dh, dA
                if slot.layer > 0 || slot.target != .attentionQKV { backward += 2 * N * r * i }  // dx
            }
        }
        return forward + backward
    }
}
