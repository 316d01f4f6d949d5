// What an experiment measured, and its summaries: per-node perplexities of every run,
// mean ± standard deviation over seeds, and the files the results folder holds.

import Foundation

/// The outcome of one run.
public struct ExperimentRunResult: Sendable, Equatable {
    public var key: ExperimentRunKey
    /// Node names, in topology order.
    public var nodes: [String]
    /// Each node's test perplexity after the last round.
    public var perplexities: [Double]
    /// The trust graph of the last round.
    public var graph: TrustGraph
    /// Wall time of the run.
    public var seconds: Double
    /// The parts of each node's served model and what its updates carry (nil: not measured).
    public var figures: ExperimentNodeFigures? = nil
    /// With attackers: what they did to the honest members.
    public var robustness: RobustnessMeasure?
    /// A fedbiot run's AdapFu perplexities and emulator figures (`perplexities` are AdapEmu).
    public var fedbiot: FedBiOTFigures? = nil

    public init(
        key: ExperimentRunKey, nodes: [String], perplexities: [Double], graph: TrustGraph, seconds: Double, robustness: RobustnessMeasure? = nil
    ) {
        self.key = key
        self.nodes = nodes
        self.perplexities = perplexities
        self.graph = graph
        self.seconds = seconds
        self.robustness = robustness
    }

    /// Mean test perplexity over the nodes.
    public var meanPerplexity: Double { Statistic(perplexities).mean }
}

/// Mean and sample standard deviation (n − 1 in the denominator; 0 for a single value).
public struct Statistic: Sendable, Equatable {
    public var mean: Double
    public var standardDeviation: Double
    public var count: Int

    public init(_ values: [Double]) {
        count = values.count
        mean = values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count)
        if values.count > 1 {
            let m = mean
            standardDeviation = (values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(values.count - 1)).squareRoot()
        } else {
            standardDeviation = 0
        }
    }
}

/// Summaries over the runs of an experiment.
public struct ExperimentSummary: Sendable {
    public let plan: ExperimentPlan
    public let results: [ExperimentRunResult]
    /// Node indices of each source group (nodes whose specific rows share their largest source).
    public let groups: [[Int]]

    public init(plan: ExperimentPlan, results: [ExperimentRunResult], groups: [[Int]]) {
        self.plan = plan
        self.results = results
        self.groups = groups
    }

    /// Runs of the main comparison (the main text size) for a strategy and setting, by seed.
    func mainRuns(_ strategy: String, _ setting: ExperimentSetting) -> [ExperimentRunResult] {
        results.filter { $0.key.strategy == strategy && $0.key.setting == setting && $0.key.bytesPerNode == plan.bytesPerNode }
            .sorted { $0.key.seed < $1.key.seed }
    }

    /// Mean over seeds of each seed's mean test perplexity over nodes, ± the standard
    /// deviation of those per-seed means.
    public func perplexity(strategy: String, setting: ExperimentSetting) -> Statistic {
        Statistic(mainRuns(strategy, setting).map(\.meanPerplexity))
    }

    /// Where the trust goes, averaged over nodes and seeds: the weight a node keeps on
    /// itself, the weight on the other members of its source group, and on all others.
    public func trustShares(strategy: String, setting: ExperimentSetting) -> (own: Double, groupPeers: Double, others: Double) {
        var group: [Int: Int] = [:]
        for (g, members) in groups.enumerated() { for i in members { group[i] = g } }
        var own: [Double] = [], peers: [Double] = [], others: [Double] = []
        for run in mainRuns(strategy, setting) {
            for (i, row) in run.graph.weights.enumerated() where run.graph.rounds[i] != nil {
                own.append(row[i])
                peers.append(row.indices.filter { $0 != i && group[$0] == group[i] }.reduce(0) { $0 + row[$1] })
                others.append(row.indices.filter { group[$0] != group[i] }.reduce(0) { $0 + row[$1] })
            }
        }
        return (Statistic(own).mean, Statistic(peers).mean, Statistic(others).mean)
    }

