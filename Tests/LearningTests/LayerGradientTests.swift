// Each layer's Float forward against the double reference, and its analytic backward
// against central differences of that reference.

import Foundation
import Testing

@testable import Learning

extension FloatBuffer {
    convenience init(_ values: [Float]) {
        self.init(count: values.count)
        for (i, value) in values.enumerated() { pointer[i] = value }
    }
}

func forwardMatches(_ float: [Float], _ reference: [Double]) -> Bool {
    float.count == reference.count && zip(float, reference).allSatisfy { abs(Double($0) - $1) <= 1e-5 + 1e-4 * abs($1) }
}

@Suite struct LayerGradientTests {
    @Test func encoderGradientsMatchFiniteDifferences() {
        let (B, T, C, V) = (2, 3, 4, 5)
        let tokens: [Int32] = [1, 4, 1, 0, 2, 4]
        let wte = testValues(V * C, seed: 1), wpe = testValues(T * C, seed: 2), w = testValues(B * T * C, seed: 3)
        let out = FloatBuffer(count: B * T * C), dwte = FloatBuffer(count: V * C), dwpe = FloatBuffer(count: T * C)
        let wteBuffer = FloatBuffer(wte), wpeBuffer = FloatBuffer(wpe), dout = FloatBuffer(w)
        tokens.withUnsafeBufferPointer { t in
            encoderForward(out: out.pointer, tokens: t.baseAddress!, wte: wteBuffer.pointer, wpe: wpeBuffer.pointer, B: B, T: T, C: C)
            encoderBackward(dwte: dwte.pointer, dwpe: dwpe.pointer, dout: dout.pointer, tokens: t.baseAddress!, B: B, T: T, C: C)
        }
        #expect(forwardMatches(out.array, Reference.encoder(tokens: tokens, wte: wte.doubles, wpe: wpe.doubles, B: B, T: T, C: C)))
        let numericalWTE = numericalGradient(wte.doubles) {
            weightedSum(Reference.encoder(tokens: tokens, wte: $0, wpe: wpe.doubles, B: B, T: T, C: C), w)
        }
        let numericalWPE = numericalGradient(wpe.doubles) {
            weightedSum(Reference.encoder(tokens: tokens, wte: wte.doubles, wpe: $0, B: B, T: T, C: C), w)
        }
        #expect(gradientsMatch(dwte.array, numericalWTE))
        #expect(gradientsMatch(dwpe.array, numericalWPE))
    }

