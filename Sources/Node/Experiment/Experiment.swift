// Running a comparison: for each run, an in-memory copy of the topology with the run's
// trust, seed, mixture and schedule, its own text folder per (setting, seed, size), a
// shared base model per seed, its own state folders, and every node on a thread of this
// process over inproc://. The text is generated from the topology's sources, or taken
// from a corpus the user has (`ExperimentCorpus`). Reports progress through a callback:
// this module never prints.
//
//   <work>/keys/<node>.key                      one identity per node for all runs
//   <work>/base/seed-<seed>/                    the seed's shared base model
//   <work>/data/<setting>-seed<seed>-<bytes>/   the nodes' text of that setting and seed
//   <work>/state/<run>/<node>/                  each run's state folders

import Foundation
import Gossip
import Learning
import Trust

/// What the experiment is doing, for a progress line.
public enum ExperimentEvent: Sendable {
    /// Pretraining the shared base model of a seed.
    case pretraining(seed: UInt64)
    /// Run `index` (1-based) of `total` finished; `etaSeconds` estimates the rest from the
    /// mean time of the runs so far.
    case finished(index: Int, total: Int, result: ExperimentRunResult, elapsedSeconds: Double, etaSeconds: Double)
}

/// A comparison of trust strategies over one topology.
public final class Experiment {
    /// The topology as parsed (or made from the corpus); runs change in-memory copies of it.
    public let topology: Topology
    /// The nodes' own text, instead of generated text.
    public let corpus: ExperimentCorpus?
    public let plan: ExperimentPlan
    /// Folder of keys, base models, text and state folders.
    public let workDirectory: String
    /// The topology's mixture rows (the specific setting); nodes without one hold their
    /// contiguous group's source.
    public let specificRows: [[Double]]
    private var keys: [SigningKeyPair] = []

    /// With a `corpus`, its nodes replace the topology's (which gives the settings), fully
    /// linked, and the base model is pretrained on `plan.baseText` unless `plan.baseModel`
    /// names one.
    public init(topology parsed: Topology, plan: ExperimentPlan, workDirectory: String, corpus: ExperimentCorpus? = nil) throws {
        let topology = corpus?.topology(basedOn: parsed) ?? parsed
        if let corpus {
            guard plan.baseModel != nil || plan.baseText != nil else {
                throw NodeError("an experiment on a corpus needs a base model or a base text to pretrain one on")
            }
            if !corpus.hasMixture && (plan.settings.contains(.mixed) || plan.strategies.contains { $0.hasPrefix("oracle") }) {
                throw NodeError("the mixed setting and the oracle need the corpus's mixture.json or mixture.csv")
            }
        } else if topology.sources.isEmpty {
            throw NodeError("the topology lists no text sources to generate the nodes' text from")
        }
        if let attack = plan.attack, attack.attackers >= topology.nodes.count {
            throw NodeError("\(attack.attackers) attackers leave no honest member among \(topology.nodes.count) nodes")
        }
        for strategy in plan.strategies {
            var probe = NodeSettings()
            try ExperimentRunSpec.apply(strategy, to: &probe)
        }
        self.topology = topology
        self.corpus = corpus
        self.plan = plan
        self.workDirectory = workDirectory
        specificRows = topology.nodes.enumerated().map { i, n in
            n.mixture ?? SyntheticText.defaultMixture(node: i, of: topology.nodes.count, sourceCount: topology.sources.count)
        }
    }

    /// Node indices grouped by the largest entry of their specific row.
    public var groups: [[Int]] {
        var bySource: [Int: [Int]] = [:]
        for (i, row) in specificRows.enumerated() {
            let s = row.indices.max { row[$0] < row[$1] } ?? 0
            bySource[s, default: []].append(i)
        }
        return bySource.keys.sorted().map { bySource[$0]! }
    }

