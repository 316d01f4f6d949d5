// The trust graph of a network: row i holds the weights node i gave every node in one
// round. Rendered as a terminal heatmap, JSON, CSV, Graphviz DOT or SVG.

import Foundation

/// Nodes × nodes trust weights, as assembled from the nodes' trust records.
public struct TrustGraph: Sendable, Equatable, Codable {
    /// Node names, in topology order: row and column labels.
    public var nodes: [String]
    /// weights[i][j]: the weight node i gave node j (0 where j was not a candidate).
    public var weights: [[Double]]
    /// The round each row comes from (nil where the node has no record yet).
    public var rounds: [Int?]
    /// The strategy each row was computed with.
    public var strategies: [String?]
    /// For a row carried over from an earlier round (`trust_every`), the round that scored
    /// it; nil where the row was scored in its own round. Absent from graphs of earlier
    /// versions.
    public var scoredRounds: [Int?]?

    public init(nodes: [String], weights: [[Double]], rounds: [Int?], strategies: [String?], scoredRounds: [Int?]? = nil) {
        precondition(weights.count == nodes.count && weights.allSatisfy { $0.count == nodes.count })
        precondition(scoredRounds.map { $0.count == nodes.count } ?? true)
        self.nodes = nodes
        self.weights = weights
        self.rounds = rounds
        self.strategies = strategies
        self.scoredRounds = scoredRounds
    }

    /// The output formats of `starling trust`.
    public enum Format: String, Sendable, CaseIterable {
        case heatmap, json, csv, dot, svg
    }

    /// The graph in `format`. `color` applies to the heatmap only.
    public func rendered(as format: Format, color: Bool = true, title: String? = nil) -> String {
        switch format {
        case .heatmap: return heatmap(color: color)
        case .json: return json()
        case .csv: return csv()
        case .dot: return dot()
        case .svg: return svg(title: title)
        }
    }

    // MARK: Formats

