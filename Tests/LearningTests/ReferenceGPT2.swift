// A slow, independent double-precision GPT-2 used as the reference that the Float
// kernels and their gradients are checked against. Plain loops, no BLAS.

import Foundation

@testable import Learning

enum Reference {
    /// out (B,T,C) = wte[token] + wpe[t]
    static func encoder(tokens: [Int32], wte: [Double], wpe: [Double], B: Int, T: Int, C: Int) -> [Double] {
        var out = [Double](repeating: 0, count: B * T * C)
        for b in 0..<B {
            for t in 0..<T {
                let token = Int(tokens[b * T + t])
                for c in 0..<C { out[(b * T + t) * C + c] = wte[token * C + c] + wpe[t * C + c] }
            }
        }
        return out
    }

    static func layerNorm(_ x: [Double], weight: [Double], bias: [Double], N: Int, C: Int) -> [Double] {
        var out = [Double](repeating: 0, count: N * C)
        for n in 0..<N {
            let row = x[(n * C)..<((n + 1) * C)]
            let mean = row.reduce(0, +) / Double(C)
            let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(C)
            let rstd = 1 / (variance + 1e-5).squareRoot()
            for c in 0..<C { out[n * C + c] = (x[n * C + c] - mean) * rstd * weight[c] + bias[c] }
        }
        return out
    }

    /// out (N,OC) = x (N,IC) · W (IC,OC) + bias
    static func matmul(_ x: [Double], weight: [Double], bias: [Double]?, N: Int, IC: Int, OC: Int) -> [Double] {
        var out = [Double](repeating: 0, count: N * OC)
        for n in 0..<N {
            for o in 0..<OC {
                var sum = bias?[o] ?? 0
                for i in 0..<IC { sum += x[n * IC + i] * weight[i * OC + o] }
                out[n * OC + o] = sum
            }
        }
        return out
    }

    static func attention(_ qkv: [Double], B: Int, T: Int, C: Int, NH: Int) -> [Double] {
        let hs = C / NH
        let scale = 1 / Double(hs).squareRoot()
        var out = [Double](repeating: 0, count: B * T * C)
        for b in 0..<B {
            for h in 0..<NH {
                for t1 in 0..<T {
                    var scores = [Double](repeating: 0, count: t1 + 1)
                    for t2 in 0...t1 {
                        var dot = 0.0
                        for i in 0..<hs {
                            dot += qkv[(b * T + t1) * 3 * C + h * hs + i] * qkv[(b * T + t2) * 3 * C + C + h * hs + i]
                        }
                        scores[t2] = dot * scale
                    }
                    let maximum = scores.max()!
                    let exps = scores.map { exp($0 - maximum) }
                    let sum = exps.reduce(0, +)
                    for i in 0..<hs {
                        var value = 0.0
                        for t2 in 0...t1 { value += exps[t2] / sum * qkv[(b * T + t2) * 3 * C + 2 * C + h * hs + i] }
                        out[(b * T + t1) * C + h * hs + i] = value
                    }
                }
            }
        }
        return out
    }

    static func gelu(_ x: [Double]) -> [Double] {
        x.map { 0.5 * $0 * (1 + tanh((2 / Double.pi).squareRoot() * ($0 + 0.044715 * $0 * $0 * $0))) }
    }

    /// Mean of -log softmax(logits)[target] over rows whose target is not negative.
    static func crossEntropy(_ logits: [Double], targets: [Int32], N: Int, V: Int) -> Double {
        var total = 0.0
        var count = 0
        for n in 0..<N where targets[n] >= 0 {
            let row = logits[(n * V)..<((n + 1) * V)]
            let maximum = row.max()!
            let lse = maximum + log(row.reduce(0) { $0 + exp($1 - maximum) })
            total += lse - logits[n * V + Int(targets[n])]
            count += 1
        }
        return total / Double(count)
    }

    /// scale · (x ⊙ keep / p) · Aᵀ · Bᵀ, the LoRA branch's addition to (N,OUT).
    static func lora(_ x: [Double], A: [Double], B: [Double], N: Int, IN: Int, OUT: Int, r: Int,
                     scale: Double, mask: DropoutMask?) -> [Double] {
        var xd = x
        if let mask {
            for i in xd.indices { xd[i] = mask.keeps(row: i / IN, column: i % IN) ? x[i] / Double(mask.keep) : 0 }
        }
        var out = [Double](repeating: 0, count: N * OUT)
        for n in 0..<N {
            var h = [Double](repeating: 0, count: r)
            for k in 0..<r {
                for i in 0..<IN { h[k] += xd[n * IN + i] * A[k * IN + i] }
            }
            for o in 0..<OUT {
                var sum = 0.0
                for k in 0..<r { sum += h[k] * B[o * r + k] }
                out[n * OUT + o] = scale * sum
            }
        }
        return out
    }

