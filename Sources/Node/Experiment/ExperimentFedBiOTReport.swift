// The fedbiot side of an experiment's results: each client's test perplexity with its
// adapter on the emulator (AdapEmu, what a client serves) and plugged into the full
// model (AdapFu), beside what the emulator costs and how well it is aligned.
//
//   fedbiot.csv   one row per run and node
//   results.md    "FedBiOT": run × setting, mean ± deviation over seeds of the per-seed
//                 means over nodes

import Foundation

extension ExperimentSummary {
    /// Whether any run is a fedbiot run.
    var hasFedBiOT: Bool { results.contains { $0.fedbiot != nil } }

    /// One row per fedbiot run and node.
    public func fedbiotCSV() -> String {
        var out = "setting,seed,run,bytes_per_node,node,layout,drop_ratio,adapemu_perplexity,adapfu_perplexity,full_blocks,client_blocks,"
            + "adapter_blocks,full_parameters,client_parameters,payload_bytes,emulator_bytes,alignment_cut,alignment_start,alignment_end,"
            + "screened_out,closest_step_share\n"
        for r in results {
            guard let f = r.fedbiot else { continue }
            for (i, node) in r.nodes.enumerated() {
                let cells = r.key.csvCells(node: node) + [
                    f.layout.rawValue,
                    String(format: "%g", f.dropRatio), csvNumber(r.perplexities[i]), csvNumber(f.adapFu[i]), "\(f.fullBlocks)",
                    "\"" + f.clientBlocks.map(String.init).joined(separator: " ") + "\"", "\"" + f.adapterBlocks.map(String.init).joined(separator: " ") + "\"",
                    "\(f.fullParameters)", "\(f.clientParameters)", "\(f.payloadBytes)", "\(f.emulatorBytes)", csvNumber(f.alignmentCut),
                    csvNumber(f.alignmentStart), csvNumber(f.alignmentEnd), "\(f.screenedOut)", csvNumber(f.closestStepShare),
                ]
                out += cells.joined(separator: ",") + "\n"
            }
        }
        return out
    }

    /// The "FedBiOT" table: per run and setting, AdapEmu and AdapFu test perplexity.
    public func fedbiotMarkdown() -> String {
        var s = "| run | setting | client blocks (of full) | client parameters | AdapEmu test ppl | AdapFu test ppl | AdapFu − AdapEmu | alignment: cut → start → end |\n"
        s += "|---|---|---|---:|---:|---:|---:|---|\n"
        for setting in plan.settings {
            for entry in plan.strategies {
                let runs = mainRuns(entry, setting).filter { $0.fedbiot != nil }
                guard let f = runs.first?.fedbiot else { continue }
                let emu = Statistic(runs.map(\.meanPerplexity)), fu = Statistic(runs.map { $0.fedbiot!.meanAdapFu })
                let gap = Statistic(runs.map { $0.fedbiot!.meanAdapFu - $0.meanPerplexity })
                let align: String
                if f.alignmentCut != nil {
                    func mean(_ k: KeyPath<FedBiOTFigures, Double?>) -> String {
                        String(format: "%.4f", Statistic(runs.compactMap { $0.fedbiot![keyPath: k] }).mean)
                    }
                    align = "\(mean(\.alignmentCut)) → \(mean(\.alignmentStart)) → \(mean(\.alignmentEnd))"
                } else {
                    align = "–"
                }
                s += "| `\(entry)` | \(setting.rawValue) | " + f.clientBlocks.map(String.init).joined(separator: " ") + " (\(f.fullBlocks)) | "
                    + "\(f.clientParameters) / \(f.fullParameters) | " + String(format: "%.3f ± %.3f | %.3f ± %.3f | %+.3f ± %.3f", emu.mean,
                    emu.standardDeviation, fu.mean, fu.standardDeviation, gap.mean, gap.standardDeviation) + " | \(align) |\n"
            }
        }
        return s
    }
}
