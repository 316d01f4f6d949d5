// The Llama kernels' Float forward passes against the double reference
// (ReferenceLlama.swift), and their analytic backward passes against central
// differences of that reference.

import Foundation
import Testing

@testable import Learning

@Suite struct LlamaLayerTests {
    @Test func linearWithWeightsStoredOutByInGradientsMatchFiniteDifferences() {
        let (N, IC, OC) = (3, 5, 4)
        let x = testValues(N * IC, seed: 30), weight = testValues(OC * IC, seed: 31), bias = testValues(OC, seed: 32)
        let w = testValues(N * OC, seed: 33)
        let out = FloatBuffer(count: N * OC), inp = FloatBuffer(x), weightBuffer = FloatBuffer(weight), biasBuffer = FloatBuffer(bias)
        let dout = FloatBuffer(w), dinp = FloatBuffer(count: N * IC), dweight = FloatBuffer(count: OC * IC), dbias = FloatBuffer(count: OC)
        linearForward(out: out.pointer, inp: inp.pointer, weight: weightBuffer.pointer, bias: biasBuffer.pointer, N: N, IC: IC, OC: OC)
        linearBackward(dinp: dinp.pointer, dweight: dweight.pointer, dbias: dbias.pointer, dout: dout.pointer, inp: inp.pointer,
                       weight: weightBuffer.pointer, N: N, IC: IC, OC: OC)
        func reference(_ x: [Double], _ weight: [Double], _ bias: [Double]) -> [Double] {
            ReferenceLlama.linear(x, weight: weight, bias: bias, N: N, IC: IC, OC: OC)
        }
        #expect(forwardMatches(out.array, reference(x.doubles, weight.doubles, bias.doubles)))
        #expect(gradientsMatch(dinp.array, numericalGradient(x.doubles) { weightedSum(reference($0, weight.doubles, bias.doubles), w) }))
        #expect(gradientsMatch(dweight.array, numericalGradient(weight.doubles) { weightedSum(reference(x.doubles, $0, bias.doubles), w) }))
        #expect(gradientsMatch(dbias.array, numericalGradient(bias.doubles) { weightedSum(reference(x.doubles, weight.doubles, $0), w) }))
    }

    @Test func linearWithoutBiasAddsNothing() {
        let (N, IC, OC) = (2, 3, 2)
        let x = testValues(N * IC, seed: 34), weight = testValues(OC * IC, seed: 35)
        let out = FloatBuffer([Float](repeating: 99, count: N * OC)), inp = FloatBuffer(x), weightBuffer = FloatBuffer(weight)
        linearForward(out: out.pointer, inp: inp.pointer, weight: weightBuffer.pointer, bias: nil, N: N, IC: IC, OC: OC)
        #expect(forwardMatches(out.array, ReferenceLlama.linear(x.doubles, weight: weight.doubles, bias: nil, N: N, IC: IC, OC: OC)))
    }

    @Test(arguments: [1e-5, 1e-2])
    func rmsNormGradientsMatchFiniteDifferences(epsilon: Double) {
        let (N, C) = (3, 8)
        let x = testValues(N * C, seed: 36, scale: 2), weight = testValues(C, seed: 37), w = testValues(N * C, seed: 38)
        let out = FloatBuffer(count: N * C), rstd = FloatBuffer(count: N), inp = FloatBuffer(x), weightBuffer = FloatBuffer(weight)
        let dout = FloatBuffer(w), dinp = FloatBuffer(count: N * C), dweight = FloatBuffer(count: C)
        rmsNormForward(out: out.pointer, rstd: rstd.pointer, inp: inp.pointer, weight: weightBuffer.pointer, N: N, C: C,
                       epsilon: Float(epsilon))
        rmsNormBackward(dinp: dinp.pointer, dweight: dweight.pointer, dout: dout.pointer, inp: inp.pointer,
                        weight: weightBuffer.pointer, rstd: rstd.pointer, N: N, C: C)
        func reference(_ x: [Double], _ weight: [Double]) -> [Double] {
            ReferenceLlama.rmsNorm(x, weight: weight, N: N, C: C, epsilon: epsilon)
        }
        #expect(forwardMatches(out.array, reference(x.doubles, weight.doubles)))
        #expect(gradientsMatch(dinp.array, numericalGradient(x.doubles) { weightedSum(reference($0, weight.doubles), w) }))
        #expect(gradientsMatch(dweight.array, numericalGradient(weight.doubles) { weightedSum(reference(x.doubles, $0), w) }))
    }