    @Test func layerNormGradientsMatchFiniteDifferences() {
        let (N, C) = (3, 8)
        let x = testValues(N * C, seed: 4, scale: 2), weight = testValues(C, seed: 5), bias = testValues(C, seed: 6)
        let w = testValues(N * C, seed: 7)
        let out = FloatBuffer(count: N * C), mean = FloatBuffer(count: N), rstd = FloatBuffer(count: N)
        let inp = FloatBuffer(x), weightBuffer = FloatBuffer(weight), biasBuffer = FloatBuffer(bias), dout = FloatBuffer(w)
        let dinp = FloatBuffer(count: N * C), dweight = FloatBuffer(count: C), dbias = FloatBuffer(count: C)
        layerNormForward(out: out.pointer, mean: mean.pointer, rstd: rstd.pointer, inp: inp.pointer,
                         weight: weightBuffer.pointer, bias: biasBuffer.pointer, N: N, C: C)
        layerNormBackward(dinp: dinp.pointer, dweight: dweight.pointer, dbias: dbias.pointer, dout: dout.pointer, inp: inp.pointer,
                          weight: weightBuffer.pointer, mean: mean.pointer, rstd: rstd.pointer, N: N, C: C)
        #expect(forwardMatches(out.array, Reference.layerNorm(x.doubles, weight: weight.doubles, bias: bias.doubles, N: N, C: C)))
        #expect(gradientsMatch(dinp.array, numericalGradient(x.doubles) {
            weightedSum(Reference.layerNorm($0, weight: weight.doubles, bias: bias.doubles, N: N, C: C), w)
        }))
        #expect(gradientsMatch(dweight.array, numericalGradient(weight.doubles) {
            weightedSum(Reference.layerNorm(x.doubles, weight: $0, bias: bias.doubles, N: N, C: C), w)
        }))
        #expect(gradientsMatch(dbias.array, numericalGradient(bias.doubles) {
            weightedSum(Reference.layerNorm(x.doubles, weight: weight.doubles, bias: $0, N: N, C: C), w)
        }))
    }

    @Test func matmulWithBiasGradientsMatchFiniteDifferences() {
        let (N, IC, OC) = (3, 5, 4)
        let x = testValues(N * IC, seed: 8), weight = testValues(IC * OC, seed: 9), bias = testValues(OC, seed: 10)
        let w = testValues(N * OC, seed: 11)
        let out = FloatBuffer(count: N * OC), inp = FloatBuffer(x), weightBuffer = FloatBuffer(weight), biasBuffer = FloatBuffer(bias)
        let dout = FloatBuffer(w), dinp = FloatBuffer(count: N * IC), dweight = FloatBuffer(count: IC * OC), dbias = FloatBuffer(count: OC)
        matmulForward(out: out.pointer, inp: inp.pointer, weight: weightBuffer.pointer, bias: biasBuffer.pointer, N: N, IC: IC, OC: OC)
        matmulBackward(dinp: dinp.pointer, dweight: dweight.pointer, dbias: dbias.pointer, dout: dout.pointer, inp: inp.pointer,
                       weight: weightBuffer.pointer, N: N, IC: IC, OC: OC)
        #expect(forwardMatches(out.array, Reference.matmul(x.doubles, weight: weight.doubles, bias: bias.doubles, N: N, IC: IC, OC: OC)))
        #expect(gradientsMatch(dinp.array, numericalGradient(x.doubles) {
            weightedSum(Reference.matmul($0, weight: weight.doubles, bias: bias.doubles, N: N, IC: IC, OC: OC), w)
        }))
        #expect(gradientsMatch(dweight.array, numericalGradient(weight.doubles) {
            weightedSum(Reference.matmul(x.doubles, weight: $0, bias: bias.doubles, N: N, IC: IC, OC: OC), w)
        }))
        #expect(gradientsMatch(dbias.array, numericalGradient(bias.doubles) {
            weightedSum(Reference.matmul(x.doubles, weight: weight.doubles, bias: $0, N: N, IC: IC, OC: OC), w)
        }))
    }

    @Test(arguments: [1, 2])
    func attentionGradientMatchesFiniteDifferences(workers: Int) {
        let (B, T, C, NH) = (2, 5, 8, 2)
        let before = Parallel.workers
        Parallel.workers = workers
        defer { Parallel.workers = before }
        let x = testValues(B * T * 3 * C, seed: 12, scale: 1.5), w = testValues(B * T * C, seed: 13)
        let qkv = FloatBuffer(x), out = FloatBuffer(count: B * T * C), att = FloatBuffer(count: B * NH * T * T)
        let dout = FloatBuffer(w), dqkv = FloatBuffer(count: B * T * 3 * C)
        attentionForward(out: out.pointer, att: att.pointer, qkv: qkv.pointer, B: B, T: T, C: C, NH: NH)
        attentionBackward(dqkv: dqkv.pointer, dout: dout.pointer, qkv: qkv.pointer, att: att.pointer, B: B, T: T, C: C, NH: NH)
        #expect(forwardMatches(out.array, Reference.attention(x.doubles, B: B, T: T, C: C, NH: NH)))
        #expect(gradientsMatch(dqkv.array, numericalGradient(x.doubles) {
            weightedSum(Reference.attention($0, B: B, T: T, C: C, NH: NH), w)
        }))
    }

    @Test func geluGradientMatchesFiniteDifferences() {
        let N = 24
        let x = testValues(N, seed: 14, scale: 4), w = testValues(N, seed: 15)
        let inp = FloatBuffer(x), out = FloatBuffer(count: N), dout = FloatBuffer(w), dinp = FloatBuffer(count: N)
        geluForward(out: out.pointer, inp: inp.pointer, N: N)
        geluBackward(dinp: dinp.pointer, inp: inp.pointer, dout: dout.pointer, N: N)
        #expect(forwardMatches(out.array, Reference.gelu(x.doubles)))
        #expect(gradientsMatch(dinp.array, numericalGradient(x.doubles) { weightedSum(Reference.gelu($0), w) }))
    }

    @Test func residualGradientsMatchFiniteDifferences() {
        let N = 10
        let a = testValues(N, seed: 16), b = testValues(N, seed: 17), w = testValues(N, seed: 18)
        let aBuffer = FloatBuffer(a), bBuffer = FloatBuffer(b), out = FloatBuffer(count: N)
        let dout = FloatBuffer(w), da = FloatBuffer(count: N), db = FloatBuffer(count: N)
        residualForward(out: out.pointer, a: aBuffer.pointer, b: bBuffer.pointer, N: N)
        residualBackward(da: da.pointer, db: db.pointer, dout: dout.pointer, N: N)
        let sum = { (x: [Double], y: [Double]) in zip(x, y).map(+) }
        #expect(forwardMatches(out.array, sum(a.doubles, b.doubles)))
        #expect(gradientsMatch(da.array, numericalGradient(a.doubles) { weightedSum(sum($0, b.doubles), w) }))
        #expect(gradientsMatch(db.array, numericalGradient(b.doubles) { weightedSum(sum(a.doubles, $0), w) }))
    }

    @Test func crossEntropyGradientMatchesFiniteDifferences() {
        let (N, V) = (4, 7)
        let x = testValues(N * V, seed: 19, scale: 3)
        let targets: [Int32] = [3, -1, 0, 6]  // the second position has no target
        let logits = FloatBuffer(x), losses = FloatBuffer(count: N), lse = FloatBuffer(count: N), dlogits = FloatBuffer(count: N * V)
        targets.withUnsafeBufferPointer { t in
            crossEntropyForward(losses: losses.pointer, logsumexp: lse.pointer, logits: logits.pointer, targets: t.baseAddress!, N: N, V: V)
            crossEntropyBackward(dlogits: dlogits.pointer, logits: logits.pointer, logsumexp: lse.pointer, targets: t.baseAddress!,
                                 dloss: 1 / 3, rows: 0..<N, V: V)
        }
        let meanLoss = losses.array.reduce(0, +) / 3
        let reference = Reference.crossEntropy(x.doubles, targets: targets, N: N, V: V)
        #expect(abs(Double(meanLoss) - reference) < 1e-5)
        #expect(losses.array[1] == 0)
        #expect(gradientsMatch(dlogits.array, numericalGradient(x.doubles) { Reference.crossEntropy($0, targets: targets, N: N, V: V) }))
    }

    @Test(arguments: [false, true])
    func loraGradientsMatchFiniteDifferences(dropout: Bool) {
        let (N, IN, OUT, r) = (3, 11, 5, 2)  // 11 columns: a group of eight and a tail of three
        let scale: Float = 2
        let mask = dropout ? DropoutMask(seed: 7, stream: 3, keep: 0.7) : nil
        let x = testValues(N * IN, seed: 20), a = testValues(r * IN, seed: 21), b = testValues(OUT * r, seed: 22)
        let base = testValues(N * OUT, seed: 23), w = testValues(N * OUT, seed: 24)
        let inp = FloatBuffer(x), A = FloatBuffer(a), B = FloatBuffer(b), out = FloatBuffer(base)
        let h = FloatBuffer(count: N * r), xd = FloatBuffer(count: N * IN), dh = FloatBuffer(count: N * r)
        let dout = FloatBuffer(w), dinp = FloatBuffer(count: N * IN), dA = FloatBuffer(count: r * IN), dB = FloatBuffer(count: OUT * r)
        loraForward(out: out.pointer, h: h.pointer, xd: xd.pointer, inp: inp.pointer, A: A.pointer, B: B.pointer,
                    N: N, IN: IN, OUT: OUT, r: r, scale: scale, mask: mask)
        loraBackward(dinp: dinp.pointer, dA: dA.pointer, dB: dB.pointer, dout: dout.pointer, inp: inp.pointer, h: h.pointer,
                     A: A.pointer, B: B.pointer, xd: xd.pointer, dh: dh.pointer, N: N, IN: IN, OUT: OUT, r: r, scale: scale, mask: mask)
        func branch(_ x: [Double], _ a: [Double], _ b: [Double]) -> [Double] {
            Reference.lora(x, A: a, B: b, N: N, IN: IN, OUT: OUT, r: r, scale: Double(scale), mask: mask)
        }
        #expect(forwardMatches(out.array, zip(base.doubles, branch(x.doubles, a.doubles, b.doubles)).map(+)))
        #expect(gradientsMatch(dA.array, numericalGradient(a.doubles) { weightedSum(branch(x.doubles, $0, b.doubles), w) }))
        #expect(gradientsMatch(dB.array, numericalGradient(b.doubles) { weightedSum(branch(x.doubles, a.doubles, $0), w) }))
        #expect(gradientsMatch(dinp.array, numericalGradient(x.doubles) { weightedSum(branch($0, a.doubles, b.doubles), w) }))
    }

    @Test func dropoutMaskKeepsAboutTheRequestedShare() {
        let mask = DropoutMask(seed: 1, stream: 2, keep: 0.9)
        let (rows, width) = (100, 1000)
        let ones = FloatBuffer([Float](repeating: 1, count: rows * width)), out = FloatBuffer(count: rows * width)
        mask.apply(out: out.pointer, inp: ones.pointer, rows: 0..<rows, width: width)
        let kept = out.array.filter { $0 != 0 }.count
        // Binomial(100000, 0.9): standard deviation ≈ 95, so ±1000 is over 10 sigma.
        #expect(abs(kept - 90_000) < 1000)
        #expect(out.array.allSatisfy { $0 == 0 || abs($0 - 1 / 0.9) < 1e-6 })
        // The slow per-element query agrees with the row kernel.
        #expect((0..<width).allSatisfy { (out.array[3 * width + $0] != 0) == mask.keeps(row: 3, column: $0) })
        // Another stream draws another mask.
        let other = FloatBuffer(count: rows * width)
        DropoutMask(seed: 1, stream: 3, keep: 0.9).apply(out: other.pointer, inp: ones.pointer, rows: 0..<rows, width: width)
        #expect(other.array != out.array)
    }
}
