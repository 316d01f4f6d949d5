// Text a user already has, as the nodes of an experiment: a folder with one file (or
// folder of .txt) per node and an optional mixture file for the oracle and the groups.
//
//   <dir>/<node>.txt or <dir>/<node>/*.txt     one node each, in name order
//   <dir>/mixture.json                         {"<node>": [row], ...}      (optional)
//   <dir>/mixture.csv                          node,<source>,<source>...   (optional)
//
// With a mixture, a node's group is the largest entry of its row, and the mixed setting
// can be built; without one, every node is a group of its own.

import Foundation
import Learning

/// The nodes' own text for an experiment.
public struct ExperimentCorpus: Sendable {
    /// Node names, in the order the experiment numbers them (file names sorted, without
    /// `.txt`).
    public let nodes: [String]
    /// Each node's whole text.
    public let texts: [[UInt8]]
    /// Mixture column names (from mixture.csv's header; `source-1`… for mixture.json; the
    /// node names without a mixture).
    public let sources: [String]
    /// Each node's mixture row; identity rows without a mixture file.
    public let rows: [[Double]]
    /// Whether the folder gave a mixture (the oracle needs one).
    public let hasMixture: Bool

    /// Bytes of the pieces the text is cut into before they are dealt out (see `text`).
    public static let chunkBytes = 256

    /// Reads `folder`.
    public init(folder: String) throws {
        let entries = try FileSystem.contentsOfDirectory(folder).filter { !$0.hasPrefix(".") }.sorted()
        var names: [String] = [], texts: [[UInt8]] = []
        for entry in entries where entry != "mixture.json" && entry != "mixture.csv" {
            let path = FileSystem.join(folder, entry)
            if FileSystem.isDirectory(path) {
                let files = try FileSystem.contentsOfDirectory(path).filter { $0.hasSuffix(".txt") && !$0.hasPrefix(".") }.sorted()
                guard !files.isEmpty else { throw NodeError("\(path) holds no .txt file") }
                var text: [UInt8] = []
                for f in files { text += try FileSystem.readBytes(FileSystem.join(path, f)) + [10] }
                names.append(entry)
                texts.append(text)
            } else if entry.hasSuffix(".txt") {
                names.append(String(entry.dropLast(4)))
                texts.append(try FileSystem.readBytes(path))
            }
        }
        guard names.count >= 2 else { throw NodeError("\(folder) holds \(names.count) node text(s); an experiment needs two or more") }
        for (n, t) in zip(names, texts) where String(validating: t, as: UTF8.self) == nil {
            throw NodeError("the text of node \(n) is not UTF-8")
        }
        nodes = names
        self.texts = texts
        let json = FileSystem.join(folder, "mixture.json"), csv = FileSystem.join(folder, "mixture.csv")
        var table: [String: [Double]] = [:]
        var columns: [String]? = nil
        if FileSystem.exists(json) {
            guard let object = try JSONSerialization.jsonObject(with: Data(FileSystem.readBytes(json))) as? [String: [Double]] else {
                throw NodeError("\(json) must map each node name to its mixture row, e.g. {\"alice\": [1, 0]}")
            }
            table = object
        } else if FileSystem.exists(csv) {
            let lines = try FileSystem.readText(csv).split(whereSeparator: \.isNewline).map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            guard let header = lines.first, header.count >= 2 else { throw NodeError("\(csv): the header must be node,<source>,...") }
            columns = Array(header.dropFirst())
            for line in lines.dropFirst() {
                let values = line.dropFirst().compactMap(Double.init)
                guard line.count == header.count, values.count == header.count - 1 else {
                    throw NodeError("\(csv): the row \(line.joined(separator: ",")) does not have \(header.count - 1) numbers")
                }
                table[line[0]] = values
            }
        }
        if table.isEmpty {
            hasMixture = false
            sources = names
            rows = names.indices.map { i in names.indices.map { $0 == i ? 1 : 0 } }
        } else {
            let width = table.values.first!.count
            rows = try names.map { n in
                guard let row = table[n], row.count == width, row.allSatisfy({ $0 >= 0 && $0.isFinite }), row.contains(where: { $0 > 0 }) else {
                    throw NodeError("the mixture gives node \(n) no row of \(width) non-negative numbers")
                }
                return row
            }
            hasMixture = true
            sources = columns ?? (1...width).map { "source-\($0)" }
        }
    }

