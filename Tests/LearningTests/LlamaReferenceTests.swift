// Tiny random Llama and Qwen2 models made by transformers (tools/fixtures/make_tiny_llama.py):
// the double-precision reference reproduces transformers' and peft's float64 logits, and
// so do the Float kernels chained block by block, which is the Llama forward pass the
// engine runs.

import Foundation
import Testing

@testable import Learning

@Suite struct LlamaReferenceTests {
    /// tiny-llama: untied lm_head, no biases. tiny-qwen2: tied, q/k/v biases. Both GQA.
    static let fixtures = ["tiny-llama", "tiny-qwen2"]

    @Test(arguments: fixtures)
    func fixturesCoverGroupedQueryAttentionTyingAndBiases(name: String) throws {
        let fixture = try LlamaFixture(name)
        #expect(fixture.shape.kvHeads < fixture.shape.heads)
        #expect(fixture.shape.tied == (name == "tiny-qwen2"))
        #expect((fixture.tensors["lm_head.weight"] == nil) == fixture.shape.tied)
        #expect((fixture.tensors["model.layers.0.self_attn.q_proj.bias"] != nil) == (name == "tiny-qwen2"))
        #expect(fixture.adapterTensors.count == 2 * 7 * fixture.shape.layers)
        // The adapter moves the logits far, so a LoRA path that did nothing would fail.
        #expect(maxAbsDifference(fixture.logits, fixture.adaptedLogits) > 0.5)
    }

    @Test(arguments: fixtures)
    func referenceMatchesTransformers(name: String) throws {
        let fixture = try LlamaFixture(name)
        let difference = maxAbsDifference(fixture.referenceLogits(adapted: false), fixture.logits)
        #expect(difference <= 1e-4, "max |Δ logit| = \(difference)")
    }

    @Test(arguments: fixtures)
    func referenceWithTheAdapterMatchesPEFT(name: String) throws {
        let fixture = try LlamaFixture(name)
        let difference = maxAbsDifference(fixture.referenceLogits(adapted: true), fixture.adaptedLogits)
        #expect(difference <= 1e-4, "max |Δ logit| = \(difference)")
    }

    @Test(arguments: fixtures)
    func referenceLossMatchesTransformersAndPEFT(name: String) throws {
        let fixture = try LlamaFixture(name)
        let parameters = fixture.tensors.mapValues { $0.values.doubles }
        let T = fixture.tokens.count
        for (adapter, expected) in [(nil, fixture.loss), (fixture.referenceAdapter, fixture.adaptedLoss)] {
            let loss = ReferenceLlama.loss(shape: fixture.shape, parameters: parameters, adapter: adapter, tokens: fixture.tokens,
                                           targets: fixture.targets, B: 1, T: T)
            #expect(abs(loss - expected) <= 1e-5, "loss \(loss) against \(expected)")
        }
    }

    @Test func aBatchIsItsSequencesEachAlone() throws {
        let fixture = try LlamaFixture("tiny-llama")
        let parameters = fixture.tensors.mapValues { $0.values.doubles }
        let first = fixture.tokens, second = Array(fixture.tokens.reversed()), T = first.count
        func logits(_ tokens: [Int32], B: Int) -> [Double] {
            ReferenceLlama.logits(shape: fixture.shape, parameters: parameters, adapter: fixture.referenceAdapter, tokens: tokens, B: B, T: T)
        }
        let batch = logits(first + second, B: 2)
        let V = fixture.shape.vocabularySize
        #expect(maxAbsDifference(Array(batch[..<(T * V)]), logits(first, B: 1)) < 1e-12)
        #expect(maxAbsDifference(Array(batch[(T * V)...]), logits(second, B: 1)) < 1e-12)
    }

    @Test(arguments: fixtures)
    func floatKernelsChainedMatchTransformers(name: String) throws {
        let fixture = try LlamaFixture(name)
        let difference = maxAbsDifference(kernelLogits(fixture, adapted: false).doubles, fixture.logits)
        #expect(difference <= 1e-4, "max |Δ logit| = \(difference)")
    }

    @Test(arguments: fixtures)
    func floatKernelsChainedWithTheAdapterMatchPEFT(name: String) throws {
        let fixture = try LlamaFixture(name)
        let difference = maxAbsDifference(kernelLogits(fixture, adapted: true).doubles, fixture.adaptedLogits)
        #expect(difference <= 1e-4, "max |Δ logit| = \(difference)")
    }