    /// Rows of two-decimal weights; with `color`, each cell's background shows its weight.
    public func heatmap(color: Bool) -> String {
        let width = max(5, nodes.map(\.count).max() ?? 0)
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }
        var out = pad("from \\ to", width) + " " + nodes.map { lpad(String($0.prefix(width)), width) }.joined(separator: " ") + "\n"
        for (i, row) in weights.enumerated() {
            out += pad(nodes[i], width) + " "
            out += row.map { w -> String in
                let cell = lpad(String(format: "%.2f", w), width)
                guard color else { return cell }
                let (r, g, b) = ColorScale.rgb(w)
                let ink = ColorScale.luminance(w) > 0.5 ? "30" : "97"
                return "\u{1B}[48;2;\(r);\(g);\(b)m\u{1B}[\(ink)m\(cell)\u{1B}[0m"
            }.joined(separator: " ")
            if let round = rounds[i] { out += "  round \(round)" } else { out += "  (no record)" }
            if let scored = scoredRounds?[i] { out += " (scores of round \(scored))" }
            out += "\n"
        }
        if color {
            let steps = stride(from: 0.0, through: 1.0, by: 0.125).map { w -> String in
                let (r, g, b) = ColorScale.rgb(w)
                return "\u{1B}[48;2;\(r);\(g);\(b)m  \u{1B}[0m"
            }
            out += "scale 0 " + steps.joined() + " 1\n"
        }
        return out
    }

    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self) + "\n"
    }

    public func csv() -> String {
        var out = "from," + nodes.joined(separator: ",") + "\n"
        for (i, row) in weights.enumerated() {
            out += nodes[i] + "," + row.map { String(format: "%.6f", $0) }.joined(separator: ",") + "\n"
        }
        return out
    }

    /// A directed graph: an edge i → j for every weight of at least 0.01, labelled and
    /// drawn thicker as the weight grows.
    public func dot() -> String {
        var out = "digraph trust {\n  rankdir=LR;\n  node [shape=circle];\n"
        for name in nodes { out += "  \"\(name)\";\n" }
        for (i, row) in weights.enumerated() {
            for (j, w) in row.enumerated() where w >= 0.01 {
                out += "  \"\(nodes[i])\" -> \"\(nodes[j])\" [label=\"\(String(format: "%.2f", w))\", penwidth=\(String(format: "%.2f", 0.5 + 4 * w))];\n"
            }
        }
        return out + "}\n"
    }

    /// A heatmap picture: node names on both axes, one cell per weight with its value,
    /// and a colour scale from 0 to 1.
    public func svg(title: String? = nil) -> String {
        let n = nodes.count
        let cell = 44, label = 12 + 7 * (nodes.map(\.count).max() ?? 4), top = 40 + label
        let heading = title ?? "Trust weights (row: truster, column: trusted)"
        // Bold 14-pixel text is at most about 9 pixels a character: the picture is made
        // wide enough for the title as well as for the grid and its scale.
        let gridWidth = n * cell, height = top + gridWidth + 30
        let width = max(label + gridWidth + 90, label + 9 * heading.count + 10)
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        var s = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(width)" height="\(height)" viewBox="0 0 \(width) \(height)" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(label)" y="20" font-size="14" font-weight="bold">\(esc(heading))</text>

            """
        for (j, name) in nodes.enumerated() {
            let x = label + j * cell + cell / 2
            s += "<text x=\"\(x)\" y=\"\(top - 6)\" transform=\"rotate(-45 \(x) \(top - 6))\">\(esc(name))</text>\n"
        }
        for (i, row) in weights.enumerated() {
            let y = top + i * cell
            s += "<text x=\"\(label - 6)\" y=\"\(y + cell / 2 + 4)\" text-anchor=\"end\">\(esc(nodes[i]))</text>\n"
            for (j, w) in row.enumerated() {
                let (r, g, b) = ColorScale.rgb(w)
                let ink = ColorScale.luminance(w) > 0.5 ? "black" : "white"
                s += "<rect x=\"\(label + j * cell)\" y=\"\(y)\" width=\"\(cell)\" height=\"\(cell)\" fill=\"rgb(\(r),\(g),\(b))\" stroke=\"white\"><title>\(esc(nodes[i])) → \(esc(nodes[j])): \(String(format: "%.4f", w))</title></rect>\n"
                s += "<text x=\"\(label + j * cell + cell / 2)\" y=\"\(y + cell / 2 + 4)\" text-anchor=\"middle\" fill=\"\(ink)\" font-size=\"11\">\(String(format: "%.2f", w))</text>\n"
            }
        }
        // Colour scale: a vertical bar from 1 (top) to 0 (bottom).
        let barX = label + gridWidth + 20, steps = 20
        for k in 0..<steps {
            let w = 1 - Double(k) / Double(steps - 1)
            let (r, g, b) = ColorScale.rgb(w)
            s += "<rect x=\"\(barX)\" y=\"\(top + k * gridWidth / steps)\" width=\"16\" height=\"\(gridWidth / steps + 1)\" fill=\"rgb(\(r),\(g),\(b))\"/>\n"
        }
        s += "<text x=\"\(barX + 22)\" y=\"\(top + 10)\">1.0</text>\n"
        s += "<text x=\"\(barX + 22)\" y=\"\(top + gridWidth / 2 + 4)\">0.5</text>\n"
        s += "<text x=\"\(barX + 22)\" y=\"\(top + gridWidth)\">0.0</text>\n"
        return s + "</svg>\n"
    }
}

/// A perceptually ordered colour scale (pale yellow → green → deep blue) for weights in [0, 1].
public enum ColorScale {
    static let anchors: [(Double, Double, Double)] = [
        (255, 255, 217), (199, 233, 180), (65, 182, 196), (34, 94, 168), (8, 29, 88),
    ]

    /// The colour of weight `w` (clamped to [0, 1]).
    public static func rgb(_ w: Double) -> (Int, Int, Int) {
        let x = min(1, max(0, w.isFinite ? w : 0)) * Double(anchors.count - 1)
        let i = min(anchors.count - 2, Int(x))
        let f = x - Double(i)
        let a = anchors[i], b = anchors[i + 1]
        return (Int((a.0 + (b.0 - a.0) * f).rounded()), Int((a.1 + (b.1 - a.1) * f).rounded()), Int((a.2 + (b.2 - a.2) * f).rounded()))
    }

    /// Relative luminance of weight `w`'s colour, to pick dark or light text on it.
    public static func luminance(_ w: Double) -> Double {
        let (r, g, b) = rgb(w)
        return (0.2126 * Double(r) + 0.7152 * Double(g) + 0.0722 * Double(b)) / 255
    }
}
