// A folder of the nodes' own text as an experiment's corpus: what it reads, and how each
// node's text is dealt out in the specific and mixed settings.

import Foundation
import Learning
import Testing

@testable import Node

@Suite struct ExperimentCorpusTests {
    /// 256 bytes: `label` padded with dots, so each piece of a node's text is one label.
    static func piece(_ label: String) -> String { label + String(repeating: ".", count: ExperimentCorpus.chunkBytes - label.utf8.count) }

    /// Nodes a, b (a folder of two files), c, d; a and b in group s1, c and d in s2;
    /// every node's text is eight labelled pieces.
    static func folder() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("starling-corpus-\(UUID())").path
        try FileSystem.createDirectory(dir)
        try FileSystem.createDirectory(FileSystem.join(dir, "b"))
        func text(_ node: String, _ range: Range<Int>) -> String { range.map { piece("\(node)\($0)") }.joined() }
        try FileSystem.writeAtomically(Array(text("a", 0..<8).utf8), to: FileSystem.join(dir, "a.txt"))
        try FileSystem.writeAtomically(Array(text("b", 0..<4).utf8), to: FileSystem.join(dir, "b/1.txt"))
        try FileSystem.writeAtomically(Array(text("b", 4..<8).utf8), to: FileSystem.join(dir, "b/2.txt"))
        try FileSystem.writeAtomically(Array(text("c", 0..<8).utf8), to: FileSystem.join(dir, "c.txt"))
        try FileSystem.writeAtomically(Array(text("d", 0..<8).utf8), to: FileSystem.join(dir, "d.txt"))
        try FileSystem.writeAtomically(Array("node,s1,s2\na,1,0\nb,1,0\nc,0,1\nd,0,1\n".utf8), to: FileSystem.join(dir, "mixture.csv"))
        return dir
    }

    /// A topology to take the settings from.
    static func topology() throws -> Topology {
        let (parsed, problems) = TopologyParser.parse(text: """
            name = "settings"
            sources = ["prose"]
            [[nodes]]
            name = "x"
            endpoint = "tcp://127.0.0.1:7001"
            """, path: "/tmp/settings.toml")
        let t = try #require(parsed, "\(problems)")
        return t
    }

    /// The labels of a text made of pieces (b's pieces after its first file start one
    /// newline later, so a piece may begin with the newline or a dot).
    static func labels(_ text: [UInt8]) -> [String] {
        stride(from: 0, to: text.count, by: ExperimentCorpus.chunkBytes).map { start in
            String(decoding: text[start..<min(start + ExperimentCorpus.chunkBytes, text.count)], as: UTF8.self)
                .split(separator: ".").first.map { $0.trimmingCharacters(in: .newlines) } ?? ""
        }
    }

    @Test func readsNodesInNameOrderWithTheirMixture() throws {
        let corpus = try ExperimentCorpus(folder: try Self.folder())
        #expect(corpus.nodes == ["a", "b", "c", "d"])
        #expect(corpus.sources == ["s1", "s2"])
        #expect(corpus.rows == [[1, 0], [1, 0], [0, 1], [0, 1]])
        #expect(corpus.hasMixture)
        // b's two files, joined by a newline each.
        #expect(corpus.texts[1].count == 8 * ExperimentCorpus.chunkBytes + 2)
        let t = corpus.topology(basedOn: try Self.topology())
        #expect(t.nodes.map(\.name) == corpus.nodes && t.shape == .full && t.edges.count == 6)
    }

    @Test func specificTextIsTheNodesOwnLane() throws {
        let corpus = try ExperimentCorpus(folder: try Self.folder())
        let groups = [[0, 1], [2, 3]]
        // Two groups, two lanes: group 1 (a) reads pieces 0, 2, 4; group 2 (c) pieces 1, 3, 5.
        let a = try corpus.text(node: 0, rows: corpus.rows, groups: groups, bytes: 3 * 256, seed: 1)
        #expect(Self.labels(a) == ["a0", "a2", "a4"])
        let c = try corpus.text(node: 2, rows: corpus.rows, groups: groups, bytes: 3 * 256, seed: 1)
        #expect(Self.labels(c) == ["c1", "c3", "c5"])
        #expect(throws: NodeError.self) { try corpus.text(node: 0, rows: corpus.rows, groups: groups, bytes: 5 * 256, seed: 1) }
    }

    @Test func mixedTextComesFromThePartnerAndNoPieceIsReadTwice() throws {
        let corpus = try ExperimentCorpus(folder: try Self.folder())
        let groups = [[0, 1], [2, 3]]
        let rows = ExperimentSetting.mixed.mixtureRows(corpus.rows, ownShare: 0.5)
        var seen: Set<String> = []
        for i in 0..<4 {
            let labels = Self.labels(try corpus.text(node: i, rows: rows, groups: groups, bytes: 4 * 256, seed: 7))
            #expect(labels.count == 4)
            // a reads a or its partner c, b reads b or d, and the reverse.
            let partner = ["c", "d", "a", "b"][i], own = corpus.nodes[i]
            #expect(labels.allSatisfy { $0.hasPrefix(own) || $0.hasPrefix(partner) })
            for l in labels { #expect(seen.insert(l).inserted, "\(l) read twice") }
        }
    }

    @Test func piecesEndOnCharacterBoundaries() {
        let text = Array(String(repeating: "€", count: 100).utf8)  // 300 bytes, 3 per character
        #expect(ExperimentCorpus.pieces(of: text) == [0..<255, 255..<300])
    }

    @Test func theMixedSettingAndTheOracleNeedAMixture() throws {
        let dir = try Self.folder()
        try FileManager.default.removeItem(atPath: FileSystem.join(dir, "mixture.csv"))
        let corpus = try ExperimentCorpus(folder: dir)
        #expect(!corpus.hasMixture && corpus.rows == [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
        let t = try Self.topology()
        #expect(throws: NodeError.self) {
            try Experiment(topology: t, plan: ExperimentPlan(strategies: ["local"], baseText: dir + "/a.txt"), workDirectory: dir, corpus: corpus)
        }
        #expect(throws: NodeError.self) {
            try Experiment(topology: t, plan: ExperimentPlan(strategies: ["local"], settings: [.specific]), workDirectory: dir, corpus: corpus)
        }
        _ = try Experiment(topology: t, plan: ExperimentPlan(strategies: ["local"], settings: [.specific], baseText: dir + "/a.txt"), workDirectory: dir, corpus: corpus)
    }

    @Test func rulesWithoutATemperatureIgnoreTheTopologysTemperature() throws {
        var settings = NodeSettings()
        settings.temperature = 0.1
        settings.trust = "validation:rule=fomo"
        #expect(try #require(settings.trustConfig).variant.temperature == 1)
        settings.trust = "fedavg"
        #expect(settings.trustConfig == nil, "a temperature for a strategy that learns nothing is refused")
        settings.trust = "validation:scale=nearest"
        #expect(try #require(settings.trustConfig).variant.temperature == 0.1)
    }
}
