// IncrementalDecoder: the forward pass over new positions only, reading the keys and
// values of earlier positions from a KVCache. Forward-only: nothing is kept for
// backward, no dropout, and the model's training activations are left untouched.
//
// It runs the same per-layer kernels as the training forward (norms, projections
// with every active LoRA slot, GELU / SwiGLU, bottleneck adapters, the output layer);
// only attention and positions differ: a query at position t reads the cached keys
// 0...t, GPT-2 adds the learned position row t, Llama rotates q and k by angle t
// (the same `rotaryTable` angles the training forward uses) and reads kv head
// h / (NH / NKV). So its logits equal the full forward's up to float rounding.

import Foundation

/// Runs a model forward over a batch of sequences one chunk of positions at a time.
///
/// ```swift
/// let decoder = IncrementalDecoder(model: model, rows: 4, capacity: 64)
/// var logits = decoder.prefill(prompt)              // (4, V), the prompt run once
/// logits = decoder.forward(tokens: next, rows: 4)   // (4, V), one new position each
/// ```
public final class IncrementalDecoder {
    public let model: TransformerModel
    public let cache: KVCache
    private var scratch: Scratch?

    /// A decoder for `rows` sequences of up to `capacity` positions (at most the context).
    public init(model: TransformerModel, rows: Int, capacity: Int) {
        precondition(rows >= 1, "a decoder needs at least one row")
        precondition(capacity >= 1 && capacity <= model.config.maxSequenceLength,
                     "cache capacity \(capacity) outside 1...\(model.config.maxSequenceLength)")
        self.model = model
        cache = KVCache(rows: rows, capacity: capacity, layers: model.config.layers, width: model.config.kvChannels)
    }

    /// Resets the cache and runs `prompt` once for every row: the logits (rows, V) of
    /// its last position, the same for each row.
    public func prefill(_ prompt: [Int32]) -> [Float] {
        cache.reset()
        let first = forward(tokens: prompt, rows: 1)
        cache.replicateFirstRow()
        return Array([[Float]](repeating: first, count: cache.rows).joined())
    }

    /// Runs `tokens` (R, n) — n new positions for each of rows 0..<R of the cache, at
    /// positions length..<length+n — and appends their keys and values. Rows R and up
    /// are left as they were (`prefill` copies row 0 into them). Returns the logits of
    /// each row's last new position (R, V), or of every new position (R, n, V) when
    /// `allPositions`.
    public func forward(tokens: [Int32], rows R: Int, allPositions: Bool = false) -> [Float] {
        let config = model.config, V = config.vocabularySize, C = config.channels
        precondition(R >= 1 && R <= cache.rows, "rows \(R) outside 1...\(cache.rows)")
        precondition(!tokens.isEmpty && tokens.count % R == 0, "tokens hold \(tokens.count) ids, not a multiple of \(R) rows")
        let n = tokens.count / R, t0 = cache.length, N = R * n
        precondition(t0 + n <= cache.capacity, "\(t0 + n) positions do not fit a cache of \(cache.capacity)")
        precondition(tokens.allSatisfy { $0 >= 0 && Int($0) < V }, "a token id is outside the vocabulary 0..<\(V)")
        let s = scratch(rows: N, positions: n, total: t0 + n)
        let p = model.parameters, layout = model.parameterLayout

        // Embedding: wte[token] (+ wpe[position] for GPT-2).
        for r in 0..<N {
            let out = s.stream[r * C], token = p[layout.wte + Int(tokens[r]) * C]
            if layout.wpe >= 0 {
                let position = p[layout.wpe + (t0 + r % n) * C]
                for c in 0..<C { out[c] = token[c] + position[c] }
            } else {
                out.update(from: token, count: C)
            }
        }
        for l in 0..<config.layers {
            let w = layout.blocks[l]
            norm(out: s.ln.pointer, inp: s.stream.pointer, weight: w.ln1Weight, bias: w.ln1Bias, N: N, s: s)
            attention(layer: l, R: R, n: n, t0: t0, s: s)
            residualForward(out: s.stream.pointer, a: s.stream.pointer, b: s.branch.pointer, N: N * C)
            norm(out: s.ln.pointer, inp: s.stream.pointer, weight: w.ln2Weight, bias: w.ln2Bias, N: N, s: s)
            mlp(layer: l, N: N, s: s)
            residualForward(out: s.stream.pointer, a: s.stream.pointer, b: s.branch.pointer, N: N * C)
            for b in model.bottlenecks {
                s.branch.pointer.update(from: s.stream.pointer, count: N * C)
                bottleneckForward(out: s.stream.pointer, z: s.bottleneckZ.pointer, a: s.bottleneckA.pointer, inp: s.branch.pointer,
                                  D: b.values[b.down(l)], U: b.values[b.up(l)], N: N, C: C, m: b.width)
            }
        }
        cache.length = t0 + n

        // The final norm and output layer, on the rows asked for only.
        let outRows = allPositions ? N : R
        if !allPositions {
            for b in 0..<R { s.branch[b * C].update(from: s.stream[(b * n + n - 1) * C], count: C) }
        } else {
            s.branch.pointer.update(from: s.stream.pointer, count: N * C)
        }
        norm(out: s.ln.pointer, inp: s.branch.pointer, weight: layout.lnfWeight, bias: layout.lnfBias, N: outRows, s: s)
        var logits = [Float](repeating: 0, count: outRows * V)
        logits.withUnsafeMutableBufferPointer { out in
            sgemm(transposeA: false, transposeB: true, m: outRows, n: V, k: C, a: s.ln.pointer, lda: C, b: p[layout.output], ldb: C,
                  beta: 0, c: out.baseAddress!, ldc: V)
        }
        return logits
    }

