// FusionSearch: the derivative-free search of FDLoRA's adaptive fusion (arXiv
// 2406.07925, after LoraHub): minimise
//
//   L_fusion(w) + λ · (|w1| + |w2|) / 2,   λ = 0.05,   w ∈ [−1.5, 1.5]²
//
// over two fusion weights with a fixed budget of loss evaluations. A loss evaluation
// is a forward pass over a few batches, so the budget, not the arithmetic, is what
// counts.
//
// The method is Nelder–Mead on a triangle (reflection 1, expansion 2, contraction ½,
// shrink ½), every trial point projected onto the box, so no point outside it is ever
// evaluated. A projected point that repeats one already evaluated costs nothing (the
// values are remembered). Our choice: the first triangle is given by the caller, so
// FDLoRA starts from (1, 0) (global only), (0, 1) (personal only) and the previous
// round's weights — the search can then only end at or below the best of those.
// The L1 penalty puts a kink along each axis, where a triangle flattens and stalls,
// so the last fifth of the budget (at most 8 evaluations) polls along the axes
// instead: the best point moved by ±h in each coordinate, and each coordinate set
// to zero, h halving whenever nothing improves.

/// The result of one search.
public struct FusionSearchResult: Sendable, Equatable {
    /// The best point evaluated.
    public var weights: [Double]
    /// The objective (loss plus penalty) there.
    public var objective: Double
    /// Loss evaluations spent (never more than the budget).
    public var evaluations: Int
}

public enum FusionSearch {
    /// The box both weights stay in.
    public static let bound = 1.5
    /// λ of the L1 penalty.
    public static let penalty = 0.05

    /// The penalised objective at `w` given the loss there.
    public static func objective(loss: Double, weights w: [Double]) -> Double {
        loss + penalty * (abs(w[0]) + abs(w[1])) / 2
    }

    /// `w` moved onto the box.
    public static func project(_ w: [Double]) -> [Double] { w.map { min(bound, max(-bound, $0)) } }

    /// Minimises `f` (already penalised) over the box with at most `budget` calls,
    /// starting from the triangle `start` (three points; projected onto the box).
    /// Stops early when the triangle is smaller than `tolerance` in every coordinate.
    public static func minimise(
        start: [[Double]], budget: Int, tolerance: Double = 1e-6, _ f: ([Double]) throws -> Double
    ) rethrows -> FusionSearchResult {
        precondition(start.count == 3 && start.allSatisfy { $0.count == 2 }, "a triangle of three points in the plane")
        precondition(budget >= 1, "a search needs at least one evaluation")
        var memo: [[UInt64]: Double] = [:]
        var spent = 0
        var best: (point: [Double], value: Double)?
        // nil when the budget is spent.
        func value(_ raw: [Double]) throws -> Double? {
            let w = project(raw)
            let key = w.map(\.bitPattern)
            if let known = memo[key] { return known }
            guard spent < budget else { return nil }
            spent += 1
            let v = try f(w)
            memo[key] = v
            if best == nil || v < best!.value { best = (w, v) }
            return v
        }

        let polish = min(8, budget / 5)
        let simplexBudget = budget - polish
        var simplex: [(point: [Double], value: Double)] = []
        for p in start {
            guard let v = try value(p) else { break }
            simplex.append((project(p), v))
        }
        search: while simplex.count == 3 && spent < simplexBudget {
            simplex.sort { $0.value < $1.value }
            let spread = (0..<2).map { d in simplex.map { $0.point[d] }.max()! - simplex.map { $0.point[d] }.min()! }
            if spread.allSatisfy({ $0 < tolerance }) { break }
            let worst = simplex[2]
            let centroid = (0..<2).map { d in (simplex[0].point[d] + simplex[1].point[d]) / 2 }
            func along(_ t: Double) -> [Double] { project((0..<2).map { d in centroid[d] + t * (centroid[d] - worst.point[d]) }) }

            let reflected = along(1)
            guard let fr = try value(reflected) else { break }
            if fr < simplex[0].value {
                let expanded = along(2)
                guard let fe = try value(expanded) else {
                    simplex[2] = (reflected, fr)
                    break
                }
                simplex[2] = fe < fr ? (expanded, fe) : (reflected, fr)
                continue
            }
            if fr < simplex[1].value {
                simplex[2] = (reflected, fr)
                continue
            }
            // Contraction: outside when the reflection beat the worst point, inside otherwise.
            let contracted = along(fr < worst.value ? 0.5 : -0.5)
            guard let fc = try value(contracted) else { break }
            if fc < min(fr, worst.value) {
                simplex[2] = (contracted, fc)
                continue
            }
            // Shrink toward the best point.
            for k in 1...2 {
                let p = project((0..<2).map { d in simplex[0].point[d] + 0.5 * (simplex[k].point[d] - simplex[0].point[d]) })
                guard let v = try value(p) else { break search }
                simplex[k] = (p, v)
            }
        }
        // Polish along the axes, starting at the scale the triangle ended at.
        if var (point, v) = best {
            var h = max(1e-3, (0..<2).map { d in simplex.map { $0.point[d] }.max()! - simplex.map { $0.point[d] }.min()! }.max()!)
            polishing: while spent < budget && h > tolerance {
                var improved = false
                var trials: [[Double]] = []
                for d in 0..<2 {
                    for step in [h, -h] {
                        var p = point
                        p[d] += step
                        trials.append(p)
                    }
                    if point[d] != 0 {
                        var p = point
                        p[d] = 0
                        trials.append(p)
                    }
                }
                for p in trials {
                    guard let value = try value(p) else { break polishing }
                    if value < v {
                        (point, v) = (project(p), value)
                        improved = true
                        break
                    }
                }
                if !improved { h /= 2 }
            }
        }
        return FusionSearchResult(weights: best!.point, objective: best!.value, evaluations: spent)
    }
}
