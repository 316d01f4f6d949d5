// The Llama kernels' backward passes composed: a small random Llama with LoRA on all
// seven projections, run forward and backward through the Float kernels by hand, gives
// the LoRA gradients that central differences of the double reference's loss give.
// This is the order of the backward pass, and the activations it keeps, that a Llama
// model built on these kernels runs when fine-tuning an adapter.

import Foundation
import Testing

@testable import Learning

@Suite struct LlamaBlockGradientTests {
    static let shape = LlamaShape(layers: 2, channels: 8, heads: 2, kvHeads: 1, hiddenMLP: 12, vocabularySize: 11,
                                  epsilon: 1e-5, ropeTheta: 10_000, tied: false)
    static let projections = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                              "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]

    /// (IN, OUT) of each projection.
    static func dimensions(_ projection: String) -> (IN: Int, OUT: Int) {
        let s = shape, KC = s.kvHeads * s.headSize
        switch projection {
        case "self_attn.k_proj", "self_attn.v_proj": return (s.channels, KC)
        case "mlp.gate_proj", "mlp.up_proj": return (s.channels, s.hiddenMLP)
        case "mlp.down_proj": return (s.hiddenMLP, s.channels)
        default: return (s.channels, s.channels)
        }
    }

    /// Random Hugging Face-named parameters, with q/k/v biases (Qwen2's layout).
    static func parameters() -> [String: [Float]] {
        let s = shape
        var seed: UInt64 = 100
        func draw(_ count: Int, scale: Float) -> [Float] {
            seed += 1
            return testValues(count, seed: seed, scale: scale)
        }
        var p: [String: [Float]] = [
            "model.embed_tokens.weight": draw(s.vocabularySize * s.channels, scale: 1),
            "model.norm.weight": draw(s.channels, scale: 0.3).map { 1 + $0 },
            "lm_head.weight": draw(s.vocabularySize * s.channels, scale: 0.5),
        ]
        for l in 0..<s.layers {
            let prefix = "model.layers.\(l)."
            p[prefix + "input_layernorm.weight"] = draw(s.channels, scale: 0.3).map { 1 + $0 }
            p[prefix + "post_attention_layernorm.weight"] = draw(s.channels, scale: 0.3).map { 1 + $0 }
            for projection in projections {
                let (IN, OUT) = dimensions(projection)
                p[prefix + projection + ".weight"] = draw(OUT * IN, scale: 1 / Float(IN).squareRoot() * 1.7)
                if ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"].contains(projection) {
                    p[prefix + projection + ".bias"] = draw(OUT, scale: 0.2)
                }
            }
        }
        return p
    }

    static let rank = 2
    static let scale: Float = 1.5

    /// Random PEFT-named LoRA tensors on every projection of every block.
    static func adapter() -> [String: [Float]] {
        var tensors: [String: [Float]] = [:]
        var seed: UInt64 = 500
        for l in 0..<shape.layers {
            for projection in projections {
                let (IN, OUT) = dimensions(projection)
                let name = "base_model.model.model.layers.\(l).\(projection)"
                seed += 2
                tensors[name + ".lora_A.weight"] = testValues(rank * IN, seed: seed, scale: 0.5)
                tensors[name + ".lora_B.weight"] = testValues(OUT * rank, seed: seed + 1, scale: 0.5)
            }
        }
        return tensors
    }

    @Test func loraGradientsThroughTwoBlocksMatchFiniteDifferences() {
        let (B, T) = (2, 5)
        let tokens: [Int32] = [1, 7, 3, 3, 10, 0, 2, 9, 4, 6]
        let targets: [Int32] = [7, 3, 3, 10, -1, 2, 9, 4, 6, 5]
        let parameters = Self.parameters(), adapter = Self.adapter()
        let (loss, gradients) = kernelLossAndLoRAGradients(parameters: parameters, adapter: adapter, tokens: tokens,
                                                            targets: targets, B: B, T: T)
        let doubles = parameters.mapValues(\.doubles)
        func referenceLoss(_ tensors: [String: [Double]]) -> Double {
            ReferenceLlama.loss(shape: Self.shape, parameters: doubles,
                                adapter: ReferenceLlama.Adapter(tensors: tensors, rank: Self.rank, scale: Double(Self.scale)),
                                tokens: tokens, targets: targets, B: B, T: T)
        }
        let adapterDoubles = adapter.mapValues(\.doubles)
        #expect(abs(Double(loss) - referenceLoss(adapterDoubles)) < 1e-5)
        for name in adapter.keys.sorted() {
            let numerical = numericalGradient(adapterDoubles[name]!) { values in
                var changed = adapterDoubles
                changed[name] = values
                return referenceLoss(changed)
            }
            #expect(gradientsMatch(gradients[name]!, numerical), "\(name)")
        }
    }

    /// The mean loss and the gradient of every adapter tensor, through the Float kernels.
    func kernelLossAndLoRAGradients(parameters: [String: [Float]], adapter: [String: [Float]], tokens: [Int32], targets: [Int32],
                                    B: Int, T: Int) -> (Float, [String: [Float]]) {
        let s = Self.shape, N = B * T, C = s.channels, hs = s.headSize, KC = s.kvHeads * hs, H = s.hiddenMLP, V = s.vocabularySize
        let r = Self.rank
        let weights = parameters.mapValues { FloatBuffer($0) }
        let loraWeights = adapter.mapValues { FloatBuffer($0) }
        let loraGradients = adapter.mapValues { FloatBuffer(count: $0.count) }
        func w(_ name: String) -> UnsafeMutablePointer<Float> { weights[name]!.pointer }
        func lora(_ l: Int, _ projection: String, _ part: String) -> String {
            "base_model.model.model.layers.\(l).\(projection).lora_\(part).weight"
        }
        let width = max(C, H)
        let xd = FloatBuffer(count: N * width), dh = FloatBuffer(count: N * r)

        // Activations kept for the backward pass, per block.
        struct Block {
            let input, normed1, q, k, v, att, y, middle, normed2, gate, up, gated: FloatBuffer
            let rstd1, rstd2: FloatBuffer
            let h: [String: FloatBuffer]
        }
        var blocks: [Block] = []
        let x = FloatBuffer(count: N * C)
        let embedding = parameters["model.embed_tokens.weight"]!
        for (n, token) in tokens.enumerated() {
            for c in 0..<C { x.pointer[n * C + c] = embedding[Int(token) * C + c] }
        }
        func project(_ l: Int, _ projection: String, out: FloatBuffer, inp: FloatBuffer, h: FloatBuffer) {
            let (IN, OUT) = Self.dimensions(projection)
            let path = "model.layers.\(l).\(projection)"
            linearForward(out: out.pointer, inp: inp.pointer, weight: w(path + ".weight"), bias: weights[path + ".bias"].map { UnsafePointer($0.pointer) },
                          N: N, IC: IN, OC: OUT)
            loraForward(out: out.pointer, h: h.pointer, xd: xd.pointer, inp: inp.pointer, A: loraWeights[lora(l, projection, "A")]!.pointer,
                        B: loraWeights[lora(l, projection, "B")]!.pointer, N: N, IN: IN, OUT: OUT, r: r, scale: Self.scale, mask: nil)
        }
        for l in 0..<s.layers {
            let p = "model.layers.\(l)."
            let block = Block(
                input: FloatBuffer(x.array), normed1: FloatBuffer(count: N * C), q: FloatBuffer(count: N * C), k: FloatBuffer(count: N * KC),
                v: FloatBuffer(count: N * KC), att: FloatBuffer(count: B * s.heads * T * T), y: FloatBuffer(count: N * C),
                middle: FloatBuffer(count: N * C), normed2: FloatBuffer(count: N * C), gate: FloatBuffer(count: N * H),
                up: FloatBuffer(count: N * H), gated: FloatBuffer(count: N * H), rstd1: FloatBuffer(count: N), rstd2: FloatBuffer(count: N),
                h: Dictionary(uniqueKeysWithValues: Self.projections.map { ($0, FloatBuffer(count: N * r)) }))
            rmsNormForward(out: block.normed1.pointer, rstd: block.rstd1.pointer, inp: block.input.pointer, weight: w(p + "input_layernorm.weight"),
                           N: N, C: C, epsilon: Float(s.epsilon))
            project(l, "self_attn.q_proj", out: block.q, inp: block.normed1, h: block.h["self_attn.q_proj"]!)
            project(l, "self_attn.k_proj", out: block.k, inp: block.normed1, h: block.h["self_attn.k_proj"]!)
            project(l, "self_attn.v_proj", out: block.v, inp: block.normed1, h: block.h["self_attn.v_proj"]!)
            rotaryForward(out: block.q.pointer, inp: block.q.pointer, B: B, T: T, NH: s.heads, hs: hs, theta: s.ropeTheta)
            rotaryForward(out: block.k.pointer, inp: block.k.pointer, B: B, T: T, NH: s.kvHeads, hs: hs, theta: s.ropeTheta)
            groupedQueryAttentionForward(out: block.y.pointer, att: block.att.pointer, q: block.q.pointer, k: block.k.pointer,
                                         v: block.v.pointer, B: B, T: T, NH: s.heads, NKV: s.kvHeads, hs: hs)
            let o = FloatBuffer(count: N * C)
            project(l, "self_attn.o_proj", out: o, inp: block.y, h: block.h["self_attn.o_proj"]!)
            residualForward(out: block.middle.pointer, a: block.input.pointer, b: o.pointer, N: N * C)
            rmsNormForward(out: block.normed2.pointer, rstd: block.rstd2.pointer, inp: block.middle.pointer,
                           weight: w(p + "post_attention_layernorm.weight"), N: N, C: C, epsilon: Float(s.epsilon))
            project(l, "mlp.gate_proj", out: block.gate, inp: block.normed2, h: block.h["mlp.gate_proj"]!)
            project(l, "mlp.up_proj", out: block.up, inp: block.normed2, h: block.h["mlp.up_proj"]!)
            swiGLUForward(out: block.gated.pointer, gate: block.gate.pointer, up: block.up.pointer, N: N * H)
            let down = FloatBuffer(count: N * C)
            project(l, "mlp.down_proj", out: down, inp: block.gated, h: block.h["mlp.down_proj"]!)
            residualForward(out: x.pointer, a: block.middle.pointer, b: down.pointer, N: N * C)
            blocks.append(block)
        }
        let normed = FloatBuffer(count: N * C), rstd = FloatBuffer(count: N), logits = FloatBuffer(count: N * V)
        rmsNormForward(out: normed.pointer, rstd: rstd.pointer, inp: x.pointer, weight: w("model.norm.weight"), N: N, C: C, epsilon: Float(s.epsilon))
        linearForward(out: logits.pointer, inp: normed.pointer, weight: w("lm_head.weight"), bias: nil, N: N, IC: C, OC: V)
        let losses = FloatBuffer(count: N), lse = FloatBuffer(count: N), dlogits = FloatBuffer(count: N * V)
        let counted = targets.filter { $0 >= 0 }.count
        targets.withUnsafeBufferPointer { t in
            crossEntropyForward(losses: losses.pointer, logsumexp: lse.pointer, logits: logits.pointer, targets: t.baseAddress!, N: N, V: V)
            crossEntropyBackward(dlogits: dlogits.pointer, logits: logits.pointer, logsumexp: lse.pointer, targets: t.baseAddress!,
                                 dloss: 1 / Float(counted), rows: 0..<N, V: V)
        }
        let loss = losses.array.reduce(0, +) / Float(counted)

        // Backward. dx is the gradient of the residual stream, flowing down the blocks.
        let dnormed = FloatBuffer(count: N * C), dx = FloatBuffer(count: N * C)
        linearBackward(dinp: dnormed.pointer, dweight: nil, dbias: nil, dout: dlogits.pointer, inp: normed.pointer,
                       weight: w("lm_head.weight"), N: N, IC: C, OC: V)
        rmsNormBackward(dinp: dx.pointer, dweight: nil, dout: dnormed.pointer, inp: x.pointer, weight: w("model.norm.weight"),
                        rstd: rstd.pointer, N: N, C: C)
        /// dinp (N,IN) = the frozen projection's input gradient plus its LoRA branch's (added
        /// to dinp when `accumulate`); the adapter's gradients are added to.
        func projectBackward(_ l: Int, _ projection: String, dinp: FloatBuffer, dout: FloatBuffer, inp: FloatBuffer, h: FloatBuffer,
                             accumulate: Bool) {
            let (IN, OUT) = Self.dimensions(projection)
            let path = "model.layers.\(l).\(projection)"
            let target = accumulate ? FloatBuffer(count: N * IN) : dinp
            linearBackward(dinp: target.pointer, dweight: nil, dbias: nil, dout: dout.pointer, inp: inp.pointer, weight: w(path + ".weight"),
                           N: N, IC: IN, OC: OUT)
            if accumulate { for i in 0..<(N * IN) { dinp.pointer[i] += target.pointer[i] } }
            loraBackward(dinp: dinp.pointer, dA: loraGradients[lora(l, projection, "A")]!.pointer, dB: loraGradients[lora(l, projection, "B")]!.pointer,
                         dout: dout.pointer, inp: inp.pointer, h: h.pointer, A: loraWeights[lora(l, projection, "A")]!.pointer,
                         B: loraWeights[lora(l, projection, "B")]!.pointer, xd: xd.pointer, dh: dh.pointer,
                         N: N, IN: IN, OUT: OUT, r: r, scale: Self.scale, mask: nil)
        }
        for l in (0..<s.layers).reversed() {
            let block = blocks[l], p = "model.layers.\(l)."
            // MLP: x = middle + down(swiglu(gate, up)).
            let ddown = FloatBuffer(dx.array), dgated = FloatBuffer(count: N * H)
            projectBackward(l, "mlp.down_proj", dinp: dgated, dout: ddown, inp: block.gated, h: block.h["mlp.down_proj"]!, accumulate: false)
            let dgate = FloatBuffer(count: N * H), dup = FloatBuffer(count: N * H)
            swiGLUBackward(dgate: dgate.pointer, dup: dup.pointer, dout: dgated.pointer, gate: block.gate.pointer, up: block.up.pointer, N: N * H)
            let dnormed2 = FloatBuffer(count: N * C)
            projectBackward(l, "mlp.gate_proj", dinp: dnormed2, dout: dgate, inp: block.normed2, h: block.h["mlp.gate_proj"]!, accumulate: false)
            projectBackward(l, "mlp.up_proj", dinp: dnormed2, dout: dup, inp: block.normed2, h: block.h["mlp.up_proj"]!, accumulate: true)
            rmsNormBackward(dinp: dx.pointer, dweight: nil, dout: dnormed2.pointer, inp: block.middle.pointer,
                            weight: w(p + "post_attention_layernorm.weight"), rstd: block.rstd2.pointer, N: N, C: C)
            // Attention: middle = input + o(attention(rope(q), rope(k), v)).
            let dout = FloatBuffer(dx.array), dy = FloatBuffer(count: N * C)
            projectBackward(l, "self_attn.o_proj", dinp: dy, dout: dout, inp: block.y, h: block.h["self_attn.o_proj"]!, accumulate: false)
            let dq = FloatBuffer(count: N * C), dk = FloatBuffer(count: N * KC), dv = FloatBuffer(count: N * KC)
            groupedQueryAttentionBackward(dq: dq.pointer, dk: dk.pointer, dv: dv.pointer, dout: dy.pointer, q: block.q.pointer,
                                          k: block.k.pointer, v: block.v.pointer, att: block.att.pointer, B: B, T: T, NH: s.heads,
                                          NKV: s.kvHeads, hs: hs)
            rotaryBackward(dinp: dq.pointer, dout: dq.pointer, B: B, T: T, NH: s.heads, hs: hs, theta: s.ropeTheta)
            rotaryBackward(dinp: dk.pointer, dout: dk.pointer, B: B, T: T, NH: s.kvHeads, hs: hs, theta: s.ropeTheta)
            let dnormed1 = FloatBuffer(count: N * C)
            projectBackward(l, "self_attn.q_proj", dinp: dnormed1, dout: dq, inp: block.normed1, h: block.h["self_attn.q_proj"]!, accumulate: false)
            projectBackward(l, "self_attn.k_proj", dinp: dnormed1, dout: dk, inp: block.normed1, h: block.h["self_attn.k_proj"]!, accumulate: true)
            projectBackward(l, "self_attn.v_proj", dinp: dnormed1, dout: dv, inp: block.normed1, h: block.h["self_attn.v_proj"]!, accumulate: true)
            rmsNormBackward(dinp: dx.pointer, dweight: nil, dout: dnormed1.pointer, inp: block.input.pointer,
                            weight: w(p + "input_layernorm.weight"), rstd: block.rstd1.pointer, N: N, C: C)
        }
        return (loss, loraGradients.mapValues(\.array))
    }
}