    /// The Llama forward pass in Float through the layer kernels, as llama2.c's
    /// `forward` writes it: embedding, then per block RMSNorm → q, k, v → RoPE on q and
    /// k → grouped-query attention → o → residual → RMSNorm → gate, up → SwiGLU → down
    /// → residual; final RMSNorm and the output layer.
    func kernelLogits(_ fixture: LlamaFixture, adapted: Bool) -> [Float] {
        let s = fixture.shape, T = fixture.tokens.count, C = s.channels, hs = s.headSize, KC = s.kvHeads * hs
        let epsilon = Float(s.epsilon)
        var weights: [String: FloatBuffer] = [:]
        func buffer(_ values: [Float], _ key: String) -> FloatBuffer {
            if let cached = weights[key] { return cached }
            let made = FloatBuffer(values)
            weights[key] = made
            return made
        }
        func weight(_ name: String) -> UnsafePointer<Float> { UnsafePointer(buffer(fixture.tensor(name), name).pointer) }
        let r = fixture.adapterRank
        let h = FloatBuffer(count: T * r), scratch = FloatBuffer(count: T * max(C, s.hiddenMLP))
        func projection(_ path: String, out: FloatBuffer, inp: FloatBuffer, IC: Int, OC: Int) {
            let bias = fixture.optional(path + ".bias").map { UnsafePointer(buffer($0, path + ".bias").pointer) }
            linearForward(out: out.pointer, inp: inp.pointer, weight: weight(path + ".weight"), bias: bias, N: T, IC: IC, OC: OC)
            guard adapted else { return }
            let (a, b) = fixture.adapter(path)
            loraForward(out: out.pointer, h: h.pointer, xd: scratch.pointer, inp: inp.pointer, A: buffer(a, path + ".A").pointer,
                        B: buffer(b, path + ".B").pointer, N: T, IN: IC, OUT: OC, r: r, scale: Float(fixture.adapterScale), mask: nil)
        }
        let x = FloatBuffer(count: T * C), normed = FloatBuffer(count: T * C), rstd = FloatBuffer(count: T)
        let q = FloatBuffer(count: T * C), k = FloatBuffer(count: T * KC), v = FloatBuffer(count: T * KC)
        let att = FloatBuffer(count: s.heads * T * T), y = FloatBuffer(count: T * C), o = FloatBuffer(count: T * C)
        let gate = FloatBuffer(count: T * s.hiddenMLP), up = FloatBuffer(count: T * s.hiddenMLP)
        let gated = FloatBuffer(count: T * s.hiddenMLP)
        let embedding = fixture.tensor("model.embed_tokens.weight")
        for (t, token) in fixture.tokens.enumerated() {
            for c in 0..<C { x.pointer[t * C + c] = embedding[Int(token) * C + c] }
        }
        for l in 0..<s.layers {
            let p = "model.layers.\(l)."
            rmsNormForward(out: normed.pointer, rstd: rstd.pointer, inp: x.pointer, weight: weight(p + "input_layernorm.weight"),
                           N: T, C: C, epsilon: epsilon)
            projection(p + "self_attn.q_proj", out: q, inp: normed, IC: C, OC: C)
            projection(p + "self_attn.k_proj", out: k, inp: normed, IC: C, OC: KC)
            projection(p + "self_attn.v_proj", out: v, inp: normed, IC: C, OC: KC)
            rotaryForward(out: q.pointer, inp: q.pointer, B: 1, T: T, NH: s.heads, hs: hs, theta: s.ropeTheta)
            rotaryForward(out: k.pointer, inp: k.pointer, B: 1, T: T, NH: s.kvHeads, hs: hs, theta: s.ropeTheta)
            groupedQueryAttentionForward(out: y.pointer, att: att.pointer, q: q.pointer, k: k.pointer, v: v.pointer,
                                         B: 1, T: T, NH: s.heads, NKV: s.kvHeads, hs: hs)
            projection(p + "self_attn.o_proj", out: o, inp: y, IC: C, OC: C)
            residualForward(out: x.pointer, a: x.pointer, b: o.pointer, N: T * C)
            rmsNormForward(out: normed.pointer, rstd: rstd.pointer, inp: x.pointer,
                           weight: weight(p + "post_attention_layernorm.weight"), N: T, C: C, epsilon: epsilon)
            projection(p + "mlp.gate_proj", out: gate, inp: normed, IC: C, OC: s.hiddenMLP)
            projection(p + "mlp.up_proj", out: up, inp: normed, IC: C, OC: s.hiddenMLP)
            swiGLUForward(out: gated.pointer, gate: gate.pointer, up: up.pointer, N: T * s.hiddenMLP)
            projection(p + "mlp.down_proj", out: o, inp: gated, IC: s.hiddenMLP, OC: C)
            residualForward(out: x.pointer, a: x.pointer, b: o.pointer, N: T * C)
        }
        rmsNormForward(out: normed.pointer, rstd: rstd.pointer, inp: x.pointer, weight: weight("model.norm.weight"), N: T, C: C,
                       epsilon: epsilon)
        let logits = FloatBuffer(count: T * s.vocabularySize)
        linearForward(out: logits.pointer, inp: normed.pointer, weight: buffer(fixture.outputWeight, "output").pointer, bias: nil,
                      N: T, IC: C, OC: s.vocabularySize)
        return logits.array
    }
}