    /// The topology of the experiment: `base`'s settings and schedule, this corpus's
    /// nodes fully linked, their mixture rows, and their sources.
    public func topology(basedOn base: Topology) -> Topology {
        var t = base
        t.name = base.name + "-data"
        t.sources = sources
        t.nodes = nodes.enumerated().map { i, n in
            TopologyNode(name: n, endpoint: "inproc://\(n)", publicKey: nil, data: "\(n).txt", mixture: rows[i], settings: base.defaults)
        }
        t.shape = .full
        t.edges = Topology.edges(shape: .full, count: nodes.count)
        for i in t.nodes.indices { t.nodes[i].settings.ttl = 1 }
        return t
    }

    /// Node `i`'s text of `bytes` (at most) in a setting whose mixture rows are `rows`.
    ///
    /// Every node's text is cut into pieces of about `chunkBytes` (each ends on a
    /// character boundary), dealt out in G lanes for G groups: piece c of lane l is piece
    /// c·G + l. A node of group g reads lane g only, so two nodes of different groups
    /// never read the same piece. For each of its pieces it draws a group h from its row
    /// (seeded by `seed` and the node), and takes the piece from the member of h at its
    /// own position in its group (modulo h's size): itself when h = g. In the specific
    /// setting every draw is g, so a node reads its own text. Two nodes of one group at
    /// the same position only exist when groups differ in size.
    public func text(node i: Int, rows: [[Double]], groups: [[Int]], bytes: Int, seed: UInt64) throws -> [UInt8] {
        var groupOf: [Int: Int] = [:], position: [Int: Int] = [:]
        for (g, members) in groups.enumerated() {
            for (r, j) in members.enumerated() { groupOf[j] = g; position[j] = r }
        }
        let g = groupOf[i]!, lanes = groups.count
        // The group of each mixture column: the group whose members put most weight on it.
        let sourceGroup: [Int] = rows[0].indices.map { s in
            groups.indices.max { a, b in
                groups[a].reduce(0) { $0 + rows[$1][s] } < groups[b].reduce(0) { $0 + rows[$1][s] }
            }!
        }
        let row = rows[i], total = row.reduce(0, +)
        var generator = SeededGenerator(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(i + 1))
        var out: [UInt8] = []
        var next = [Int](repeating: 0, count: nodes.count)  // the next piece of lane g read from each node
        var pieces: [Int: [Range<Int>]] = [:]
        while out.count < bytes {
            var u = Double(generator.next() >> 11) / Double(1 << 53) * total
            var s = 0
            while s < row.count - 1 && u >= row[s] { u -= row[s]; s += 1 }
            let h = sourceGroup[s]
            let members = groups[h]
            let j = h == g ? i : members[position[i]! % members.count]
            if pieces[j] == nil { pieces[j] = Self.pieces(of: texts[j]) }
            let c = next[j] * lanes + g
            guard c < pieces[j]!.count else {
                throw NodeError("node \(nodes[j])'s text is too short: \(nodes[i]) needs \(bytes) bytes from \(lanes) lane(s) of \(Self.chunkBytes)-byte pieces")
            }
            next[j] += 1
            out += texts[j][pieces[j]![c]]
        }
        return out
    }

    /// Consecutive pieces of about `chunkBytes`, each starting on a UTF-8 character.
    static func pieces(of text: [UInt8]) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var start = 0
        while start < text.count {
            var end = min(start + chunkBytes, text.count)
            while end < text.count && end > start + 1 && text[end] & 0xC0 == 0x80 { end -= 1 }
            ranges.append(start..<end)
            start = end
        }
        return ranges
    }
}
