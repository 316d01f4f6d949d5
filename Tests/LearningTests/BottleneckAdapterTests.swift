// The bottleneck adapter's kernels against a double reference written here from the
// formula h + U · gelu(D · h), and its backward against central differences of it.

import Foundation
import Testing

@testable import Learning

/// out (N,C) = x + gelu(x · Dᵀ) · Uᵀ in doubles; D is [m, C], U is [C, m].
private func referenceBottleneck(_ x: [Double], D: [Double], U: [Double], N: Int, C: Int, m: Int) -> [Double] {
    var z = [Double](repeating: 0, count: N * m)
    for n in 0..<N {
        for j in 0..<m {
            for c in 0..<C { z[n * m + j] += x[n * C + c] * D[j * C + c] }
        }
    }
    let a = Reference.gelu(z)
    var out = x
    for n in 0..<N {
        for c in 0..<C {
            for j in 0..<m { out[n * C + c] += a[n * m + j] * U[c * m + j] }
        }
    }
    return out
}

@Suite struct BottleneckAdapterTests {
    let N = 5, C = 8, m = 3

    @Test(arguments: [false, true])
    func gradientsMatchFiniteDifferences(inPlace: Bool) {
        let x = testValues(N * C, seed: 11, scale: 1.5), D = testValues(m * C, seed: 12), U = testValues(C * m, seed: 13)
        let w = testValues(N * C, seed: 14)
        let inp = FloatBuffer(x), saved = FloatBuffer(x), dBuffer = FloatBuffer(D), uBuffer = FloatBuffer(U)
        let out = inPlace ? inp : FloatBuffer(count: N * C)
        let z = FloatBuffer(count: N * m), a = FloatBuffer(count: N * m), dz = FloatBuffer(count: N * m)
        bottleneckForward(out: out.pointer, z: z.pointer, a: a.pointer, inp: inp.pointer, D: dBuffer.pointer, U: uBuffer.pointer,
                          N: N, C: C, m: m)
        #expect(forwardMatches(out.array, referenceBottleneck(x.doubles, D: D.doubles, U: U.doubles, N: N, C: C, m: m)))

        let dout = FloatBuffer(w), dinp = inPlace ? dout : FloatBuffer(count: N * C)
        let dD = FloatBuffer(count: m * C), dU = FloatBuffer(count: C * m)
        bottleneckBackward(dinp: dinp.pointer, dD: dD.pointer, dU: dU.pointer, dout: dout.pointer, inp: saved.pointer,
                           z: z.pointer, a: a.pointer, D: dBuffer.pointer, U: uBuffer.pointer, dz: dz.pointer, N: N, C: C, m: m)
        #expect(gradientsMatch(dinp.array, numericalGradient(x.doubles) {
            weightedSum(referenceBottleneck($0, D: D.doubles, U: U.doubles, N: N, C: C, m: m), w)
        }))
        #expect(gradientsMatch(dD.array, numericalGradient(D.doubles) {
            weightedSum(referenceBottleneck(x.doubles, D: $0, U: U.doubles, N: N, C: C, m: m), w)
        }))
        #expect(gradientsMatch(dU.array, numericalGradient(U.doubles) {
            weightedSum(referenceBottleneck(x.doubles, D: D.doubles, U: $0, N: N, C: C, m: m), w)
        }))
    }

    @Test func aZeroUpProjectionLeavesTheStreamAsItWas() {
        let x = testValues(N * C, seed: 21)
        let inp = FloatBuffer(x), out = FloatBuffer(count: N * C), z = FloatBuffer(count: N * m), a = FloatBuffer(count: N * m)
        let D = FloatBuffer(testValues(m * C, seed: 22)), U = FloatBuffer(count: C * m)
        bottleneckForward(out: out.pointer, z: z.pointer, a: a.pointer, inp: inp.pointer, D: D.pointer, U: U.pointer, N: N, C: C, m: m)
        #expect(out.array == x)
    }

    @Test func aFrozenAdapterStillPassesTheInputGradient() {
        let x = testValues(N * C, seed: 31), D = testValues(m * C, seed: 32), U = testValues(C * m, seed: 33), w = testValues(N * C, seed: 34)
        let inp = FloatBuffer(x), dBuffer = FloatBuffer(D), uBuffer = FloatBuffer(U), dout = FloatBuffer(w)
        let z = FloatBuffer(count: N * m), a = FloatBuffer(count: N * m), dz = FloatBuffer(count: N * m)
        let out = FloatBuffer(count: N * C), dinp = FloatBuffer(count: N * C)
        bottleneckForward(out: out.pointer, z: z.pointer, a: a.pointer, inp: inp.pointer, D: dBuffer.pointer, U: uBuffer.pointer,
                          N: N, C: C, m: m)
        bottleneckBackward(dinp: dinp.pointer, dD: nil, dU: nil, dout: dout.pointer, inp: inp.pointer, z: z.pointer, a: a.pointer,
                           D: dBuffer.pointer, U: uBuffer.pointer, dz: dz.pointer, N: N, C: C, m: m)
        #expect(gradientsMatch(dinp.array, numericalGradient(x.doubles) {
            weightedSum(referenceBottleneck($0, D: D.doubles, U: U.doubles, N: N, C: C, m: m), w)
        }))
    }
}