    /// Every run of the plan, in order; `event` hears of each finished run.
    /// The process's BLAS thread count is the caller's to choose (`starling experiment`
    /// sets 1); a library call never changes it under other work of the same process.
    public func run(event: (ExperimentEvent) -> Void = { _ in }) throws -> ExperimentSummary {
        try prepareKeys()
        let runs = plan.runs
        let start = Date()
        var results: [ExperimentRunResult] = []
        for (i, key) in runs.enumerated() {
            let baseFolder = self.baseFolder(seed: key.seed)
            if plan.baseModel == nil && !FileSystem.exists(FileSystem.join(baseFolder, "model.safetensors")) {
                event(.pretraining(seed: key.seed))
                if let path = plan.baseText {
                    let text = try FileSystem.readBytes(path)
                    try ClusterPreparation.pretrainBase(
                        topology(for: key), to: baseFolder, tokens: text.prefix(plan.baseBytes).map(Int32.init), layers: plan.baseLayers)
                } else {
                    try ClusterPreparation.pretrainBase(topology(for: key), to: baseFolder, bytes: plan.baseBytes, layers: plan.baseLayers)
                }
            }
            let result = try run(key)
            results.append(result)
            let elapsed = Date().timeIntervalSince(start)
            event(.finished(
                index: i + 1, total: runs.count, result: result, elapsedSeconds: elapsed,
                etaSeconds: elapsed / Double(i + 1) * Double(runs.count - i - 1)))
        }
        return ExperimentSummary(plan: plan, results: results, groups: groups)
    }

    // MARK: One run

    func baseFolder(seed: UInt64) -> String { FileSystem.join(workDirectory, "base/seed-\(seed)") }

    func dataFolder(_ key: ExperimentRunKey) -> String {
        FileSystem.join(workDirectory, "data/\(key.setting.rawValue)-seed\(key.seed)-\(key.bytesPerNode)")
    }

    func stateRoot(_ key: ExperimentRunKey) -> String { FileSystem.join(workDirectory, "state/\(key.folderName)") }

    /// The topology of one run: the parsed one with the run's trust, seed, mixture rows,
    /// schedule, text, base model and state folders, every node on inproc:// without CURVE.
    public func topology(for key: ExperimentRunKey) -> Topology {
        var t = topology
        t.stateRoot = stateRoot(key)
        t.defaults.seed = key.seed
        let rows = key.setting.mixtureRows(specificRows, ownShare: plan.ownShare)
        for i in t.nodes.indices {
            t.nodes[i].mixture = rows[i]
            t.nodes[i].data = FileSystem.join(dataFolder(key), "\(t.nodes[i].name).txt")
            if i < keys.count { t.nodes[i].publicKey = keys[i].publicKey.description }
            var s = t.nodes[i].settings
            // Checked in init: a trust strategy, or a scheme with its options.
            try? ExperimentRunSpec.apply(key.strategy, to: &s)
            // The strategy string alone sets the temperature (1 unless it names one), so a
            // topology's `temperature` does not change what a strategy name means here.
            s.temperature = 1
            s.seed = key.seed
            s.rounds = plan.rounds
            s.warmupRounds = plan.warmupRounds
            s.localSteps = plan.localSteps
            s.batchSize = plan.batchSize
            if let lr = plan.learningRate { s.learningRate = lr }
            s.splits = plan.text(trainBytes: key.bytesPerNode).splits
            s.baseModel = plan.baseModel.map { $0.hasPrefix("random:") ? $0 : t.resolve($0) } ?? baseFolder(seed: key.seed)
            s.curve = false
            t.nodes[i].settings = s
        }
        return t
    }

