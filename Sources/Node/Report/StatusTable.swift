// The live table of `starling up` and the output of `starling status`.

import Foundation

/// Text tables of node statuses.
public enum StatusTable {
    /// One row per node: name, phase, round, loss, test perplexity, peers alive, MB in/out.
    /// A nil status prints as unreachable.
    public static func render(_ rows: [(name: String, status: NodeStatus?)]) -> String {
        let header = ["node", "phase", "round", "loss", "test ppl", "peers", "MB in", "MB out"]
        var table: [[String]] = [header]
        for (name, s) in rows {
            guard let s else {
                table.append([name, "unreachable", "-", "-", "-", "-", "-", "-"])
                continue
            }
            table.append([
                name, s.phase.rawValue, "\(s.round)/\(s.rounds)",
                s.loss.map { String(format: "%.3f", $0) } ?? "-",
                s.testPerplexity.map { String(format: "%.2f", $0) } ?? "-",
                "\(s.peersAlive)/\(s.peers.count)",
                String(format: "%.2f", Double(s.bytesIn) / 1e6), String(format: "%.2f", Double(s.bytesOut) / 1e6),
            ])
        }
        return format(table)
    }

    /// Left-aligned first column, right-aligned others, two spaces between columns.
    public static func format(_ table: [[String]]) -> String {
        let widths = (0..<(table.first?.count ?? 0)).map { c in table.map { $0[c].count }.max() ?? 0 }
        return table.map { row in
            row.enumerated().map { c, cell in
                let pad = String(repeating: " ", count: widths[c] - cell.count)
                return c == 0 ? cell + pad : pad + cell
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }
}
