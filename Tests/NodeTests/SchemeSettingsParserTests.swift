import Foundation
import Learning
import Schemes
import Trust
import Testing

@testable import Node

@Suite struct SchemeSettingsParserTests {
    @Test func fdloraKeysReachTheSchemeSettings() throws {
        let text = """
            name = "fd"
            [defaults]
            scheme = "fdlora"
            trust = "validation"
            aggregation = "fedavg"
            outer_lr = 0.7
            outer_momentum = 0.9
            sync_every = 3
            fusion = "delta"
            fusion_budget = 24
            personal_in_global = true
            bottleneck = { width = 8 }
            [[nodes]]
            name = "a"
            endpoint = "tcp://127.0.0.1:7101"
            [[nodes]]
            name = "b"
            endpoint = "tcp://127.0.0.1:7102"
            fusion_weights = [1, 0]
            aggregation = "validation"
            """
        let (topology, d) = TopologyParser.parse(text: text, path: "fd.toml")
        #expect(d.isEmpty, "\(d)")
        let a = try #require(topology).nodes[0].settings, b = try #require(topology).nodes[1].settings
        #expect(a.scheme == "fdlora" && a.aggregation == "fedavg" && b.aggregation == "validation")
        let s = a.schemeSettings
        #expect(s.outerLearningRate == 0.7 && s.outerMomentum == 0.9 && s.syncEvery == 3 && s.fusion == .delta)
        #expect(s.fusionBudget == 24 && s.personalInGlobalTraining && s.bottleneckWidth == 8 && s.fusionWeights == nil)
        #expect(b.schemeSettings.fusionWeights == [1, 0])
        // The aggregation key, when given, is the strategy the trust row aggregates by.
        #expect(a.trustConfig?.strategy == .fedavg)
        #expect(b.trustConfig?.strategy == .validation)
    }

    @Test func badSchemeValuesAreReportedWithTheirLines() {
        let text = """
            name = "bad"
            [defaults]
            scheme = "fdlora"
            aggregation = "median"
            outer_lr = 0
            outer_momentum = 1
            fusion = "sum"
            fusion_weights = [2, 0]
            bottleneck = { width = 0, depth = 2 }
            [[nodes]]
            name = "a"
            endpoint = "tcp://127.0.0.1:7101"
            """
        let (_, d) = TopologyParser.parse(text: text, path: "bad.toml")
        let lines = Dictionary(d.map { ($0.message, $0.line ?? 0) }, uniquingKeysWith: { a, _ in a })
        #expect(lines[#"defaults.aggregation: unknown aggregation "median" (fedavg or a trust strategy: weights, validation, prediction, oracle, fedavg, local)"#] == 4)
        #expect(lines["defaults.outer_lr must be in (0, 2], got 0.0"] == 5)
        #expect(lines["defaults.outer_momentum must be in [0, 1), got 1.0"] == 6)
        #expect(lines[#"defaults.fusion: unknown fusion "sum" (known: factor, delta)"#] == 7)
        #expect(lines["defaults.fusion_weights must be two weights [w1, w2] in [-1.5, 1.5]"] == 8)
        #expect(lines["defaults.bottleneck.width must be at least 1, got 0"] == 9)
        #expect(lines["unknown key defaults.bottleneck.depth"] == 9)
        #expect(d.count == 7, "\(d.map(\.message))")
    }
}

@Suite struct ExperimentRunSpecTests {
    @Test func anEntryIsAStrategyOrASchemeWithItsOptions() throws {
        var s = NodeSettings()
        try ExperimentRunSpec.apply("validation:temperature=0.1", to: &s)
        #expect(s.scheme == "collaborative" && s.trust == "validation:temperature=0.1" && s.aggregation == nil)
        try ExperimentRunSpec.apply("fdlora:aggregation=validation,fusion=delta,outer_lr=0.7,outer_momentum=0.9,sync_every=2", to: &s)
        #expect(s.scheme == "fdlora" && s.aggregation == "validation" && s.fusion == .delta)
        #expect(s.outerLearningRate == 0.7 && s.outerMomentum == 0.9 && s.syncEvery == 2)
        try ExperimentRunSpec.apply("pftt:width=8", to: &s)
        #expect(s.scheme == "pftt" && s.aggregation == "fedavg" && s.bottleneckWidth == 8)
        try ExperimentRunSpec.apply("collaborative:prediction", to: &s)
        #expect(s.scheme == "collaborative" && s.trust == "prediction" && s.aggregation == nil)
    }

