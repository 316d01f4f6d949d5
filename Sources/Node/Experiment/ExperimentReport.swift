// The results folder of an experiment: results.csv, results.md, one trust heatmap per
// strategy, and the data-size sweep as CSV and SVG.

import Foundation
import Learning

extension ExperimentSummary {
    /// The heatmap file of a strategy, e.g. `trust-validation_temperature=0.1.svg`.
    public static func heatmapFileName(_ strategy: String) -> String {
        "trust-\(ExperimentRunKey.fileSafe(strategy)).svg"
    }

    /// Writes every file into `folder` (made if missing); returns their names.
    /// `command` is the command line that made the results, quoted in results.md.
    @discardableResult
    public func write(to folder: String, topology: Topology, specificRows: [[Double]], command: String) throws -> [String] {
        try FileSystem.createDirectory(folder)
        var files: [String: String] = ["results.csv": csv(), "results.md": document(topology: topology, specificRows: specificRows, command: command)]
        if let seed = plan.seeds.first {
            for strategy in plan.strategies {
                let key = ExperimentRunKey(setting: .specific, seed: seed, strategy: strategy, bytesPerNode: plan.bytesPerNode)
                guard let run = results.first(where: { $0.key == key }) else { continue }
                files[Self.heatmapFileName(strategy)] = run.graph.svg(
                    title: "Trust after round \(plan.rounds): \(strategy), specific setting, seed \(seed)")
            }
        }
        if hasFigures { files["nodes.csv"] = nodesCSV() }
        if hasFedBiOT { files["fedbiot.csv"] = fedbiotCSV() }
        if !plan.sweepSizes.isEmpty {
            files["sweep.csv"] = sweepCSV()
            files["sweep.svg"] = sweepPlot(title: "Test perplexity by text size (specific setting, seed \(plan.seeds.first ?? 0))").svg()
        }
        for (name, text) in files { try FileSystem.writeAtomically(Array(text.utf8), to: FileSystem.join(folder, name)) }
        return files.keys.sorted()
    }

    /// results.md: what was run, the table, the figures.
    public func document(topology: Topology, specificRows: [[Double]], command: String) -> String {
        func rows(_ setting: ExperimentSetting) -> String {
            let m = setting.mixtureRows(specificRows, ownShare: plan.ownShare)
            return zip(topology.nodes, m).map { n, r in
                "\(n.name) [" + r.map { String(format: "%.2g", $0) }.joined(separator: ", ") + "]"
            }.joined(separator: "; ")
        }
        var s = "# Trust strategies compared on \(topology.name)\n\n"
        s += "Made by `\(command)`.\n\n"
        s += "\(topology.nodes.count) nodes, \(topology.edges.count) edges (\(topology.shape.rawValue)); sources "
            + topology.sources.joined(separator: ", ") + ". Each run: \(plan.rounds) rounds (\(plan.warmupRounds) of warm-up) of "
            + "\(plan.localSteps) local steps at batch \(plan.batchSize), peak learning rate "
            + "\(plan.learningRate ?? topology.defaults.learningRate), sequence \(topology.defaults.sequenceLength), "
            + "\(plan.bytesPerNode) bytes (= tokens) of training text per node, plus \(plan.evaluationBytes) "
            + "each of trust text (for validation and prediction) and of test text; seeds "
            + plan.seeds.map(String.init).joined(separator: ", ") + " (the seed changes the text, the shared base model, "
            + "initialisation and sampling).\n\n"
        s += "Mixture rows (sources in the order above):\n\n"
        for setting in plan.settings { s += "- \(setting.rawValue): \(rows(setting))\n" }
        s += "\nTest perplexity after the last round: the mean over nodes for each seed, then the mean ± standard "
            + "deviation of those per-seed means over the seeds. \"vs local\" and \"vs fedavg\" are the change of the "
            + "mean from those references (negative is better). \"trust self / group / others\" splits a node's trust "
            + "row of the last round into the weight on itself, on the other nodes of its source group, and on the rest "
            + "(mean over nodes and seeds).\n\n"
        s += markdown()
        if let seed = plan.seeds.first {
            s += "\nTrust heatmaps (specific setting, seed \(seed), last round): "
            s += plan.strategies.map { "[\($0)](\(Self.heatmapFileName($0)))" }.joined(separator: ", ") + ".\n"
        }
        if !plan.sweepSizes.isEmpty {
            s += "\nData-size sweep (specific setting, seed \(plan.seeds.first ?? 0)): [sweep.svg](sweep.svg), [sweep.csv](sweep.csv).\n\n"
            var header = ["strategy"] + plan.sweepSizes.map { "\($0) tokens" }
            var table = ["| " + header.joined(separator: " | ") + " |", "|---" + String(repeating: "|---:", count: plan.sweepSizes.count) + "|"]
            for strategy in plan.strategies {
                let points = Dictionary(uniqueKeysWithValues: sweep(strategy: strategy).map { ($0.bytes, $0.perplexity) })
                header = ["`\(strategy)`"] + plan.sweepSizes.map { points[$0].map { String(format: "%.3f", $0) } ?? "–" }
                table.append("| " + header.joined(separator: " | ") + " |")
            }
            s += table.joined(separator: "\n") + "\n"
        }
        if hasFigures {
            s += "\n## Schemes\n\nBytes per round per node: the encoded payload of one update (the published slot and its "
                + "metadata), published once in every round after the warm-up; the signature envelope and relaying come on top. "
                + "\"served ≤ better part\": the (node, seed) pairs whose served model's test perplexity is no worse than "
                + "that of the better of its two parts alone. Per node: [nodes.csv](nodes.csv).\n\n" + schemeMarkdown()
        }
        if hasFedBiOT {
            s += "\n## FedBiOT\n\nEvery node is a client that holds the emulator and the adapter (the `layout=full` reference: the "
                + "full model); one aligner beside them holds the full model and the public text. The table's \"test ppl\" above is "
                + "AdapEmu. AdapEmu: each client's adapter on its emulator, on its test text; AdapFu: the same adapter in the full "
                + "model, same text (mean over nodes per seed, then mean ± deviation over seeds). Alignment: the loss (NMSE + λ·KL) "
                + "on held-out public text of the emulator as cut, after the alignment before round 1, and at the end. "
                + "Per node: [fedbiot.csv](fedbiot.csv).\n\n" + fedbiotMarkdown()
        }
        let minutes = results.map(\.seconds).reduce(0, +) / 60
        s += String(format: "\n%d runs, %.1f minutes of running nodes in all.\n", results.count, minutes)
        return s
    }
}
