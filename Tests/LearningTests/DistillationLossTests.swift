// The alignment losses' Float kernels against double references, and their backward
// passes against central differences of those references.

import Foundation
import Testing

@testable import Learning

/// Row-wise softmax in double.
func referenceSoftmax(_ z: [Double], N: Int, V: Int) -> [Double] {
    (0..<N).flatMap { n -> [Double] in
        let row = z[(n * V)..<((n + 1) * V)], top = row.max()!
        let e = row.map { exp($0 - top) }, s = e.reduce(0, +)
        return e.map { $0 / s }
    }
}

/// (1/N) Σ_n Σ_v p log(p / softmax(z)), with 0 · log 0 = 0.
func referenceKL(_ z: [Double], targets p: [Double], N: Int, V: Int) -> Double {
    let q = referenceSoftmax(z, N: N, V: V)
    var sum: Double = 0
    for i in 0..<(N * V) where p[i] > 0 { sum += p[i] * log(p[i] / q[i]) }
    return sum / Double(N)
}

/// (1/N) Σ_n ‖a_n − b_n‖² / (‖b_n‖² + 1e-8).
func referenceNMSE(_ a: [Double], _ b: [Double], N: Int, C: Int) -> Double {
    var total: Double = 0
    for n in 0..<N {
        var error: Double = 0, norm: Double = 0
        for c in 0..<C {
            error += (a[n * C + c] - b[n * C + c]) * (a[n * C + c] - b[n * C + c])
            norm += b[n * C + c] * b[n * C + c]
        }
        total += error / (norm + 1e-8)
    }
    return total / Double(N)
}

@Suite struct DistillationLossTests {
    /// Soft targets from a teacher's logits, one entry of the last row exactly zero.
    static func softTargets(N: Int, V: Int, seed: UInt64) -> [Float] {
        var p = referenceSoftmax(testValues(N * V, seed: seed, scale: 2).doubles, N: N, V: V)
        let last = (N - 1) * V
        let moved = p[last + 1]
        p[last + 1] = 0
        p[last] += moved
        return p.map { Float($0) }
    }

    @Test(arguments: [11, 19])
    func klDivergenceMatchesTheReferenceAndFiniteDifferences(V: Int) {
        let N = 4
        let z = testValues(N * V, seed: 31, scale: 3), p = Self.softTargets(N: N, V: V, seed: 32)
        let logits = FloatBuffer(z), targets = FloatBuffer(p), losses = FloatBuffer(count: N), lse = FloatBuffer(count: N)
        let dlogits = FloatBuffer(count: N * V)
        klDivergenceForward(losses: losses.pointer, logsumexp: lse.pointer, logits: logits.pointer, targets: targets.pointer, N: N, V: V)
        klDivergenceBackward(dlogits: dlogits.pointer, logits: logits.pointer, logsumexp: lse.pointer, targets: targets.pointer,
                             dloss: 1 / Float(N), N: N, V: V)
        let reference = referenceKL(z.doubles, targets: p.doubles, N: N, V: V)
        #expect(abs(Double(losses.array.reduce(0, +)) / Double(N) - reference) < 1e-6)
        #expect(losses.array.allSatisfy { $0 >= 0 })
        #expect(gradientsMatch(dlogits.array, numericalGradient(z.doubles) { referenceKL($0, targets: p.doubles, N: N, V: V) }))
    }

    @Test func klDivergenceBackwardMayOverwriteTheLogits() {
        let (N, V) = (3, 13)
        let z = testValues(N * V, seed: 33, scale: 3), p = Self.softTargets(N: N, V: V, seed: 34)
        let logits = FloatBuffer(z), targets = FloatBuffer(p), losses = FloatBuffer(count: N), lse = FloatBuffer(count: N)
        let separate = FloatBuffer(count: N * V)
        klDivergenceForward(losses: losses.pointer, logsumexp: lse.pointer, logits: logits.pointer, targets: targets.pointer, N: N, V: V)
        klDivergenceBackward(dlogits: separate.pointer, logits: logits.pointer, logsumexp: lse.pointer, targets: targets.pointer,
                             dloss: 0.5, N: N, V: V)
        klDivergenceBackward(dlogits: logits.pointer, logits: logits.pointer, logsumexp: lse.pointer, targets: targets.pointer,
                             dloss: 0.5, N: N, V: V)
        #expect(logits.array == separate.array)
    }

