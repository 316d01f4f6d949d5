// The `descent` rule of `validation`: instead of turning each candidate's own loss into
// a weight, choose the row whose aggregate has the lowest loss on the node's trust
// split. The aggregate's loss is what the node will live with; a candidate good alone
// may not average well, and two mediocre ones may.

/// A few greedy steps on the simplex, in the manner of greedy model soups (Wortsman et
/// al., ICML 2022) and Frank–Wolfe with step 1/(t + 1).
///
/// The row starts at the node itself, w = e_0, with loss L_0. Step t (1…`steps`) tries,
/// for every candidate j in order, w' = (t · w + e_j) / (t + 1) — one more equal share
/// for j, so after t accepted steps w counts how often each candidate was picked, over
/// t + 1 — and keeps the w' of lowest aggregate loss if that is strictly below the
/// current one; otherwise it stops. Ties go to the smaller index. The search never
/// leaves the simplex, costs at most `steps` × (candidates) evaluations, and its row is
/// never worse on the trust split than the node's own model. All trials of a step are
/// scored in one `losses` call, so an evaluator can stack them.
public enum AggregateDescent {
    /// The row; `losses(ws)` is the trust-split loss of the aggregate with weights w, for
    /// every w of `ws` in order.
    public static func row(
        ownLoss: Double, candidates: Int, steps: Int, losses: ([[Double]]) throws -> [Double]
    ) rethrows -> [Double] {
        precondition(candidates >= 1 && steps >= 1)
        var counts = [Double](repeating: 0, count: candidates)
        counts[0] = 1
        var current = ownLoss
        for t in 1...steps {
            let tried = (0..<candidates).filter { counts[$0] < Double(t) }  // else w' = w
            let trials = tried.map { j in
                var trial = counts
                trial[j] += 1
                return trial.map { $0 / Double(t + 1) }
            }
            let values = try losses(trials)
            precondition(values.count == trials.count, "one loss per trial")
            var best: (j: Int, loss: Double)? = nil
            for (j, value) in zip(tried, values) where value.isFinite && value < (best?.loss ?? current) {
                best = (j, value)
            }
            guard let best else { break }
            counts[best.j] += 1
            current = best.loss
        }
        let total = counts.reduce(0, +)
        return counts.map { $0 / total }
    }
}
