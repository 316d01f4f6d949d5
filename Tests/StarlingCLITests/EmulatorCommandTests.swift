import Foundation
import Learning
import Testing

/// `starling emulator build` writes an emulator checkpoint a client can load, and
/// refuses what cannot be built with one line naming the option.
@Suite struct EmulatorCommandTests {
    /// A six-block GPT-2 checkpoint in a fresh folder.
    static func fullCheckpoint() throws -> String {
        let dir = try clusterFolder()
        let config = ModelConfig(layers: 6, heads: 2, channels: 8, maxSequenceLength: 8, vocabularySize: 256)
        try Checkpoint.save(TransformerModel(config: config, lora: nil, seed: 4), to: dir + "/full")
        return dir
    }

    @Test func buildWritesTheKeptBlocksAndThePlan() throws {
        let dir = try Self.fullCheckpoint()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try runStarling(["emulator", "build", "--base", dir + "/full", "--drop", "0.5", "--adapter-blocks", "1", "--out", dir + "/emu", "--dtype", "f16"])
        #expect(r.status == 0, "\(r.err)")
        // Middle 0 … 4 (n = 5), m = round(2.5) = 2: blocks 0 and 4 stay.
        #expect(r.out == "emulator of \(dir)/full: adapter blocks 5; kept 0, 4; dropped 1, 2, 3\nwrote \(dir)/emu (3 of 6 blocks)\n")
        let (config, _) = try Checkpoint.load(from: dir + "/emu")
        #expect(config.blocks == [0, 4, 5])
        let plan = try EmulatorCheckpoint.loadPlan(from: dir + "/emu")
        #expect(plan.adapterBlocks == [5] && plan.keptBlocks == [0, 4] && plan.layout == .fedbiot)

        let offsite = try runStarling(["emulator", "build", "--base", dir + "/full", "--drop", "0.2", "--adapter-blocks", "1", "--layout", "offsite", "--out", dir + "/off"])
        #expect(offsite.status == 0, "\(offsite.err)")
        // Middle 1 … 4 (n = 4), m = round(3.2) = 3: positions 0, 1, 3 → blocks 1, 2, 4.
        #expect(try Checkpoint.load(from: dir + "/off").config.blocks == [0, 1, 2, 4, 5])
    }

    @Test func badInputIsRefusedWithTheReason() throws {
        let dir = try Self.fullCheckpoint()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let base = ["emulator", "build", "--base", dir + "/full", "--out", dir + "/emu"]
        let usage: [([String], String)] = [
            (base + ["--drop", "1"], "--drop must be in [0, 1), got 1.0"),
            (base + ["--drop", "0.2", "--adapter-blocks", "0"], "--adapter-blocks must be between 1 and 1024, got 0"),
            (base + ["--drop", "0.2", "--layout", "middle"], "--layout must be one of fedbiot, offsite, got middle"),
            (base + ["--drop", "0.2", "--dtype", "f64"], "--dtype must be f32, f16 or bf16, got f64"),
        ]
        for (arguments, message) in usage {
            let r = try runStarling(arguments)
            #expect(r.status == 64, "\(arguments)")
            #expect(r.err.contains(message), "\(r.err)")
        }
        let failing: [([String], String)] = [
            (base + ["--drop", "0.8", "--adapter-blocks", "1"], "drop ratio 0.8 keeps 1 of 5 middle blocks; the emulator needs at least 2 (the first and the last stay)"),
            (base + ["--drop", "0.2", "--adapter-blocks", "5"], "an adapter of 5 blocks (fedbiot) leaves 1 of 6 blocks to emulate; at least 2 must remain"),
            (["emulator", "build", "--base", dir + "/none", "--out", dir + "/emu", "--drop", "0.2"], "base model \(dir)/none:"),
        ]
        for (arguments, message) in failing {
            let r = try runStarling(arguments)
            #expect(r.status == 1, "\(arguments)")
            #expect(r.err.contains(message), "\(r.err)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/emu"))
    }

    @Test func helpShowsAnExample() throws {
        let r = try runStarling(["emulator", "build", "--help"])
        #expect(r.status == 0)
        #expect(r.out.contains("$ starling emulator build --base gpt2 --drop 0.2 --out gpt2-emu\n"))
        #expect(r.out.contains("kept 0, 1, 2, 3, 5, 6, 7, 9;"))
    }

    /// An adapter tuned on the emulator names full-model blocks, so `eval` scores it on
    /// the emulator (AdapEmu) and plugged into the full model (AdapFu).
    @Test func anAdapterTunedOnTheEmulatorEvaluatesOnBoth() throws {
        let dir = try Self.fullCheckpoint()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var text = ""
        for i in 0..<400 { text += "\(i % 17) + \(i % 5) = \(i % 17 + i % 5);\n" }
        try text.write(toFile: dir + "/text.txt", atomically: true, encoding: .utf8)
        let build = try runStarling(["emulator", "build", "--base", dir + "/full", "--drop", "0.5", "--adapter-blocks", "1", "--out", dir + "/emu"])
        #expect(build.status == 0, "\(build.err)")
        let tune = try runStarling(["finetune", "--base", dir + "/emu", "--text", dir + "/text.txt", "--out", dir + "/adapter", "--steps", "5",
                                    "--batch", "2", "--seq", "8", "--rank", "2", "--checkpoint-every", "0", "--threads", "1"])
        #expect(tune.status == 0, "\(tune.err)")
        func loss(_ base: String) throws -> Double {
            let r = try runStarling(["eval", "--base", base, "--adapter", dir + "/adapter", "--text", dir + "/text.txt", "--seq", "8"])
            #expect(r.status == 0, "\(r.err)")
            let json = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any]
            return try #require(json?["loss"] as? Double)
        }
        let adapEmu = try loss(dir + "/emu"), adapFu = try loss(dir + "/full")
        #expect(adapEmu.isFinite && adapFu.isFinite)
        // The emulator drops blocks 1 … 3: the two models differ, so do their losses.
        #expect(adapEmu != adapFu)
    }
}