    // MARK: - The block body

    /// LayerNorm or RMSNorm of N rows.
    private func norm(out: UnsafeMutablePointer<Float>, inp: UnsafeMutablePointer<Float>, weight: Int, bias: Int, N: Int, s: Scratch) {
        let config = model.config, p = model.parameters
        switch config.norm {
        case .layerNorm:
            layerNormForward(out: out, mean: s.mean.pointer, rstd: s.rstd.pointer, inp: inp, weight: p[weight], bias: p[bias],
                             N: N, C: config.channels, epsilon: config.normEpsilon)
        case .rmsNorm:
            rmsNormForward(out: out, rstd: s.rstd.pointer, inp: inp, weight: p[weight], N: N, C: config.channels, epsilon: config.normEpsilon)
        }
    }

    /// out (N,OC) = inp (N,IC) · W + b plus every active LoRA slot's branch, as the
    /// training forward computes it (without dropout).
    private func project(layer l: Int, projection k: Int, out: UnsafeMutablePointer<Float>, inp: UnsafeMutablePointer<Float>,
                         N: Int, IC: Int, OC: Int, s: Scratch) {
        let w = model.parameterLayout.blocks[l], p = model.parameters
        let bias = w.biases[k] >= 0 ? p[w.biases[k]] : nil
        switch model.config.family {
        case .gpt2: matmulForward(out: out, inp: inp, weight: p[w.weights[k]], bias: bias, N: N, IC: IC, OC: OC)
        case .llama: linearForward(out: out, inp: inp, weight: p[w.weights[k]], bias: bias, N: N, IC: IC, OC: OC)
        }
        for slot in model.slots where model.activeSlots.contains(slot.name) {
            guard let entry = slot.layout.slot(layer: l, projection: k) else { continue }
            let scale = slot.lora.scale * (model.slotScaleFactors[slot.name] ?? 1)
            loraForward(out: out, h: s.loraH.pointer, xd: s.loraH.pointer, inp: inp, A: slot.values[entry.a], B: slot.values[entry.b],
                        N: N, IN: IC, OUT: OC, r: slot.lora.rank, scale: scale, mask: nil)
        }
    }

    /// branch (N,C) = the attention output projection of block `l` for R rows of n new
    /// positions, their keys and values appended to the cache at t0..<t0+n.
    private func attention(layer l: Int, R: Int, n: Int, t0: Int, s: Scratch) {
        let config = model.config, C = config.channels, NH = config.heads, hs = config.headSize
        let NKV = config.kvHeads, KC = config.kvChannels, N = R * n, total = t0 + n
        let q: UnsafeMutablePointer<Float>, k: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>, stride: Int
        switch config.family {
        case .gpt2:
            // qkv (N,3C): q | k | v per row.
            project(layer: l, projection: 0, out: s.qkv.pointer, inp: s.ln.pointer, N: N, IC: C, OC: 3 * C, s: s)
            (q, k, v, stride) = (s.qkv.pointer, s.qkv.pointer + C, s.qkv.pointer + 2 * C, 3 * C)
        case .llama:
            q = s.qkv.pointer
            k = q + N * C
            v = k + N * KC
            project(layer: l, projection: 0, out: q, inp: s.ln.pointer, N: N, IC: C, OC: C, s: s)
            project(layer: l, projection: 1, out: k, inp: s.ln.pointer, N: N, IC: C, OC: KC, s: s)
            project(layer: l, projection: 2, out: v, inp: s.ln.pointer, N: N, IC: C, OC: KC, s: s)
            let theta = Double(config.ropeTheta!)
            rotaryForward(out: q, inp: q, B: R, T: n, NH: NH, hs: hs, theta: theta, firstPosition: t0)
            rotaryForward(out: k, inp: k, B: R, T: n, NH: NKV, hs: hs, theta: theta, firstPosition: t0)
            stride = 0
        }
        // Append the new keys and values.
        let rowStride = config.family == .gpt2 ? stride : KC
        for r in 0..<N {
            let b = r / n, t = t0 + r % n
            cache.key(layer: l, row: b, position: t).update(from: k + r * rowStride, count: KC)
            cache.value(layer: l, row: b, position: t).update(from: v + r * rowStride, count: KC)
        }
        let qStride = config.family == .gpt2 ? stride : C
        let group = NH / NKV, scale = 1 / Float(hs).squareRoot()
        let perWorker = n * total, scores = s.scores.pointer, out = s.atty.pointer
        forEachHead(B: R, NH: NH) { pairs, worker in
            let a = scores + worker * perWorker
            for pair in pairs {
                let b = pair / NH, h = pair % NH, kv = (h / group) * hs
                // a (n,total) = scale · q (n,hs) · keys (total,hs)ᵀ
                sgemm(transposeA: false, transposeB: true, m: n, n: total, k: hs, alpha: scale,
                      a: q + b * n * qStride + h * hs, lda: qStride, b: cache.key(layer: l, row: b, position: 0) + kv, ldb: KC,
                      beta: 0, c: a, ldc: total)
                for i in 0..<n { causalSoftmax(row: a + i * total, t: t0 + i, T: total) }
                // out (n,hs) = a (n,total) · values (total,hs)
                sgemm(transposeA: false, transposeB: false, m: n, n: hs, k: total, a: a, lda: total,
                      b: cache.value(layer: l, row: b, position: 0) + kv, ldb: KC, beta: 0, c: out + b * n * C + h * hs, ldc: C)
            }
        }
        project(layer: l, projection: config.inputProjections, out: s.branch.pointer, inp: s.atty.pointer, N: N, IC: C, OC: C, s: s)
    }