    /// Mean test perplexity over nodes at each sweep size, for one strategy (first seed,
    /// specific setting); sizes without a run are left out.
    public func sweep(strategy: String) -> [(bytes: Int, perplexity: Double)] {
        guard let seed = plan.seeds.first else { return [] }
        return plan.sweepSizes.compactMap { bytes in
            results.first {
                $0.key == ExperimentRunKey(setting: .specific, seed: seed, strategy: strategy, bytesPerNode: bytes)
            }.map { (bytes, $0.meanPerplexity) }
        }
    }

    // MARK: Files

    /// One row per setting, seed, strategy, text size and node.
    public func csv() -> String {
        var out = "setting,seed,strategy,bytes_per_node,node,test_perplexity\n"
        for r in results {
            for (node, ppl) in zip(r.nodes, r.perplexities) {
                out += (r.key.csvCells(node: node) + [csvNumber(ppl)]).joined(separator: ",") + "\n"
            }
        }
        return out
    }

    /// Strategy × setting: mean test perplexity ± deviation over seeds, the change from
    /// `local` and from `fedavg` (when they were run), and where the trust went.
    public func markdown() -> String {
        let settings = plan.settings
        var header = ["strategy"]
        for s in settings { header += ["\(s.rawValue): test ppl", "vs local", "vs fedavg", "trust self / group / others"] }
        var lines = ["| " + header.joined(separator: " | ") + " |", "|" + header.enumerated().map { $0.offset == 0 ? "---" : "---:" }.joined(separator: "|") + "|"]
        func change(_ a: Statistic, _ reference: String, _ s: ExperimentSetting) -> String {
            guard plan.strategies.contains(reference) else { return "–" }
            let b = perplexity(strategy: reference, setting: s)
            guard b.count > 0, a.count > 0, b.mean.isFinite else { return "–" }
            return String(format: "%+.1f%%", 100 * (a.mean / b.mean - 1))
        }
        for strategy in plan.strategies {
            var cells = ["`\(strategy)`"]
            for s in settings {
                let p = perplexity(strategy: strategy, setting: s)
                guard p.count > 0 else {
                    cells += ["–", "–", "–", "–"]
                    continue
                }
                cells.append(String(format: "%.3f ± %.3f", p.mean, p.standardDeviation))
                cells.append(strategy == "local" ? "" : change(p, "local", s))
                cells.append(strategy == "fedavg" ? "" : change(p, "fedavg", s))
                let t = trustShares(strategy: strategy, setting: s)
                cells.append(String(format: "%.2f / %.2f / %.2f", t.own, t.groupPeers, t.others))
            }
            lines.append("| " + cells.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The sweep as CSV: strategy, bytes per node, mean test perplexity.
    public func sweepCSV() -> String {
        var out = "strategy,bytes_per_node,mean_test_perplexity\n"
        for strategy in plan.strategies {
            for (bytes, ppl) in sweep(strategy: strategy) {
                out += "\"\(strategy)\",\(bytes),\(String(format: "%.6f", ppl))\n"
            }
        }
        return out
    }

    /// The sweep as a line plot: one series per strategy.
    public func sweepPlot(title: String) -> LinePlot {
        LinePlot(
            title: title, xLabel: "training tokens per node (log scale)", yLabel: "mean test perplexity",
            series: plan.strategies.map { s in
                LinePlot.Series(name: s, points: sweep(strategy: s).map { (Double($0.bytes), $0.perplexity) })
            }, logarithmicX: true)
    }
}

extension ExperimentRunKey {
    /// The first cells of every per-node row of the experiment's CSV files: setting,
    /// seed, run (quoted), bytes per node, node.
    func csvCells(node: String) -> [String] {
        [setting.rawValue, "\(seed)", "\"\(strategy)\"", "\(bytesPerNode)", node]
    }
}

/// A figure as a CSV cell: six decimals, empty when there is none.
func csvNumber(_ x: Double?) -> String { x.map { String(format: "%.6f", $0) } ?? "" }