    @Test func klDivergenceOfADistributionFromItselfIsZero() {
        let (N, V) = (2, 9)
        let z = testValues(N * V, seed: 35, scale: 3)
        let p = referenceSoftmax(z.doubles, N: N, V: V).map { Float($0) }
        let logits = FloatBuffer(z), targets = FloatBuffer(p), losses = FloatBuffer(count: N), lse = FloatBuffer(count: N)
        let dlogits = FloatBuffer(count: N * V)
        klDivergenceForward(losses: losses.pointer, logsumexp: lse.pointer, logits: logits.pointer, targets: targets.pointer, N: N, V: V)
        klDivergenceBackward(dlogits: dlogits.pointer, logits: logits.pointer, logsumexp: lse.pointer, targets: targets.pointer,
                             dloss: 1, N: N, V: V)
        #expect(losses.array.allSatisfy { abs($0) < 1e-6 })
        #expect(dlogits.array.allSatisfy { abs($0) < 1e-6 })
    }

    @Test func softmaxMatchesTheReference() {
        let (N, V) = (3, 21)
        let z = testValues(N * V, seed: 36, scale: 4)
        let logits = FloatBuffer(z), probabilities = FloatBuffer(count: N * V)
        softmaxForward(probabilities: probabilities.pointer, logits: logits.pointer, N: N, V: V)
        #expect(forwardMatches(probabilities.array, referenceSoftmax(z.doubles, N: N, V: V)))
    }

    @Test func normalisedMSEMatchesTheReferenceAndFiniteDifferences() {
        let (N, C) = (3, 10)
        let a = testValues(N * C, seed: 41, scale: 2), b = testValues(N * C, seed: 42, scale: 3)
        let prediction = FloatBuffer(a), target = FloatBuffer(b), inverse = FloatBuffer(count: N)
        let da = FloatBuffer([Float](repeating: 0.25, count: N * C))  // backward accumulates
        let loss = normalisedMSEForward(inverseNorms: inverse.pointer, prediction: prediction.pointer, target: target.pointer, N: N, C: C)
        normalisedMSEBackward(da: da.pointer, prediction: prediction.pointer, target: target.pointer, inverseNorms: inverse.pointer,
                              dloss: 1, N: N, C: C)
        #expect(abs(Double(loss) - referenceNMSE(a.doubles, b.doubles, N: N, C: C)) < 1e-6)
        let numerical = numericalGradient(a.doubles) { referenceNMSE($0, b.doubles, N: N, C: C) }
        #expect(gradientsMatch(da.array.map { $0 - 0.25 }, numerical))
    }

    /// By hand: a = 2b gives ‖b‖² / ‖b‖² = 1 at every position, a = b gives 0, and a
    /// zero target position stays finite.
    @Test func normalisedMSEIsRelativeToTheTarget() {
        let (N, C) = (2, 3)
        let b: [Float] = [1, 2, 2, 100, 0, 0]  // norms 3 and 100: the loss does not care
        let inverse = FloatBuffer(count: N)
        func loss(_ a: [Float], _ b: [Float]) -> Float {
            let prediction = FloatBuffer(a), target = FloatBuffer(b)
            return withExtendedLifetime((prediction, target)) {
                normalisedMSEForward(inverseNorms: inverse.pointer, prediction: prediction.pointer, target: target.pointer, N: N, C: C)
            }
        }
        #expect(abs(loss(b.map { 2 * $0 }, b) - 1) < 1e-6)
        #expect(loss(b, b) == 0)
        #expect(loss([0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]) == 0)
        #expect(loss([1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]).isFinite)
    }
}
