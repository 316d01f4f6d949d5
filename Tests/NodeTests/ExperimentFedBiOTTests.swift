import Foundation
import Learning
import Schemes
import Testing
import Trust

@testable import Node

/// The fedbiot entries of `starling experiment`: their options, and a run of all four
/// layouts on tiny text whose table and CSV carry AdapEmu and AdapFu.
@Suite struct ExperimentFedBiOTTests {
    func failure(_ spec: String) -> String? {
        do {
            _ = try FedBiOTEntry(spec: spec)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func badOptionsAreRefusedByName() {
        #expect(failure("fedbiot:drop=1") == "run \"fedbiot:drop=1\": drop must be in [0, 1), got 1")
        #expect(failure("fedbiot:drop=-0.1") == "run \"fedbiot:drop=-0.1\": drop must be in [0, 1), got -0.1")
        #expect(failure("fedbiot:drop=half") == "run \"fedbiot:drop=half\": drop must be in [0, 1), got half")
        #expect(failure("fedbiot:layout=onsite") == "run \"fedbiot:layout=onsite\": unknown layout onsite (known: fedbiot, offsite, full)")
        #expect(failure("fedbiot:adapter_blocks=0")
            == "run \"fedbiot:adapter_blocks=0\": adapter_blocks must be a whole number of at least 1, got 0")
        #expect(failure("fedbiot:prealign=2.5") == "run \"fedbiot:prealign=2.5\": prealign must be a whole number of at least 0, got 2.5")
        #expect(failure("fedbiot:align_lr=0") == "run \"fedbiot:align_lr=0\": align_lr must be in (0, 1), got 0")
        #expect(failure("fedbiot:lambda=-1") == "run \"fedbiot:lambda=-1\": lambda must be at least 0, got -1")
        #expect(failure("fedbiot:proximal=inf") == "run \"fedbiot:proximal=inf\": proximal must be at least 0, got inf")
        #expect(failure("fedbiot:drop") == "run \"fedbiot:drop\": \"drop\" is not key=value")
        #expect(failure("fedbiot:drop=0.2,") == "run \"fedbiot:drop=0.2,\": \"\" is not key=value")
        #expect(failure("fedbiot:width=8")
            == "run \"fedbiot:width=8\": unknown option width (known: drop, layout, adapter_blocks, prealign, align_steps, align_lr, lambda, proximal)")
        #expect(failure("fedbiot:layout=offsite,align_steps=3")
            == "run \"fedbiot:layout=offsite,align_steps=3\": align_steps applies to layout=fedbiot only (offsite aligns no more once the rounds start)")
        // The run spec refuses the same way, so `starling experiment --run` does.
        var s = NodeSettings()
        #expect(throws: NodeError.self) { try ExperimentRunSpec.apply("fedbiot:drop=1", to: &s) }
    }

    @Test func eachLayoutHasItsDefaults() throws {
        #expect(try FedBiOTEntry(spec: "fdlora") == nil)
        #expect(try FedBiOTEntry(spec: "validation") == nil)
        let plain = try #require(try FedBiOTEntry(spec: "fedbiot"))
        #expect(plain.layout == .fedbiot && plain.settings.layout == .fedbiot && plain.settings.adapterBlocks == 2)
        #expect(plain.settings.dropRatio == 0.2 && plain.settings.alignSteps == 10 && plain.settings.emulatorEvery == 1)
        #expect(plain.prealignSteps == 50 && plain.settings.proximal == 0.01 && plain.settings.alignLearningRate == 1e-3)
        let half = try #require(try FedBiOTEntry(spec: "fedbiot:drop=0.5,align_steps=4,lambda=0.5,prealign=7"))
        #expect(half.settings.dropRatio == 0.5 && half.settings.alignSteps == 4 && half.settings.lambda == 0.5 && half.prealignSteps == 7)
        // Offsite: first + last block, aligned once, then frozen.
        let offsite = try #require(try FedBiOTEntry(spec: "fedbiot:layout=offsite"))
        #expect(offsite.settings.layout == .offsite && offsite.settings.adapterBlocks == 1)
        #expect(offsite.settings.alignSteps == 0 && offsite.settings.emulatorEvery == 0 && offsite.prealignSteps == 50)
        // The reference: the full model, plain fedavg.
        let full = try #require(try FedBiOTEntry(spec: "fedbiot:layout=full"))
        #expect(!full.hasEmulator && full.settings.adapterBlocks == 2 && full.settings.proximal == 0 && full.prealignSteps == 0)
        var s = NodeSettings()
        try ExperimentRunSpec.apply("fedbiot:drop=0.5", to: &s)
        #expect(s.scheme == "fedbiot" && s.fedbiot.dropRatio == 0.5 && s.aggregation == "fedavg")
    }

    static let entries = ["fedbiot", "fedbiot:drop=0.5", "fedbiot:layout=offsite", "fedbiot:layout=full"]

    /// Two nodes on a random 6-block base: every layout runs, the table and the CSV carry
    /// both columns, the reference's AdapFu is its clients' own evaluation, an emulator's
    /// is not, and the alignment before round 1 lowers the alignment loss.
    @Test func aRunOfEveryLayoutReportsAdapEmuAndAdapFu() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("starling-fedbiot-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let base = dir + "/base"
        try Checkpoint.save(
            TransformerModel(config: ModelConfig(layers: 6, heads: 2, channels: 16, maxSequenceLength: 16, vocabularySize: 256), lora: nil, seed: 3),
            to: base)
        let (parsed, problems) = TopologyParser.parse(text: """
            name = "pair"
            sources = ["prose", "code"]
            [defaults]
            sequence_length = 16
            lora = { rank = 2, alpha = 4, dropout = 0 }
            [[nodes]]
            name = "a"
            endpoint = "tcp://127.0.0.1:7001"
            [[nodes]]
            name = "b"
            endpoint = "tcp://127.0.0.1:7002"
            """, path: dir + "/pair.toml")
        let t = try #require(parsed, "\(problems)")
        let entries = Self.entries.map { $0 == "fedbiot" ? "fedbiot:prealign=20" : $0 }
        let plan = ExperimentPlan(
            strategies: entries, settings: [.specific], seeds: [1], rounds: 2, warmupRounds: 1, localSteps: 3, batchSize: 2,
            bytesPerNode: 600, evaluationBytes: 200, baseBytes: 3_000, learningRate: 0.01, baseModel: base)
        let summary = try Experiment(topology: t, plan: plan, workDirectory: dir + "/work").run()
        #expect(summary.results.count == 4)

        func run(_ entry: String) throws -> (ExperimentRunResult, FedBiOTFigures) {
            let r = try #require(summary.results.first { $0.key.strategy == entry })
            return (r, try #require(r.fedbiot))
        }
        let (reference, full) = try run("fedbiot:layout=full")
        #expect(full.clientBlocks == [0, 1, 2, 3, 4, 5] && full.emulatorBytes == 0 && full.alignmentCut == nil)
        // The same adapter in the aligner's full model scores what the client's own model does.
        for i in reference.nodes.indices {
            #expect(abs(full.adapFu[i] - reference.perplexities[i]) <= 1e-9 * reference.perplexities[i], "node \(i)")
            #expect(reference.perplexities[i].isFinite && reference.perplexities[i] > 1)
        }
        let (cut, half) = try run("fedbiot:drop=0.5")
        #expect(half.clientBlocks == [0, 3, 4, 5] && half.adapterBlocks == [4, 5] && half.clientParameters < half.fullParameters)
        #expect(zip(cut.perplexities, half.adapFu).allSatisfy { $0 != $1 })
        let (_, mild) = try run("fedbiot:prealign=20")
        #expect(mild.clientBlocks == [0, 1, 3, 4, 5])
        #expect(try #require(mild.alignmentStart) < (try #require(mild.alignmentCut)))
        // Honest clients: the aligner's screens leave none out, and the closest two
        // adapters stay well clear of a copy's 0.02 of the median step.
        for entry in entries {
            let (_, f) = try run(entry)
            #expect(f.screenedOut == 0, "\(entry)")
            #expect(try #require(f.closestStepShare) > 10 * DuplicateScreen.stepShare, "\(entry)")
        }
        let (_, offsite) = try run("fedbiot:layout=offsite")
        #expect(offsite.clientBlocks == [0, 1, 2, 4, 5] && offsite.adapterBlocks == [0, 5])
        #expect(offsite.emulatorBytes > 0 && offsite.alignmentStart! < offsite.alignmentCut!)

        let table = summary.fedbiotMarkdown()
        #expect(table.hasPrefix("| run | setting | client blocks (of full) | client parameters | AdapEmu test ppl | AdapFu test ppl |"))
        #expect(table.contains("| `fedbiot:layout=full` | specific | 0 1 2 3 4 5 (6) | "))
        #expect(table.contains("| `fedbiot:drop=0.5` | specific | 0 3 4 5 (6) | "))
        let csv = summary.fedbiotCSV().split(separator: "\n")
        #expect(csv.count == 1 + 4 * 2)
        #expect(csv[0].hasPrefix("setting,seed,run,bytes_per_node,node,layout,drop_ratio,adapemu_perplexity,adapfu_perplexity,"))
        let row = try #require(csv.first { $0.hasPrefix("specific,1,\"fedbiot:layout=full\",600,a,full,") }).split(separator: ",")
        #expect(Double(String(row[7])) == Double(String(row[8])))
        let files = try summary.write(to: dir + "/out", topology: t, specificRows: [[1, 0], [0, 1]], command: "starling experiment")
        #expect(files.contains("fedbiot.csv"))
        #expect(try FileSystem.readText(dir + "/out/results.md").contains("## FedBiOT"))
    }
}