    @Test func aBadEntryIsRefusedWithWhatIsWrong() {
        var s = NodeSettings()
        #expect(throws: NodeError.self) { try ExperimentRunSpec.apply("telepathy", to: &s) }
        #expect { try ExperimentRunSpec.apply("fdlora:colour=red", to: &s) } throws: {
            "\($0)" == "run \"fdlora:colour=red\": unknown option colour (known: aggregation, outer_lr, outer_momentum, sync_every, fusion, fusion_budget, personal_in_global, width)"
        }
        #expect { try ExperimentRunSpec.apply("fdlora:outer_lr=3", to: &s) } throws: { "\($0)" == "run \"fdlora:outer_lr=3\": bad value outer_lr=3" }
    }
}

@Suite struct FedBiOTTopologyTests {
    static func topology(_ defaults: String, aligner: String = "role = \"aligner\"\npublic_data = \"public.txt\"") -> String {
        """
        name = "fb"
        [defaults]
        scheme = "fedbiot"
        \(defaults)
        [[nodes]]
        name = "server"
        endpoint = "tcp://127.0.0.1:7201"
        \(aligner)
        [[nodes]]
        name = "phone"
        endpoint = "tcp://127.0.0.1:7202"
        """
    }

    @Test func fedbiotKeysAndRolesReachTheSettings() throws {
        let text = Self.topology("""
            fedbiot = { adapter_blocks = 4, drop_ratio = 0.5, layout = "offsite", lambda = 0.5, align_steps = 3, align_lr = 0.001, emulator_every = 2, emulator_dtype = "f16", proximal = 0.1, chunk_interval_ms = 5 }
            """)
        let (topology, d) = TopologyParser.parse(text: text, path: "fb.toml")
        #expect(d.isEmpty, "\(d)")
        let server = try #require(topology).nodes[0].settings, phone = try #require(topology).nodes[1].settings
        #expect(server.role == .aligner && server.publicData == "public.txt")
        #expect(phone.role == .client && phone.publicData == nil)
        let f = phone.schemeSettings.fedbiot
        #expect(f.adapterBlocks == 4 && f.dropRatio == 0.5 && f.layout == .offsite && f.lambda == 0.5 && f.alignSteps == 3)
        #expect(f.alignLearningRate == 0.001 && f.emulatorEvery == 2 && f.emulatorDType == .f16 && f.proximal == 0.1)
        #expect(f.chunkIntervalMilliseconds == 5 && server.schemeSettings.fedbiot.chunkIntervalMilliseconds == 5)
    }

    @Test func badFedbiotValuesAreReportedWithTheirLines() {
        let text = Self.topology("""
            role = "server"
            fedbiot = { drop_ratio = 1, layout = "middle", emulator_dtype = "f64", colour = 1 }
            """, aligner: "")
        let (_, d) = TopologyParser.parse(text: text, path: "fb.toml")
        let lines = Dictionary(d.map { ($0.message, $0.line ?? 0) }, uniquingKeysWith: { a, _ in a })
        #expect(lines[#"defaults.role: unknown role "server" (known: aligner, client)"#] == 4)
        #expect(lines["defaults.fedbiot.drop_ratio must be in [0, 1), got 1.0"] == 5)
        #expect(lines[#"defaults.fedbiot.layout: unknown layout "middle" (known: fedbiot, offsite)"#] == 5)
        #expect(lines[#"defaults.fedbiot.emulator_dtype must be "f32" or "f16", got "f64""#] == 5)
        #expect(lines["unknown key defaults.fedbiot.colour"] == 5)
        #expect(d.contains { $0.message == #"a fedbiot network needs exactly one node with role = "aligner" (found 0)"# })
    }

    @Test func theAlignerNeedsPublicText() {
        let (_, d) = TopologyParser.parse(text: Self.topology("", aligner: "role = \"aligner\""), path: "fb.toml")
        #expect(d.map(\.message) == ["node server: the aligner needs public_data, the public text it aligns the emulator on"])
    }

    @Test func aFedbiotSchemeNeedsItsEmulatorPlan() throws {
        var settings = SchemeSettings(lora: LoRAConfig(rank: 2), localSteps: 1, warmupRounds: 0)
        #expect(throws: SchemeError("fedbiot needs the plan of its emulator (emulator.json, written by starling emulator build)")) {
            try Schemes.make("fedbiot", settings: settings)
        }
        settings.emulatorPlan = try EmulatorPlan(fullLayers: 12, adapterBlocks: 2, dropRatio: 0.2, layout: .fedbiot)
        let scheme = try Schemes.make("fedbiot", settings: settings)
        #expect(scheme.name == "fedbiot" && scheme.slots.first?.lora.blocks == [10, 11])
    }
}