    /// Runs one strategy in one setting: writes the text if missing, starts every node on
    /// a thread, and reads the final perplexities and the trust graph.
    func run(_ key: ExperimentRunKey) throws -> ExperimentRunResult {
        var t = topology(for: key)
        // Attackers keep their own row to themselves: their trust is never measured.
        let attackers = attackerIndices
        for a in attackers { t.nodes[a].settings.trust = "local" }
        if !FileSystem.exists(t.resolve(t.nodes[0].data)) {
            let bytes = plan.text(trainBytes: key.bytesPerNode).bytes
            if let corpus {
                try FileSystem.createDirectory(dataFolder(key))
                let rows = key.setting.mixtureRows(specificRows, ownShare: plan.ownShare)
                for i in t.nodes.indices {
                    let text = try corpus.text(node: i, rows: rows, groups: groups, bytes: bytes, seed: key.seed)
                    try FileSystem.writeAtomically(text, to: t.resolve(t.nodes[i].data))
                }
            } else {
                try SyntheticText.write(topology: t, bytesPerNode: bytes, seed: key.seed, force: true)
            }
        }
        if let fedbiot = try FedBiOTEntry(spec: key.strategy) { return try runFedBiOT(key, entry: fedbiot, topology: t) }
        if FileSystem.exists(t.stateRoot) { try FileManager.default.removeItem(atPath: t.stateRoot) }
        for i in t.nodes.indices {
            let state = StateDirectory(path: t.stateDirectory(of: i))
            try FileSystem.createDirectory(state.path)
            try keys[i].save(to: state.keyPath)
        }
        let start = Date()
        try Self.runNodes(t, forgers: forgers(attackers))
        let seconds = Date().timeIntervalSince(start)
        let perplexities = try t.nodes.indices.map { i -> Double in
            guard let last = try StateDirectory(path: t.stateDirectory(of: i)).metrics().last, last.round == plan.rounds,
                  let perplexity = last.testPerplexity else {
                throw NodeError("run \(key.folderName): node \(t.nodes[i].name) did not complete round \(plan.rounds)")
            }
            return perplexity
        }
        let robustness = try plan.attack.map { attack in
            RobustnessMeasure(
                attack: attack.kind, names: t.nodes.map(\.name), ids: keys.map(\.publicKey.description), attackers: attackers,
                perplexities: perplexities, histories: try t.nodes.indices.map { try StateDirectory(path: t.stateDirectory(of: $0)).trustHistory() })
        }
        var result = ExperimentRunResult(
            key: key, nodes: t.nodes.map(\.name), perplexities: perplexities, graph: try TrustGraph.fromStateFolders(t),
            seconds: seconds, robustness: robustness)
        result.figures = try ExperimentNodeFigures.measure(t, rounds: plan.rounds)
        return result
    }

    /// The members that attack in every run (`ExperimentAttack.attackerIndices`), in topology order.
    public var attackerIndices: [Int] { (plan.attack?.attackerIndices(groups: groups) ?? []).sorted() }

    /// Each member's forger: a `PoisonForger` for each attacker, nil for the others. A
    /// mimic copies the first honest member of the next group.
    func forgers(_ attackers: [Int]) -> [(any UpdateForger)?] {
        guard let attack = plan.attack else { return Array(repeating: nil, count: topology.nodes.count) }
        let groups = self.groups, set = Set(attackers)
        return topology.nodes.indices.map { i -> (any UpdateForger)? in
            guard set.contains(i) else { return nil }
            let g = groups.firstIndex { $0.contains(i) } ?? 0
            let target = ExperimentAttack.mimicTarget(ofGroup: g, groups: groups, attackers: set).map { keys[$0].publicKey }
            return PoisonForger(kind: attack.kind, seed: UInt64(i + 1) &* 0x2545_F491_4F6C_DD1D, target: target)
        }
    }

    /// Every node of `t` on its own thread over inproc:// in one context; throws the
    /// first node's failure. `forgers` replace what the attackers publish.
    static func runNodes(_ t: Topology, forgers: [(any UpdateForger)?]? = nil) throws {
        let cluster = try InProcessCluster(t, forgers: forgers)
        _ = cluster.run(stopOnFailure: true)
        if let first = cluster.failures().first { throw NodeError(first) }
    }

    func prepareKeys() throws {
        guard keys.isEmpty else { return }
        let folder = FileSystem.join(workDirectory, "keys")
        try FileSystem.createDirectory(folder)
        keys = try topology.nodes.map { n in
            let path = FileSystem.join(folder, "\(n.name).key")
            if FileSystem.exists(path) { return try SigningKeyPair.load(from: path) }
            let k = try SigningKeyPair()
            try k.save(to: path)
            return k
        }
    }
}
