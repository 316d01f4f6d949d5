import Foundation
import Learning
import Testing

@testable import Node

@Suite struct SyntheticTextTests {
    @Test func sameSeedSameText() {
        let a = SyntheticText.text(sources: [.prose, .code], mixture: [0.5, 0.5], byteCount: 5000, seed: 3, nodeIndex: 1)
        let b = SyntheticText.text(sources: [.prose, .code], mixture: [0.5, 0.5], byteCount: 5000, seed: 3, nodeIndex: 1)
        let c = SyntheticText.text(sources: [.prose, .code], mixture: [0.5, 0.5], byteCount: 5000, seed: 4, nodeIndex: 1)
        #expect(a == b)
        #expect(a != c)
        #expect(a.utf8.count >= 5000 && a.utf8.count < 5200)
    }

    @Test func singleSourceNodeHoldsOnlyThatSource() {
        let text = SyntheticText.text(sources: [.prose, .arithmetic], mixture: [0, 1], byteCount: 3000, seed: 1, nodeIndex: 0)
        let lines = text.split(separator: "\n")
        #expect(lines.allSatisfy { $0.hasSuffix(";") && $0.contains("=") })
    }

    @Test func mixtureProportionsAreRespected() {
        let text = SyntheticText.text(sources: [.arithmetic, .lingua], mixture: [3, 1], byteCount: 200_000, seed: 9, nodeIndex: 2)
        let lines = text.split(separator: "\n")
        let arithmetic = lines.filter { $0.hasSuffix(";") }.count
        let share = Double(arithmetic) / Double(lines.count)
        // 0.75 expected; with several thousand lines the binomial standard error is < 0.01.
        #expect(abs(share - 0.75) < 0.03, "share \(share)")
    }

    @Test func sourcesUseDifferentAlphabets() {
        var g = SeededGenerator(seed: 5)
        let lingua = (0..<200).map { _ in TextSource.lingua.line(using: &g) }.joined()
        #expect(!lingua.contains { $0.isNumber || "(){};=+".contains($0) })
        let arithmetic = (0..<200).map { _ in TextSource.arithmetic.line(using: &g) }.joined()
        #expect(arithmetic.allSatisfy { $0.isNumber || " +-*=;".contains($0) })
    }

    @Test func defaultMixtureSplitsNodesIntoContiguousGroups() {
        let rows = (0..<6).map { SyntheticText.defaultMixture(node: $0, of: 6, sourceCount: 3) }
        #expect(rows.map { $0.firstIndex(of: 1)! } == [0, 0, 1, 1, 2, 2])
    }
}

@Suite struct TopologyTemplateTests {
    @Test func initWritesACheckedTopologyWithKeys() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("starling-init-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/lab.toml"
        try TopologyTemplate.create(path: path, name: "lab", shape: .clusters, nodeCount: 6, groups: 3, sources: [.prose, .code, .lingua])
        let t = try TopologyParser.load(path: path)
        #expect(t.nodes.count == 6)
        #expect(t.nodes.map { $0.mixture! } == (0..<6).map { SyntheticText.defaultMixture(node: $0, of: 6, sourceCount: 3) })
        for (i, node) in t.nodes.enumerated() {
            let pub = try String(contentsOfFile: t.stateDirectory(of: i) + "/node.pub", encoding: .utf8)
            #expect(pub.trimmingCharacters(in: .whitespacesAndNewlines) == node.publicKey)
        }
        #expect(throws: TopologyError.self) {
            try TopologyTemplate.create(path: path, name: "lab", shape: .ring, nodeCount: 2, groups: 1, sources: [.prose])
        }
    }
}
