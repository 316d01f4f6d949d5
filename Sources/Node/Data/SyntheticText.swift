import Foundation
import Learning

// Generated local text: several sources that differ clearly in alphabet, rhythm and
// structure, so that a tiny byte-level model learns which source a node holds. Every
// node's text is a mixture of sources by its row of the mixture matrix, deterministic
// given the seed: the default data of the demo and the tests, with the oracle known.

/// A kind of text.
public enum TextSource: String, Sendable, CaseIterable, Codable {
    /// English-like sentences about places and weather.
    case prose
    /// Arithmetic facts: `17 + 25 = 42;`.
    case arithmetic
    /// A small C-like program text.
    case code
    /// An invented language with long vowels and its own consonants.
    case lingua

    /// One line of this source.
    public func line(using g: inout some RandomNumberGenerator) -> String {
        func pick<T>(_ a: [T]) -> T { a[Int(g.next() % UInt64(a.count))] }
        switch self {
        case .prose:
            let subjects = ["the old river", "a quiet town", "the north wind", "my sister", "the tall tree", "a grey cat", "the morning train"]
            let verbs = ["carries", "watches", "remembers", "follows", "hides", "greets", "warms"]
            let objects = ["the sleepy village", "a field of wheat", "the last light", "our small garden", "the stone bridge", "an open window"]
            let tails = ["before the rain", "in early spring", "every evening", "without a sound", "near the harbour", "after supper"]
            var s = "\(pick(subjects)) \(pick(verbs)) \(pick(objects)) \(pick(tails))."
            s = s.prefix(1).uppercased() + s.dropFirst()
            return s
        case .arithmetic:
            let a = Int(g.next() % 90) + 10, b = Int(g.next() % 90) + 10
            switch g.next() % 3 {
            case 0: return "\(a) + \(b) = \(a + b);"
            case 1: return "\(max(a, b)) - \(min(a, b)) = \(max(a, b) - min(a, b));"
            default:
                let c = Int(g.next() % 9) + 2
                return "\(a) * \(c) = \(a * c);"
            }
        case .code:
            let names = ["count", "total", "index", "value", "limit", "step"]
            let (x, y) = (pick(names), pick(names))
            let n = Int(g.next() % 9) + 1
            switch g.next() % 4 {
            case 0: return "int \(x) = \(y) * \(n);"
            case 1: return "if (\(x) > \(n)) { \(y) += \(x); }"
            case 2: return "for (i = 0; i < \(x); i++) { \(y)[i] = \(n); }"
            default: return "return \(x) - \(y);"
            }
        case .lingua:
            let onsets = ["k", "v", "t", "s", "h", "j", "r"]
            let vowels = ["aa", "uu", "ii", "a", "u", "oo"]
            let codas = ["", "", "n", "k", "s"]
            var words: [String] = []
            for _ in 0..<(Int(g.next() % 4) + 3) {
                var w = ""
                for _ in 0..<(Int(g.next() % 2) + 2) { w += pick(onsets) + pick(vowels) }
                words.append(w + pick(codas))
            }
            return words.joined(separator: " ") + "."
        }
    }
}

/// Writes text for nodes from a node × source mixture.
public enum SyntheticText {
    /// About `byteCount` bytes of text for one node: each line is drawn from source s
    /// with probability mixture[s] / Σ mixture. Deterministic in (seed, nodeIndex).
    public static func text(
        sources: [TextSource], mixture: [Double], byteCount: Int, seed: UInt64, nodeIndex: Int
    ) -> String {
        precondition(sources.count == mixture.count && !sources.isEmpty, "one mixture entry per source")
        var g = SeededGenerator(seed: seed &* 0x100_0000_01B3 &+ UInt64(nodeIndex) &+ 1)
        let total = mixture.reduce(0, +)
        var out = ""
        out.reserveCapacity(byteCount + 128)
        while out.utf8.count < byteCount {
            var u = Double(g.next() >> 11) / Double(1 << 53) * total
            var s = sources.count - 1
            for (i, m) in mixture.enumerated() {
                if u < m { s = i; break }
                u -= m
            }
            out += sources[s].line(using: &g)
            out += "\n"
        }
        return out
    }

    /// The default mixture row of node `i` of `n` over `sourceCount` sources: the nodes
    /// are split into one contiguous group per source, exactly as `clusters` edges split
    /// them (`Topology.clusterMembers`), and node i holds its group's source only.
    public static func defaultMixture(node i: Int, of n: Int, sourceCount: Int) -> [Double] {
        let group = Topology.clusterMembers(count: n, groups: sourceCount).firstIndex { $0.contains(i) } ?? 0
        var row = Array(repeating: 0.0, count: sourceCount)
        row[group % sourceCount] = 1
        return row
    }
}

extension SyntheticText {
    /// What `write(topology:...)` did for one node.
    public struct Written: Sendable {
        public var node: String
        public var path: String
        /// Bytes written, or nil when an existing file was kept.
        public var bytes: Int?
        public var mixture: [Double]
    }

    /// Writes every node's text of `topology` from its sources and mixture rows (or the
    /// default contiguous groups), and the matrix as mixture.csv beside the first node's
    /// text. Existing files are kept unless `force`.
    @discardableResult
    public static func write(topology t: Topology, bytesPerNode: Int, seed: UInt64? = nil, force: Bool = false) throws -> [Written] {
        let sources = try t.sources.map {
            guard let s = TextSource(rawValue: $0) else {
                throw NodeError("unknown source \"\($0)\"; generated text knows \(TextSource.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return s
        }
        guard !sources.isEmpty else { throw NodeError("the topology lists no text sources, e.g. sources = [\"prose\", \"code\"]") }
        var written: [Written] = []
        for (i, node) in t.nodes.enumerated() {
            let row = node.mixture ?? defaultMixture(node: i, of: t.nodes.count, sourceCount: sources.count)
            let path = t.resolve(node.data)
            if FileManager.default.fileExists(atPath: path) && !force {
                written.append(Written(node: node.name, path: path, bytes: nil, mixture: row))
                continue
            }
            let text = self.text(sources: sources, mixture: row, byteCount: bytesPerNode, seed: seed ?? node.settings.seed, nodeIndex: i)
            try FileSystem.createDirectory(FileSystem.parentDirectory(of: path))
            try FileSystem.writeAtomically(Array(text.utf8), to: path)
            written.append(Written(node: node.name, path: path, bytes: text.utf8.count, mixture: row))
        }
        let csvPath = FileSystem.join(FileSystem.parentDirectory(of: t.resolve(t.nodes[0].data)), "mixture.csv")
        var csv = "node," + sources.map(\.rawValue).joined(separator: ",") + "\n"
        for w in written { csv += w.node + "," + w.mixture.map { "\($0)" }.joined(separator: ",") + "\n" }
        try FileSystem.writeAtomically(Array(csv.utf8), to: csvPath)
        return written
    }
}