    @Test func rmsNormBackwardAddsToTheInputGradient() {
        let (N, C) = (2, 4)
        let x = testValues(N * C, seed: 39), weight = testValues(C, seed: 40), w = testValues(N * C, seed: 41)
        let out = FloatBuffer(count: N * C), rstd = FloatBuffer(count: N), inp = FloatBuffer(x), weightBuffer = FloatBuffer(weight)
        let dout = FloatBuffer(w), fresh = FloatBuffer(count: N * C), accumulated = FloatBuffer([Float](repeating: 1, count: N * C))
        rmsNormForward(out: out.pointer, rstd: rstd.pointer, inp: inp.pointer, weight: weightBuffer.pointer, N: N, C: C, epsilon: 1e-5)
        for dinp in [fresh, accumulated] {
            rmsNormBackward(dinp: dinp.pointer, dweight: nil, dout: dout.pointer, inp: inp.pointer, weight: weightBuffer.pointer,
                            rstd: rstd.pointer, N: N, C: C)
        }
        #expect(zip(fresh.array, accumulated.array).allSatisfy { abs($0 + 1 - $1) < 1e-6 })
    }

    @Test(arguments: [10_000.0, 1_000_000.0])
    func rotaryEmbeddingGradientMatchesFiniteDifferences(theta: Double) {
        let (B, T, NH, hs) = (2, 5, 3, 6)
        let x = testValues(B * T * NH * hs, seed: 42, scale: 2), w = testValues(B * T * NH * hs, seed: 43)
        let inp = FloatBuffer(x), out = FloatBuffer(count: x.count), dout = FloatBuffer(w), dinp = FloatBuffer(count: x.count)
        rotaryForward(out: out.pointer, inp: inp.pointer, B: B, T: T, NH: NH, hs: hs, theta: theta)
        rotaryBackward(dinp: dinp.pointer, dout: dout.pointer, B: B, T: T, NH: NH, hs: hs, theta: theta)
        func reference(_ x: [Double]) -> [Double] { ReferenceLlama.rotary(x, B: B, T: T, NH: NH, hs: hs, theta: theta) }
        #expect(forwardMatches(out.array, reference(x.doubles)))
        #expect(gradientsMatch(dinp.array, numericalGradient(x.doubles) { weightedSum(reference($0), w) }))
        // Position 0 is not rotated; later positions are.
        #expect(out.array[0..<(NH * hs)] == x[0..<(NH * hs)])
        #expect(out.array[(NH * hs)..<(2 * NH * hs)] != x[(NH * hs)..<(2 * NH * hs)])
    }

    @Test func rotaryEmbeddingWorksInPlace() {
        let (B, T, NH, hs) = (1, 4, 2, 4)
        let x = testValues(B * T * NH * hs, seed: 44)
        let separate = FloatBuffer(count: x.count), inPlace = FloatBuffer(x), source = FloatBuffer(x)
        rotaryForward(out: separate.pointer, inp: source.pointer, B: B, T: T, NH: NH, hs: hs, theta: 10_000)
        rotaryForward(out: inPlace.pointer, inp: inPlace.pointer, B: B, T: T, NH: NH, hs: hs, theta: 10_000)
        #expect(inPlace.array == separate.array)
        rotaryBackward(dinp: inPlace.pointer, dout: inPlace.pointer, B: B, T: T, NH: NH, hs: hs, theta: 10_000)
        #expect(zip(inPlace.array, x).allSatisfy { abs($0 - $1) < 1e-6 })  // the backward rotation undoes the forward one
    }

    @Test func swiGLUGradientsMatchFiniteDifferences() {
        let N = 27  // three groups of eight lanes and a tail of three
        let gate = testValues(N, seed: 45, scale: 5), up = testValues(N, seed: 46, scale: 2), w = testValues(N, seed: 47)
        let gateBuffer = FloatBuffer(gate), upBuffer = FloatBuffer(up), out = FloatBuffer(count: N), dout = FloatBuffer(w)
        let dgate = FloatBuffer(count: N), dup = FloatBuffer(count: N)
        swiGLUForward(out: out.pointer, gate: gateBuffer.pointer, up: upBuffer.pointer, N: N)
        swiGLUBackward(dgate: dgate.pointer, dup: dup.pointer, dout: dout.pointer, gate: gateBuffer.pointer, up: upBuffer.pointer, N: N)
        #expect(forwardMatches(out.array, ReferenceLlama.swiGLU(gate: gate.doubles, up: up.doubles)))
        #expect(gradientsMatch(dgate.array, numericalGradient(gate.doubles) { weightedSum(ReferenceLlama.swiGLU(gate: $0, up: up.doubles), w) }))
        #expect(gradientsMatch(dup.array, numericalGradient(up.doubles) { weightedSum(ReferenceLlama.swiGLU(gate: gate.doubles, up: $0), w) }))
    }

