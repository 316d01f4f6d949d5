import Foundation
import Schemes
import Testing

@testable import Node

@Suite struct PFITSettingsParserTests {
    @Test func rewardsAndPFITKeysReachTheSchemeSettings() throws {
        let text = """
            name = "rl"
            [defaults]
            scheme = "pfit"
            rewards = { arithmetic = 0.7, fluency = 0.3 }
            pfit = { group = 6, completion_tokens = 20, prompt_tokens = 10, beta = 0.1, clip = 0, normalize = false, updates = 2, temperature = 0.7, learning_rate = 0.002, length = [4, 40], evaluation_prompts = 3 }
            [[nodes]]
            name = "a"
            endpoint = "tcp://127.0.0.1:7101"
            [[nodes]]
            name = "b"
            endpoint = "tcp://127.0.0.1:7102"
            rewards = { style = 1 }
            """
        let (topology, d) = TopologyParser.parse(text: text, path: "rl.toml")
        #expect(d.isEmpty, "\(d)")
        let a = try #require(topology).nodes[0].settings.schemeSettings.pfit
        let b = try #require(topology).nodes[1].settings.schemeSettings.pfit
        #expect(a.rewards.weights == ["arithmetic": 0.7, "fluency": 0.3])
        #expect(b.rewards.weights == ["style": 1])
        #expect(a.group == 6 && a.completionTokens == 20 && a.promptTokens == 10 && a.beta == 0.1 && a.clip == nil)
        #expect(!a.normalizeAdvantages && a.updatesPerGroup == 2 && a.temperature == 0.7 && a.learningRate == 0.002)
        #expect(a.lengthBand == 4...40 && a.evaluationPrompts == 3)
        #expect(b.group == 6, "a node's own keys sit on top of the defaults")
    }

    @Test func anUnknownRewardOrANegativeWeightIsReportedWithItsLine() {
        let text = """
            name = "bad"
            [defaults]
            scheme = "pfit"
            rewards = { arithmetic = 0.7, toxicity = 0.3 }
            pfit = { group = 1, sparkle = true, length = [9, 3] }
            [[nodes]]
            name = "a"
            endpoint = "tcp://127.0.0.1:7101"
            rewards = { fluency = -0.3, arithmetic = 1 }
            """
        let (_, d) = TopologyParser.parse(text: text, path: "bad.toml")
        let lines = Dictionary(d.map { ($0.message, $0.line ?? 0) }, uniquingKeysWith: { a, _ in a })
        #expect(lines[#"defaults.rewards: unknown reward "toxicity" (known: arithmetic, style, fluency, length)"#] == 4)
        #expect(lines["defaults.pfit.group must be between 2 and 1024, got 1"] == 5)
        #expect(lines["unknown key defaults.pfit.sparkle"] == 5)
        #expect(lines["defaults.pfit.length must be a band [shortest, longest] of whole characters"] == 5)
        #expect(lines["nodes[0].rewards: the weight of fluency must be a number of at least 0, got -0.3"] == 9)
        #expect(d.count == 5, "\(d.map(\.message))")
    }

    @Test func aNewPFITTopologySpellsOutItsKeysAndParses() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("starling-pfit-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/rl.toml"
        let text = try TopologyTemplate.create(path: path, name: "rl", shape: .ring, nodeCount: 2, groups: 1, sources: [.prose], scheme: "pfit")
        #expect(text.contains("rewards = { fluency = 0.7, length = 0.3 }"))
        let settings = try TopologyParser.load(path: path).nodes[0].settings
        #expect(settings.scheme == "pfit" && settings.schemeSettings.pfit.rewards.weights == ["fluency": 0.7, "length": 0.3])
        #expect(settings.schemeSettings.pfit.lengthBand == 8...32)
    }
}
