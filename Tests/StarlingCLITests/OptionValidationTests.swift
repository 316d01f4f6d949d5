import Foundation
import Testing

/// Every value a user can type that a command cannot use ends in one line naming the
/// option and what it allows, with exit status 64 (a usage error), before any work.
@Suite struct OptionValidationTests {
    struct BadInput: CustomTestStringConvertible, Sendable {
        let arguments: [String]
        let message: String
        var testDescription: String { arguments.joined(separator: " ") }
    }

    /// A writable place that is never written: every case fails before any work.
    static let out = FileManager.default.temporaryDirectory.appendingPathComponent("starling-never-written").path
    static let pretrain = ["pretrain", "--text", "/nonexistent.txt", "--out", out]
    static let finetune = ["finetune", "--base", "random:tiny", "--text", "/nonexistent.txt", "--out", out]
    static let eval = ["eval", "--base", "random:tiny", "--text", "/nonexistent.txt"]
    static let generate = ["generate", "--base", "random:tiny", "--prompt", "x"]
    static let initTopology = ["topology", "init", "--nodes", "3", "--out", "/nonexistent/lab.toml"]
    static let experiment = ["experiment", "--topology", "/nonexistent.toml"]

    static let cases: [BadInput] = [
        .init(arguments: pretrain + ["--heads", "0"], message: "--heads must be between 1 and 1024, got 0"),
        .init(arguments: pretrain + ["--layers", "0"], message: "--layers must be between 1 and 1024, got 0"),
        .init(arguments: pretrain + ["--width", "0"], message: "--width must be between 1 and 65536, got 0"),
        .init(arguments: pretrain + ["--width", "63", "--heads", "2"], message: "--width must be a multiple of --heads (2), got 63"),
        .init(arguments: pretrain + ["--context", "32"], message: "--context must be at least --seq (64), got 32"),
        .init(arguments: pretrain + ["--steps", "0"], message: "--steps must be at least 1, got 0"),
        .init(arguments: pretrain + ["--batch", "0"], message: "--batch must be between 1 and 65536, got 0"),
        .init(arguments: pretrain + ["--seq", "1"], message: "--seq must be between 2 and 65536, got 1"),
        .init(arguments: pretrain + ["--width", "4000000000", "--heads", "1"], message: "--width must be between 1 and 65536, got 4000000000"),
        .init(arguments: pretrain + ["--context", "100000", "--seq", "100000"], message: "--seq must be between 2 and 65536, got 100000"),
        .init(arguments: finetune + ["--batch", "9000000000000000000"], message: "--batch must be between 1 and 65536, got 9000000000000000000"),
        .init(arguments: ["bench", "train", "--vocab", "2000000"], message: "--vocab must be between 1 and 1048576, got 2000000"),
        .init(arguments: pretrain + ["--lr", "1.5"], message: "--lr must be in (0, 1), got 1.5"),
        .init(arguments: pretrain + ["--lr", "nan"], message: "--lr must be in (0, 1), got nan"),
        .init(arguments: pretrain + ["--weight-decay=-0.1"], message: "--weight-decay must be in [0, 1), got -0.1"),
        .init(arguments: pretrain + ["--checkpoint-every=-1"], message: "--checkpoint-every must be at least 0, got -1"),
        .init(arguments: pretrain + ["--threads", "0"], message: "--threads must be at least 1, got 0"),
        .init(arguments: finetune + ["--rank", "0"], message: "--rank must be between 1 and 65536, got 0"),
        .init(arguments: finetune + ["--alpha", "inf"], message: "--alpha must be in (0, ∞), got inf"),
        .init(arguments: finetune + ["--dropout", "1"], message: "--dropout must be in [0, 1), got 1.0"),
        .init(arguments: finetune + ["--targets", ""], message: "--targets must name at least one of attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj, self_attn.q_proj, self_attn.k_proj, self_attn.v_proj, self_attn.o_proj, mlp.gate_proj, mlp.up_proj, mlp.down_proj"),
        .init(arguments: finetune + ["--targets", "attn.c_attn,attn.q"],
              message: "--targets: unknown projection \"attn.q\" (known: attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj, self_attn.q_proj, self_attn.k_proj, self_attn.v_proj, self_attn.o_proj, mlp.gate_proj, mlp.up_proj, mlp.down_proj)"),
        .init(arguments: finetune + ["--seq", "65"], message: "--seq must be at most 64 (the context of random:tiny), got 65"),
        .init(arguments: eval + ["--batch", "0"], message: "--batch must be between 1 and 65536, got 0"),
        .init(arguments: eval + ["--seq", "0"], message: "--seq must be between 1 and 65536, got 0"),
        .init(arguments: eval + ["--seq", "65"], message: "--seq must be at most 64 (the context of random:tiny), got 65"),
        .init(arguments: eval + ["--split", "validation"], message: "--split must be one of train, trust, test, all, got validation"),
        .init(arguments: generate + ["--tokens=-1"], message: "--tokens must be at least 0, got -1"),
        .init(arguments: generate + ["--temperature=-1"], message: "--temperature must be in [0, ∞), got -1.0"),
        .init(arguments: generate + ["--temperature", "inf"], message: "--temperature must be in [0, ∞), got inf"),
        .init(arguments: generate + ["--top-k", "0"], message: "--top-k must be at least 1, got 0"),
        .init(arguments: ["generate", "--base", "random:tiny", "--prompt", ""], message: "--prompt must not be empty"),
        .init(arguments: ["topology", "init", "--nodes", "0", "--out", "/nonexistent/lab.toml"], message: "--nodes must be at least 1, got 0"),
        .init(arguments: initTopology + ["--shape", "clusters", "--groups", "4"], message: "--groups must be between 1 and --nodes (3), got 4"),
        .init(arguments: initTopology + ["--base-port", "65534"], message: "--base-port must be between 1 and 65000 to leave room for 3 ports, got 65534"),
        .init(arguments: initTopology + ["--shape", "star"], message: "--shape must be one of full, ring, k-regular, clusters, got star"),
        .init(arguments: initTopology + ["--shape", "k-regular", "--k", "0"], message: "--k must be at least 1, got 0"),
        .init(arguments: initTopology + ["--shape", "k-regular", "--k", "3"], message: "--k must be less than --nodes (3), got 3"),
        .init(arguments: initTopology + ["--shape", "k-regular", "--degree", "1"],
              message: "--k (1) times --nodes (3) must be even: no 1-regular graph on 3 nodes exists"),
        .init(arguments: ["topology", "init", "--nodes", "4", "--out", "/nonexistent/lab.toml", "--shape", "k-regular", "--degree", "1", "--seed", "5"],
              message: "--k 1 with --seed: no 1-regular graph on 4 nodes is connected"),
        .init(arguments: initTopology + ["--ttl=-1"], message: "--ttl must be at least 0, got -1"),
        .init(arguments: initTopology + ["--sources", ","], message: "--sources must name at least one of prose, arithmetic, code, lingua"),
        .init(arguments: initTopology + ["--sources", "prose,poetry"],
              message: "--sources: unknown source \"poetry\" (known: prose, arithmetic, code, lingua)"),
        .init(arguments: initTopology + ["--name", "a\"b"],
              message: "--name must be letters, digits, '-', '_' or '.' (by default the name of --out), got \"a\"b\""),
        .init(arguments: ["topology", "init", "--nodes", "3", "--out", "/nonexistent/my lab.toml"],
              message: "--name must be letters, digits, '-', '_' or '.' (by default the name of --out), got \"my lab\""),
        .init(arguments: ["data", "synth", "--topology", "/nonexistent.toml", "--bytes", "0"], message: "--bytes must be at least 1, got 0"),
        .init(arguments: ["node", "--topology", "/nonexistent.toml", "--name", "a", "--threads", "0"], message: "--threads must be at least 1, got 0"),
        .init(arguments: ["up", "/nonexistent.toml", "--threads", "0"], message: "--threads must be at least 1, got 0"),
        .init(arguments: ["up", "/nonexistent.toml", "--bytes", "0"], message: "--bytes must be at least 1, got 0"),
        .init(arguments: ["trust", "--topology", "/nonexistent.toml", "--round", "0"], message: "--round must be at least 1, got 0"),
        .init(arguments: ["trust", "--topology", "/nonexistent.toml", "--format", "png"],
              message: "--format must be one of heatmap, json, csv, dot, svg, html, got png"),
        .init(arguments: experiment + ["--seeds", "0"], message: "--seeds must be at least 1, got 0"),
        .init(arguments: experiment + ["--rounds", "0"], message: "--rounds must be at least 1, got 0"),
        .init(arguments: experiment + ["--rounds", "3", "--warmup-rounds", "3"], message: "--warmup-rounds must be less than --rounds (3), got 3"),
        .init(arguments: experiment + ["--local-steps", "0"], message: "--local-steps must be at least 1, got 0"),
        .init(arguments: experiment + ["--batch", "0"], message: "--batch must be between 1 and 65536, got 0"),
        .init(arguments: experiment + ["--bytes", "0"], message: "--bytes must be at least 1, got 0"),
        .init(arguments: experiment + ["--evaluation-bytes", "0"], message: "--evaluation-bytes must be at least 1, got 0"),
        .init(arguments: experiment + ["--base-bytes", "0"], message: "--base-bytes must be at least 1, got 0"),
        .init(arguments: experiment + ["--lr", "2"], message: "--lr must be in (0, 1), got 2.0"),
        .init(arguments: experiment + ["--own-share", "0"], message: "--own-share must be in (0, 1], got 0.0"),
        .init(arguments: experiment + ["--run", "fedavg", "--run", "fedbiot:drop=0.5", "--attackers", "1", "--attack", "noise"],
              message: "--attackers: the run fedbiot:drop=0.5 exchanges no updates over the mesh, so it takes no attackers; run it in an experiment of its own"),
        .init(arguments: experiment + ["--attackers", "1"], message: "--attackers needs --attack (none, silent, noise, signflip, scale, mimic)"),
        .init(arguments: ["bench", "gossip", "--updates", "0"], message: "--updates must be at least 1, got 0"),
        .init(arguments: ["bench", "gossip", "--payload-bytes", "0"], message: "--payload-bytes must be at least 1, got 0"),
        .init(arguments: ["bench", "train", "--heads", "0"], message: "--heads must be between 1 and 1024, got 0"),
        .init(arguments: ["bench", "train", "--gemm-size", "0"], message: "--gemm-size must be between 1 and 65536, got 0"),
        .init(arguments: ["bench", "train", "--rank=-1"], message: "--rank must be between 0 and 65536, got -1"),
        .init(arguments: ["bench", "trust", "--repeats", "0"], message: "--repeats must be at least 1, got 0"),
        .init(arguments: ["bench", "trust", "--threads", "0"], message: "--threads must be at least 1, got 0"),
        .init(arguments: ["bench", "trust", "--model-repeats=-1"], message: "--model-repeats must be at least 0, got -1"),
        .init(arguments: ["bench", "trust", "--model-batch", "0"], message: "--model-batch must be between 1 and 65536, got 0"),
        .init(arguments: ["bench-sink", "--count=-1"], message: "--count must be at least 0, got -1"),
    ]

    @Test(arguments: cases) func badValueIsAUsageError(_ input: BadInput) throws {
        let r = try runStarling(input.arguments)
        #expect(r.status == 64, "\(r.err)")
        #expect(r.err.contains("Error: \(input.message)\n"), "\(r.err)")
    }

    @Test func anOutputThatCannotBeWrittenIsRefusedBeforeTraining() throws {
        let dir = try clusterFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/notes.txt"
        try "a file, not a folder".write(toFile: file, atomically: true, encoding: .utf8)
        for command in [Self.pretrain, Self.finetune] {
            let r = try runStarling(Array(command.dropLast()) + [file + "/out"])
            #expect(r.status == 64, "\(r.err)")
            #expect(r.err.contains("Error: --out \(file)/out: \(file) is not a folder this user can write in\n"), "\(r.err)")
            let empty = try runStarling(Array(command.dropLast()) + [""])
            #expect(empty.err.contains("Error: --out must name a folder, got \"\"\n"), "\(empty.err)")
        }
    }
}
