// The frames of `starling trust --watch`: the heatmap of the latest rows under a line
// saying which round they are from and how far they moved since the frame before.

import Foundation

/// Frames of a trust graph watched over rounds.
public enum TrustWatch {
    /// A heading (the round, or the range of rounds when rows differ, out of `rounds`),
    /// the change since `previous` (the graph of the last frame), then the heatmap.
    public static func frame(_ graph: TrustGraph, previous: TrustGraph?, rounds total: Int, color: Bool) -> String {
        let shown = graph.rounds.compactMap { $0 }
        var heading: String
        if let low = shown.min(), let high = shown.max() {
            heading = (low == high ? "round \(high)" : "rounds \(low)–\(high)") + " of \(total)"
        } else {
            heading = "no aggregation round yet (of \(total))"
        }
        if let previous, let before = previous.rounds.compactMap({ $0 }).max() {
            let c = graph.change(since: previous)
            heading += String(format: " · change since round %d: largest %.3f", before, c.largest)
            if c.largest > 0 { heading += " (\(graph.nodes[c.from]) → \(graph.nodes[c.to]))" }
            heading += String(format: ", mean %.4f", c.mean)
        }
        return heading + "\n" + graph.heatmap(color: color)
    }
}
