// The scheme side of an experiment's results: what each run's updates cost (bytes
// published per round per node, parameters of the published slot) and, for the
// two-part schemes, each node's served model beside its parts alone.
//
//   nodes.csv   one row per run and node: served test perplexity, each part's alone,
//               the fusion weights, the payload bytes
//   results.md  "Schemes": run × setting table, then the per-node comparison

import Foundation

extension ExperimentSummary {
    /// Whether any run measured per-node figures.
    var hasFigures: Bool { results.contains { $0.figures != nil } }

    /// One row per run and node.
    public func nodesCSV() -> String {
        var out = "setting,seed,run,bytes_per_node,node,test_perplexity,part1,part1_perplexity,part2,part2_perplexity,w1,w2,"
            + "payload_bytes,published_parameters,published_rounds\n"
        for r in results {
            guard let f = r.figures else { continue }
            for (i, node) in r.nodes.enumerated() {
                let parts = f.partPerplexities[i]
                let w = f.fusionWeights[i]
                let cells = r.key.csvCells(node: node) + [
                    csvNumber(r.perplexities[i]),
                    f.partNames.first ?? "", csvNumber(parts.first), f.partNames.count > 1 ? f.partNames[1] : "", csvNumber(parts.count > 1 ? parts[1] : nil),
                    csvNumber(w?.first), csvNumber(w.map { $0[1] }), "\(f.payloadBytes[i])", "\(f.publishedParameters)", "\(f.publishedRounds)",
                ]
                out += cells.joined(separator: ",") + "\n"
            }
        }
        return out
    }

    /// For the runs of `entry` in `setting`: how many (node, seed) pairs serve a model
    /// no worse than the better of its two parts alone, out of how many.
    public func servedNoWorse(entry: String, setting: ExperimentSetting) -> (count: Int, of: Int) {
        var count = 0, total = 0
        for r in mainRuns(entry, setting) {
            guard let f = r.figures, f.partNames.count == 2 else { continue }
            for (served, parts) in zip(r.perplexities, f.partPerplexities) {
                total += 1
                if served <= parts.min()! { count += 1 }
            }
        }
        return (count, total)
    }

    /// The "Schemes" section: a run × setting table of test perplexity and bytes, then
    /// each two-part run's nodes.
    public func schemeMarkdown() -> String {
        var s = "| run | setting | test ppl | vs local | vs fedavg | bytes per round per node | published parameters | served ≤ better part |\n"
        s += "|---|---|---:|---:|---:|---:|---:|---:|\n"
        for setting in plan.settings {
            let local = perplexity(strategy: "local", setting: setting), fedavg = perplexity(strategy: "fedavg", setting: setting)
            for entry in plan.strategies {
                let runs = mainRuns(entry, setting)
                guard !runs.isEmpty else { continue }
                let p = perplexity(strategy: entry, setting: setting)
                func change(_ reference: Statistic, _ name: String) -> String {
                    guard entry != name, reference.count > 0, reference.mean.isFinite else { return "" }
                    return String(format: "%+.1f%%", 100 * (p.mean / reference.mean - 1))
                }
                let figures = runs.compactMap(\.figures)
                let bytes = figures.isEmpty ? "–" : String(format: "%.0f", Statistic(figures.map(\.meanPayloadBytes)).mean)
                let parameters = figures.first.map { "\($0.publishedParameters)" } ?? "–"
                let noWorse = servedNoWorse(entry: entry, setting: setting)
                s += "| `\(entry)` | \(setting.rawValue) | " + String(format: "%.3f ± %.3f", p.mean, p.standardDeviation)
                    + " | \(change(local, "local")) | \(change(fedavg, "fedavg")) | \(bytes) | \(parameters) | "
                    + (noWorse.of > 0 ? "\(noWorse.count) / \(noWorse.of)" : "") + " |\n"
            }
        }
        for entry in plan.strategies {
            for setting in plan.settings {
                let runs = mainRuns(entry, setting).filter { ($0.figures?.partNames.count ?? 0) == 2 }
                guard let names = runs.first?.figures?.partNames else { continue }
                let fuses = runs.contains { $0.figures!.fusionWeights.contains { $0 != nil } }
                s += "\n`\(entry)`, \(setting.rawValue) setting: test perplexity of each node's served model and of its parts alone"
                    + (fuses ? ", and the fusion weights (w1, w2) of the last round" : "") + "; ✗ marks a served model worse than its better part.\n\n"
                s += "| seed | node | served | \(names[0]) alone | \(names[1]) alone |" + (fuses ? " w1 | w2 |" : "") + "\n"
                s += "|---:|---|---:|---:|---:|" + (fuses ? "---:|---:|" : "") + "\n"
                for r in runs {
                    let f = r.figures!
                    for (i, node) in r.nodes.enumerated() {
                        let parts = f.partPerplexities[i]
                        let mark = r.perplexities[i] <= parts.min()! ? "" : " ✗"
                        s += "| \(r.key.seed) | \(node) | " + String(format: "%.3f", r.perplexities[i]) + mark + " | "
                            + parts.map { String(format: "%.3f", $0) }.joined(separator: " | ") + " |"
                        if fuses, let w = f.fusionWeights[i] { s += String(format: " %.3f | %.3f |", w[0], w[1]) }
                        s += "\n"
                    }
                }
            }
        }
        return s
    }
}