    /// The whole model's mean loss, from HF-named parameters and PEFT-named adapter tensors.
    static func modelLoss(config: ModelConfig, parameters: [String: [Double]], lora: LoRAConfig?, adapter: [String: [Double]],
                          inputs: [Int32], targets: [Int32], B: Int, T: Int) -> Double {
        let C = config.channels, N = B * T, V = config.vocabularySize
        func projection(_ l: Int, _ target: LoRAConfig.Target, _ x: [Double], IC: Int, OC: Int) -> [Double] {
            let path = "h.\(l).\(target.rawValue)"
            var out = matmul(x, weight: parameters[path + ".weight"]!, bias: parameters[path + ".bias"]!, N: N, IC: IC, OC: OC)
            if let lora, lora.targets.contains(target) {
                let delta = Reference.lora(x, A: adapter[path + ".lora_A"]!, B: adapter[path + ".lora_B"]!, N: N, IN: IC, OUT: OC,
                                           r: lora.rank, scale: Double(lora.scale), mask: nil)
                for i in out.indices { out[i] += delta[i] }
            }
            return out
        }
        var x = encoder(tokens: inputs, wte: parameters["wte.weight"]!, wpe: parameters["wpe.weight"]!, B: B, T: T, C: C)
        for l in 0..<config.layers {
            let p = "h.\(l)."
            let ln1 = layerNorm(x, weight: parameters[p + "ln_1.weight"]!, bias: parameters[p + "ln_1.bias"]!, N: N, C: C)
            let qkv = projection(l, .attentionQKV, ln1, IC: C, OC: 3 * C)
            let atty = attention(qkv, B: B, T: T, C: C, NH: config.heads)
            let attproj = projection(l, .attentionOutput, atty, IC: C, OC: C)
            for i in x.indices { x[i] += attproj[i] }
            let ln2 = layerNorm(x, weight: parameters[p + "ln_2.weight"]!, bias: parameters[p + "ln_2.bias"]!, N: N, C: C)
            let fch = gelu(projection(l, .mlpIn, ln2, IC: C, OC: 4 * C))
            let fcproj = projection(l, .mlpOut, fch, IC: 4 * C, OC: C)
            for i in x.indices { x[i] += fcproj[i] }
        }
        let lnf = layerNorm(x, weight: parameters["ln_f.weight"]!, bias: parameters["ln_f.bias"]!, N: N, C: C)
        // Tied output layer: logits = lnf · wteᵀ
        let wte = parameters["wte.weight"]!
        var logits = [Double](repeating: 0, count: N * V)
        for n in 0..<N {
            for v in 0..<V {
                var sum = 0.0
                for c in 0..<C { sum += lnf[n * C + c] * wte[v * C + c] }
                logits[n * V + v] = sum
            }
        }
        return crossEntropy(logits, targets: targets, N: N, V: V)
    }
}

/// Central difference d loss / d x[i] in double precision.
func centralDifference(_ x: [Double], at i: Int, step: Double = 1e-5, _ loss: ([Double]) -> Double) -> Double {
    var plus = x, minus = x
    plus[i] += step
    minus[i] -= step
    return (loss(plus) - loss(minus)) / (2 * step)
}

/// Every central difference of `loss` with respect to `x`.
func numericalGradient(_ x: [Double], _ loss: ([Double]) -> Double) -> [Double] {
    x.indices.map { centralDifference(x, at: $0, loss) }
}

/// Float analytic gradients against double central differences.
///
/// The numerical side is exact to ~1e-9 (O(step²) truncation, double rounding). The
/// analytic side is Float32: each value sums at most a few hundred products, each
/// rounding at 2⁻²⁴ ≈ 6e-8, so its relative error stays below ~1e-5. A tolerance of
/// 1e-3 relative (plus 1e-5 absolute for values near zero) leaves a wide margin for
/// rounding while a wrong formula — a missing term, a transposed index, a wrong
/// scale — is off by far more.
func gradientsMatch(_ analytic: [Float], _ numerical: [Double], relative: Double = 1e-3, absolute: Double = 1e-5) -> Bool {
    guard analytic.count == numerical.count else { return false }
    return zip(analytic, numerical).allSatisfy { abs(Double($0) - $1) <= absolute + relative * abs($1) }
}

/// Deterministic test values in [-scale, scale].
func testValues(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    var random = SeededRandom(seed: seed)
    return (0..<count).map { _ in random.uniform(-scale, scale) }
}

extension Array where Element == Float {
    var doubles: [Double] { map(Double.init) }
}

/// Σ out · weights: a scalar loss whose gradient with respect to out is `weights`.
func weightedSum(_ out: [Double], _ weights: [Float]) -> Double {
    zip(out, weights).reduce(0) { $0 + $1.0 * Double($1.1) }
}
