// AdamW: Adam with decoupled weight decay, over one flat parameter buffer.

import Foundation

/// The AdamW optimizer (Loshchilov & Hutter), as PyTorch's `torch.optim.AdamW` computes it:
///
///     p ← p − lr·λ·p
///     m ← β1·m + (1−β1)·g,   v ← β2·v + (1−β2)·g²
///     p ← p − lr · (m / (1−β1ᵗ)) / (sqrt(v / (1−β2ᵗ)) + ε)
///
/// The moments are flat buffers mirroring the trainable layout.
public final class AdamW {
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public var weightDecay: Float
    /// Steps taken so far (t of the bias correction).
    public private(set) var stepCount = 0
    let m: FloatBuffer
    let v: FloatBuffer

    public init(parameterCount: Int, beta1: Float = 0.9, beta2: Float = 0.95, epsilon: Float = 1e-8, weightDecay: Float = 1e-3) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        m = FloatBuffer(count: parameterCount)
        v = FloatBuffer(count: parameterCount)
    }

    /// Continues counting from `steps` (a restored state's bias-correction t).
    func restoreStepCount(_ steps: Int) { stepCount = steps }

    /// Number of values each moment holds.
    public var parameterCount: Int { m.count }

    /// Updates `parameters` in place from `gradients` (both `parameterCount` long).
    func step(parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>, learningRate: Float) {
        step(segments: [(parameters, UnsafeMutablePointer(mutating: gradients), parameterCount)], learningRate: learningRate)
    }

    /// One step over parameters held in several runs: the moments cover the runs one
    /// after another (their counts add up to `parameterCount`).
    func step(segments: [(values: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>, count: Int)], learningRate: Float) {
        precondition(segments.reduce(0) { $0 + $1.count } == parameterCount, "AdamW holds \(parameterCount) moments")
        stepCount += 1
        let t = Float(stepCount)
        let correction1 = 1 - pow(beta1, t), correction2 = 1 - pow(beta2, t)
        let (b1, b2, eps, decay) = (beta1, beta2, epsilon, weightDecay)
        var offset = 0
        for segment in segments {
            let m = m.pointer + offset, v = v.pointer + offset
            let parameters = segment.values, gradients = segment.gradients
            Parallel.forRanges(segment.count, costPerItem: 16) { range in
                for i in range {
                    let g = gradients[i]
                    let mi = b1 * m[i] + (1 - b1) * g
                    let vi = b2 * v[i] + (1 - b2) * g * g
                    m[i] = mi
                    v[i] = vi
                    let update = (mi / correction1) / ((vi / correction2).squareRoot() + eps)
                    parameters[i] -= learningRate * (update + decay * parameters[i])
                }
            }
            offset += segment.count
        }
    }

    /// Updates `parameters` in place from `gradients`, Swift arrays of `parameterCount`.
    public func step(parameters: inout [Float], gradients: [Float], learningRate: Float) {
        precondition(parameters.count == parameterCount && gradients.count == parameterCount,
                     "AdamW holds \(parameterCount) moments")
        parameters.withUnsafeMutableBufferPointer { p in
            gradients.withUnsafeBufferPointer { g in step(parameters: p.baseAddress!, gradients: g.baseAddress!, learningRate: learningRate) }
        }
    }
}