    /// branch (N,C) = block `l`'s MLP of ln.
    private func mlp(layer l: Int, N: Int, s: Scratch) {
        let C = model.config.channels, H = model.config.mlpWidth
        switch model.config.family {
        case .gpt2:
            project(layer: l, projection: 2, out: s.fch.pointer, inp: s.ln.pointer, N: N, IC: C, OC: H, s: s)
            geluForward(out: s.act.pointer, inp: s.fch.pointer, N: N * H)
            project(layer: l, projection: 3, out: s.branch.pointer, inp: s.act.pointer, N: N, IC: H, OC: C, s: s)
        case .llama:
            project(layer: l, projection: 4, out: s.fch.pointer, inp: s.ln.pointer, N: N, IC: C, OC: H, s: s)
            project(layer: l, projection: 5, out: s.up.pointer, inp: s.ln.pointer, N: N, IC: C, OC: H, s: s)
            swiGLUForward(out: s.act.pointer, gate: s.fch.pointer, up: s.up.pointer, N: N * H)
            project(layer: l, projection: 6, out: s.branch.pointer, inp: s.act.pointer, N: N, IC: H, OC: C, s: s)
        }
    }

    // MARK: - Scratch

    /// Working buffers for N rows; regrown when a call needs more.
    private final class Scratch {
        let rows: Int, scoreCount: Int
        let stream, ln, branch, atty, qkv, fch, up, act, mean, rstd, loraH, bottleneckZ, bottleneckA, scores: FloatBuffer

        init(config: ModelConfig, rows N: Int, rank: Int, bottleneckWidth: Int, scoreCount: Int) {
            let C = config.channels, H = config.mlpWidth
            rows = N
            self.scoreCount = scoreCount
            stream = FloatBuffer(count: N * C)
            ln = FloatBuffer(count: N * C)
            branch = FloatBuffer(count: N * C)
            atty = FloatBuffer(count: N * C)
            qkv = FloatBuffer(count: N * max(3 * C, C + 2 * config.kvChannels))
            fch = FloatBuffer(count: N * H)
            up = FloatBuffer(count: N * H)
            act = FloatBuffer(count: N * H)
            mean = FloatBuffer(count: N)
            rstd = FloatBuffer(count: N)
            loraH = FloatBuffer(count: N * rank)
            bottleneckZ = FloatBuffer(count: N * bottleneckWidth)
            bottleneckA = FloatBuffer(count: N * bottleneckWidth)
            scores = FloatBuffer(count: scoreCount)
        }
    }

    private func scratch(rows N: Int, positions n: Int, total: Int) -> Scratch {
        let scoreCount = max(1, Parallel.workers) * n * total
        if let s = scratch, s.rows >= N, s.scoreCount >= scoreCount { return s }
        let rank = model.slots.map(\.lora.rank).max() ?? 0
        let width = model.bottlenecks.map(\.width).max() ?? 0
        let grown = Scratch(config: model.config, rows: max(N, scratch?.rows ?? 0), rank: rank, bottleneckWidth: width,
                            scoreCount: max(scoreCount, scratch?.scoreCount ?? 0))
        scratch = grown
        return grown
    }
}
