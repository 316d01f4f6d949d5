import ArgumentParser
import Foundation
import Learning
import Node
import Trust

/// `starling experiment`: the trust strategies compared on one topology, as tables and figures.
///
/// ```
/// $ starling experiment --out results --seeds 3 --sweep-bytes 5000,60000
/// [1/48] specific seed 1 local: mean test ppl 4.812 (24 s); elapsed 0:31, ETA 24:10
/// ...
/// ```
struct ExperimentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "experiment",
        abstract: "Compare trust strategies on a topology over settings and seeds; write tables and figures.",
        discussion: """
            Runs every strategy in every setting for every seed, all nodes as threads of
            this process over inproc://. "specific": each node's text from its mixture row
            in the topology (one source per group). "mixed": each row r becomes
            share·r + (1 − share)·(1 − r)/(S − 1), e.g. 0.6/0.2/0.2 over three sources.
            Each seed has its own generated text and its own shared base model, pretrained
            on an even mix of the sources. Writes to --out: results.csv (final test
            perplexity per node and run), results.md (strategy × setting, mean ± standard
            deviation over seeds), trust-<strategy>.svg (specific setting, first seed),
            and with --sweep-bytes sweep.csv and sweep.svg (perplexity by text size,
            specific setting, first seed), nodes.csv (per run and node: the served model's
            test perplexity beside its parts alone, the fusion weights, the bytes of one
            update). A progress line per run goes to standard error.

            A fedbiot entry runs in this process with every node a client on the emulator
            (layout=full: on the full model, the reference) and one aligner holding the
            full model and the base text; fedbiot.csv and the "FedBiOT" table give each
            client's test perplexity with its adapter on the emulator (AdapEmu) and in the
            full model (AdapFu). Options: drop, layout (fedbiot, offsite, full),
            adapter_blocks, prealign, align_steps, align_lr, lambda, proximal. The base
            needs at least 4 blocks (--base-layers).

            With --data DIR, the nodes are DIR's: one file (or folder of .txt) per node, in
            name order, fully linked, with the topology's settings; an optional
            mixture.json ({"node": [row]}) or mixture.csv (node,source,...) gives the groups,
            the oracle and the mixed setting (a node's text drawn piece by piece from the
            groups by its mixed row). The base model of each seed is pretrained on
            --base-text unless --base-model names one.

            Example:
              $ starling experiment --out results-quick --seeds 1 --settings specific
              $ tools/corpora --out corpora
              $ starling experiment --data corpora/manpages/nodes --base-text corpora/manpages/base.txt --out results-manpages
              $ starling experiment --base-layers 8 --settings specific --run fedbiot --run fedbiot:drop=0.5 --run fedbiot:layout=offsite --run fedbiot:layout=full --out results-fedbiot
            """
    )

    @Option(help: "The topology file (its nodes, edges, sources and mixture rows).")
    var topology = "topologies/clusters-9.toml"

    @Option(help: "Folder for results.csv, results.md and the figures.")
    var out = "results"

    @Option(name: .customLong("strategy"), help: "A trust setting to compare, e.g. validation:temperature=0.1 (repeat the option).")
    var strategies: [String] = ["local", "fedavg", "weights", "prediction", "validation", "oracle"]

    @Option(name: .customLong("run"), help: ArgumentHelp(
        "A scheme to compare instead of the strategies, e.g. fdlora, fdlora:aggregation=validation,fusion=delta, pftt:width=8, collaborative:validation, fedbiot:drop=0.5, fedbiot:layout=offsite, fedbiot:layout=full (repeat the option).",
        valueName: "scheme[:options]"))
    var runs: [String] = []

    /// The entries compared: the `--run` list when given, else the strategies.
    var entries: [String] { runs.isEmpty ? strategies : runs }

    @Option(help: "Comma-separated settings: specific, mixed.")
    var settings = "specific,mixed"

    @Option(help: "Seeds 1…N.")
    var seeds = 3

    @Option(help: "Rounds per run, warm-up included.")
    var rounds = 6

    @Option(help: "Rounds of local training before the first aggregation.")
    var warmupRounds = 1

    @Option(help: "Optimizer steps per round.")
    var localSteps = 15

    @Option(name: .customLong("batch"), help: "Sequences per step.")
    var batchSize = 4

    @Option(name: .customLong("lr"), help: "Peak learning rate of every node (default: the topology's).")
    var learningRate: Double?

    @Option(help: "Bytes (= tokens) of generated training text per node.")
    var bytes = 20_000

    @Option(help: "Bytes of each node's trust text and of its test text, on top of the training text.")
    var evaluationBytes = 2_080

    @Option(help: "Comma-separated further text sizes for the data-size sweep (empty: no sweep).")
    var sweepBytes = ""

    @Option(help: "Own-source share of a node's text in the mixed setting.")
    var ownShare = ExperimentSetting.defaultOwnShare

    @Option(help: "Bytes of text each seed's base model is pretrained on.")
    var baseBytes = 200_000

    @Option(help: "Blocks of the base model pretrained per seed (fedbiot needs at least 4: 2 adapter blocks and 2 to emulate).")
    var baseLayers = 2

    @Option(help: "One base model for every run (a folder or random:tiny) instead of one pretrained per seed.")
    var baseModel: String?

    @Option(help: "A folder of the nodes' own text (one file or folder per node, optional mixture.json or mixture.csv) instead of generated text.")
    var data: String?

    @Option(help: "Text to pretrain each seed's base model on (its first --base-bytes bytes); default: the generated sources.")
    var baseText: String?

    @Option(help: "Keep keys, text, base models and state folders here (default: a temporary folder, removed).")
    var work: String?

    @Option(help: "Members that publish poisoned updates in every run: the last member of each of the first N groups (then the last but one, …).")
    var attackers = 0

    @Option(help: ArgumentHelp(
        "What the attackers publish: none (honest), silent (nothing), noise (Gaussian at 10× an honest norm), signflip (−4 × the mean of what they hold), scale (20 × their honest adapter), mimic (an honest member's update of another group).",
        valueName: "kind"))
    var attack: String?

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        try requireAtLeast(1, "--seeds", seeds)
        try requireAtLeast(1, "--rounds", rounds)
        try requireAtLeast(0, "--warmup-rounds", warmupRounds)
        guard warmupRounds < rounds else { throw ValidationError("--warmup-rounds must be less than --rounds (\(rounds)), got \(warmupRounds)") }
        try requireAtLeast(1, "--local-steps", localSteps)
        try requireBetween(1, largestDimension, "--batch", batchSize)
        try requireAtLeast(1, "--bytes", bytes)
        try requireAtLeast(1, "--evaluation-bytes", evaluationBytes)
        try requireAtLeast(1, "--base-bytes", baseBytes)
        try requireBetween(1, largestBlockCount, "--base-layers", baseLayers)
        if let learningRate { try require("--lr", learningRate, in: "in (0, 1)") { $0 > 0 && $0 < 1 } }
        try require("--own-share", ownShare, in: "in (0, 1]") { $0 > 0 && $0 <= 1 }
        _ = try parsedSettings()
        _ = try parsedSweep()
        // A fedbiot run trains its clients and aligner in this process, not as mesh
        // members, so nothing of theirs is published for an attacker to replace.
        if try parsedAttack() != nil, let run = runs.first(where: { (try? FedBiOTEntry(spec: $0)) != nil }) {
            throw ValidationError("--attackers: the run \(run) exchanges no updates over the mesh, so it takes no attackers; run it in an experiment of its own")
        }
        for strategy in strategies {
            do { _ = try TrustConfig(parsing: strategy) } catch { throw ValidationError("--strategy \(strategy): \(error)") }
        }
        for run in runs {
            var probe = NodeSettings()
            do { try ExperimentRunSpec.apply(run, to: &probe) } catch { throw ValidationError("--run \(run): \(error)") }
        }
    }

    func parsedSettings() throws -> [ExperimentSetting] {
        try settings.split(separator: ",").map {
            guard let s = ExperimentSetting(rawValue: $0.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("unknown setting \"\($0)\" (known: specific, mixed)")
            }
            return s
        }
    }

    /// The attack of `--attackers` and `--attack`; nil with no attackers.
    func parsedAttack() throws -> ExperimentAttack? {
        try requireAtLeast(0, "--attackers", attackers)
        guard attackers > 0 else {
            if attack != nil { throw ValidationError("--attack needs --attackers N (N ≥ 1)") }
            return nil
        }
        guard let name = attack else {
            throw ValidationError("--attackers needs --attack (\(AttackKind.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        guard let kind = AttackKind(rawValue: name) else {
            throw ValidationError("--attack: unknown attack \"\(name)\" (known: \(AttackKind.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        return ExperimentAttack(kind: kind, attackers: attackers)
    }

    func parsedSweep() throws -> [Int] {
        try sweepBytes.split(separator: ",").map {
            guard let n = Int($0.trimmingCharacters(in: .whitespaces)), n > 0 else {
                throw ValidationError("--sweep-bytes: \"\($0)\" is not a positive number")
            }
            return n
        }
    }

    func run() throws {
        // Relayed duplicates are refused with a warning by design; nine nodes make many.
        LoggingBootstrap.once(level: max(global.logLevel, .error))
        let t: Topology
        do { t = try TopologyParser.load(path: topology) } catch { throw UserError("\(error)") }
        var plan = ExperimentPlan(
            strategies: entries, settings: try parsedSettings(), seeds: (1...seeds).map(UInt64.init), rounds: rounds,
            warmupRounds: warmupRounds, localSteps: localSteps, batchSize: batchSize, bytesPerNode: bytes,
            evaluationBytes: evaluationBytes,
            sweepBytes: try parsedSweep(), ownShare: ownShare, baseBytes: baseBytes, learningRate: learningRate,
            baseModel: baseModel.map(Self.absolute), baseText: baseText.map(Self.absolute))
        plan.attack = try parsedAttack()
        plan.baseLayers = baseLayers
        let workDirectory = work ?? FileManager.default.temporaryDirectory.appendingPathComponent("starling-experiment-\(UUID())").path
        defer { if work == nil { try? FileManager.default.removeItem(atPath: workDirectory) } }

        let experiment: Experiment
        let summary: ExperimentSummary
        do {
            let corpus = try data.map { try ExperimentCorpus(folder: Self.absolute($0)) }
            experiment = try Experiment(topology: t, plan: plan, workDirectory: workDirectory, corpus: corpus)
            FileHandle.standardError.write(Data("starling experiment: \(plan.runs.count) runs of \(experiment.topology.nodes.count) nodes\n".utf8))
            // The nodes run as threads of this process, so the matrix products of each
            // stay on its own thread.
            BLAS.setThreads(1)
            summary = try experiment.run { event in
                FileHandle.standardError.write(Data((Self.progressLine(event) + "\n").utf8))
            }
        } catch {
            throw UserError("\(error)")
        }
        let command = (["starling"] + CommandLine.arguments.dropFirst()).joined(separator: " ")
        var files = try summary.write(to: out, topology: experiment.topology, specificRows: experiment.specificRows, command: command)
        if plan.attack != nil {
            try FileSystem.writeAtomically(Array(RobustnessMeasure.csv(summary.results).utf8), to: FileSystem.join(out, "robustness.csv"))
            files.append("robustness.csv")
        }
        print(summary.markdown(), terminator: "")
        print("wrote \(files.map { FileSystem.join(out, $0) }.joined(separator: ", "))")
    }

    /// A path from the command line, against the current folder (`random:…` kept).
    static func absolute(_ path: String) -> String {
        path.hasPrefix("random:") || path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    static func progressLine(_ event: ExperimentEvent) -> String {
        switch event {
        case .pretraining(let seed):
            return "pretraining the shared base model of seed \(seed)"
        case .finished(let index, let total, let r, let elapsed, let eta):
            return "[\(index)/\(total)] \(r.key.setting.rawValue) seed \(r.key.seed) \(r.key.bytesPerNode) B \(r.key.strategy): "
                + String(format: "mean test ppl %.3f (%.0f s)", r.meanPerplexity, r.seconds)
                + "; elapsed \(clock(elapsed)), ETA \(clock(eta))"
        }
    }

    /// m:ss, or h:mm:ss from an hour.
    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}