    struct AttentionShape: Sendable, CustomStringConvertible {
        var heads: Int, kvHeads: Int, workers: Int
        var description: String { "\(heads) heads, \(kvHeads) kv heads, \(workers) workers" }
    }

    /// Grouped, multi-query and multi-head, each on one worker and on several.
    static let attentionShapes = [
        AttentionShape(heads: 4, kvHeads: 2, workers: 1), AttentionShape(heads: 4, kvHeads: 2, workers: 3),
        AttentionShape(heads: 4, kvHeads: 1, workers: 2), AttentionShape(heads: 2, kvHeads: 2, workers: 2),
        AttentionShape(heads: 6, kvHeads: 3, workers: 1),
    ]

    @Test(arguments: attentionShapes)
    func groupedQueryAttentionGradientsMatchFiniteDifferences(shape: AttentionShape) {
        let (B, T, hs) = (2, 5, 4)
        let (heads, kvHeads, workers) = (shape.heads, shape.kvHeads, shape.workers)
        let before = Parallel.workers
        Parallel.workers = workers
        defer { Parallel.workers = before }
        let C = heads * hs, KC = kvHeads * hs
        let qv = testValues(B * T * C, seed: 48, scale: 1.5), kvv = testValues(B * T * KC, seed: 49, scale: 1.5)
        let vv = testValues(B * T * KC, seed: 50), w = testValues(B * T * C, seed: 51)
        let q = FloatBuffer(qv), k = FloatBuffer(kvv), v = FloatBuffer(vv)
        let out = FloatBuffer(count: B * T * C), att = FloatBuffer(count: B * heads * T * T), dout = FloatBuffer(w)
        // Garbage in the gradients shows that they are overwritten, not added to.
        let dq = FloatBuffer([Float](repeating: 7, count: B * T * C))
        let dk = FloatBuffer([Float](repeating: 7, count: B * T * KC)), dv = FloatBuffer([Float](repeating: 7, count: B * T * KC))
        groupedQueryAttentionForward(out: out.pointer, att: att.pointer, q: q.pointer, k: k.pointer, v: v.pointer,
                                     B: B, T: T, NH: heads, NKV: kvHeads, hs: hs)
        groupedQueryAttentionBackward(dq: dq.pointer, dk: dk.pointer, dv: dv.pointer, dout: dout.pointer, q: q.pointer, k: k.pointer,
                                      v: v.pointer, att: att.pointer, B: B, T: T, NH: heads, NKV: kvHeads, hs: hs)
        func reference(_ q: [Double], _ k: [Double], _ v: [Double]) -> [Double] {
            ReferenceLlama.attention(q: q, k: k, v: v, B: B, T: T, NH: heads, NKV: kvHeads, hs: hs)
        }
        #expect(forwardMatches(out.array, reference(qv.doubles, kvv.doubles, vv.doubles)))
        #expect(gradientsMatch(dq.array, numericalGradient(qv.doubles) { weightedSum(reference($0, kvv.doubles, vv.doubles), w) }))
        #expect(gradientsMatch(dk.array, numericalGradient(kvv.doubles) { weightedSum(reference(qv.doubles, $0, vv.doubles), w) }))
        #expect(gradientsMatch(dv.array, numericalGradient(vv.doubles) { weightedSum(reference(qv.doubles, kvv.doubles, $0), w) }))
    }

    @Test func groupedAttentionWithOneKVHeadPerQueryHeadIsTheFusedAttention() {
        let (B, T, NH, hs) = (1, 6, 2, 4)
        let C = NH * hs
        let qkvValues = testValues(B * T * 3 * C, seed: 52)
        // The fused (B,T,3C) layout split into separate q, k, v.
        var parts: [[Float]] = [[], [], []]
        for row in 0..<(B * T) {
            for part in 0..<3 {
                let start: Int = row * 3 * C + part * C
                parts[part].append(contentsOf: qkvValues[start..<(start + C)])
            }
        }
        let qkv = FloatBuffer(qkvValues), q = FloatBuffer(parts[0]), k = FloatBuffer(parts[1]), v = FloatBuffer(parts[2])
        let fused = FloatBuffer(count: B * T * C), fusedAtt = FloatBuffer(count: B * NH * T * T)
        let grouped = FloatBuffer(count: B * T * C), groupedAtt = FloatBuffer(count: B * NH * T * T)
        attentionForward(out: fused.pointer, att: fusedAtt.pointer, qkv: qkv.pointer, B: B, T: T, C: C, NH: NH)
        groupedQueryAttentionForward(out: grouped.pointer, att: groupedAtt.pointer, q: q.pointer, k: k.pointer, v: v.pointer,
                                     B: B, T: T, NH: NH, NKV: NH, hs: hs)
        #expect(grouped.array == fused.array)
        #expect(groupedAtt.array == fusedAtt.array)
    }
}
