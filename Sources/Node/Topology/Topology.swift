// A topology: the members of one Starling network, their settings and who talks to whom.
// Parsed from a TOML file (see TopologyParser.swift); documented in README.md.

import Foundation
import Learning
import Trust
import Schemes

/// The settings every node uses unless its own entry overrides them.
public struct NodeSettings: Sendable, Equatable, Codable {
    /// A Hugging Face-layout model folder (model.safetensors + config.json), relative to
    /// the topology file, or `random:tiny` / `random:gpt2` for a randomly initialised tiny or
    /// GPT-2 124M-shaped model shared by seed.
    /// The personalization scheme (`Schemes.names`).
    public var scheme: String = "collaborative"
    public var baseModel: String = "random:tiny"
    /// `bytes`, or a folder holding a GPT-2 tokenizer (vocab.json + merges.txt or tokenizer.json).
    public var tokenizer: String = "bytes"
    public var lora: LoRAConfig = LoRAConfig(rank: 4, alpha: 32, dropout: 0.1)
    /// Trust strategy with an optional variant, e.g. `validation`, `prediction:topk=3`, as
    /// written; `trustConfig` is what a node runs. The default needs neither the group size
    /// nor the scale of the scores (README, Results).
    public var trust: String = "validation:rule=descent" { didSet { resolveTrust() } }
    /// Softmax temperature of the learned strategies, unless `trust` names one.
    public var temperature: Double = 1.0 { didSet { resolveTrust() } }
    /// `trust` parsed, with `temperature` applied unless the string names a temperature
    /// itself; nil when the two do not make a trust setting (the topology parser reports
    /// why, with the line, so every node of a parsed topology has one).
    public private(set) var trustConfig: TrustConfig? = try? NodeSettings.trustConfig("validation:rule=descent", temperature: 1)
    /// Rounds of local training before the first aggregation.
    public var warmupRounds: Int = 2
    /// Optimizer steps per round.
    public var localSteps: Int = 25
    /// Rounds in all, warm-up included.
    public var rounds: Int = 10
    public var learningRate: Double = 2e-3
    public var weightDecay: Double = 1e-3
    public var batchSize: Int = 4
    public var sequenceLength: Int = 64
    /// What a training pass may keep for backward, as a fraction of the base's f32 weight
    /// bytes (never below 64 MiB): past it, the pass keeps only each block's output and
    /// recomputes the rest in backward (`TransformerModel.activationBudgetBytes`); 0
    /// keeps everything. A quarter keeps a GPT-2 124M node within 1.25 × its weights.
    public var activationBudget: Double = 0.25
    /// Fractions of a node's tokens for train, trust and test.
    public var splits: [Double] = [0.8, 0.1, 0.1]
    /// Tokens of the trust split that trust scores every candidate on, at most (whole
    /// windows of `sequenceLength` from the split's start, at least one); each costs one
    /// forward pass per candidate evaluation.
    public var trustTokens: Int = 8192
    /// Tokens of the test split the test perplexity is measured on, at most.
    public var testTokens: Int = 8192
    /// A node measures its test perplexity after every `testEvery`-th round and after its
    /// last; 1 measures every round.
    public var testEvery: Int = 1
    /// A node scores its candidates afresh at most every `trustEvery` aggregating rounds:
    /// in between, when the same candidates arrive, it weighs their new adapters by the
    /// last scored row (`TrustRecord.scoredRound`); 1 scores every round.
    public var trustEvery: Int = 1
    /// Hops an update is relayed.
    public var ttl: Int = 2
    /// How long a round waits for its neighbours' updates, in milliseconds.
    public var roundTimeoutMilliseconds: Int = 30_000
    /// How many rounds old a held update may be and still count.
    public var stalenessRounds: Int = 2
    /// The norm screen before trust (`NormScreen`): a peer whose adapter, or its distance
    /// to the node's own, exceeds this many times max(own norm, the peers' median norm) is
    /// excluded (`normBound`); 0 disables it.
    public var screenNorm: Double = NormScreen.defaultBound
    public var heartbeatMilliseconds: Int = 500
    /// Missed heartbeats before a peer is considered gone.
    public var liveness: Int = 6
    /// Largest update payload a node sends or accepts, in bytes.
    public var maxPayloadBytes: Int = 64 << 20
    /// Whether links are CURVE-encrypted.
    public var curve: Bool = true
    /// Text every node derives prediction-trust reference batches from (relative to the
    /// topology file); nil derives them from the node's own text.
    public var reference: String? = nil
    /// Seed of model initialisation, sampling and the reference batches.
    public var seed: UInt64 = 1
    /// Where the node serves Prometheus metrics over HTTP (`GET /metrics`); nil: nowhere.
    public var metrics: MetricsAddress? = nil

    // Scheme settings (README "Schemes"); each scheme reads the ones it knows.
    /// How the published slots are aggregated: a trust strategy string (`fedavg` is
    /// FDLoRA's and PFTT's uniform average); nil aggregates by `trust`.
    public var aggregation: String? = nil { didSet { resolveTrust() } }
    /// FDLoRA's outer step size η and Nesterov momentum μ.
    public var outerLearningRate: Double = 1
    public var outerMomentum: Double = 0
    /// FDLoRA: the personal slot is refreshed every this many federated rounds (0: never).
    public var syncEvery: Int = 0
    /// FDLoRA: `factor` or `delta` fusion of the global and personal slots.
    public var fusion: FusionMode = .factor
    /// FDLoRA: loss evaluations of the fusion search after each aggregation.
    public var fusionBudget: Int = 40
    /// FDLoRA: fixed fusion weights [w1, w2]; nil searches them.
    public var fusionWeights: [Double]? = nil
    /// FDLoRA: whether the personal slot is applied while the global slot trains.
    public var personalInGlobal: Bool = false
    /// PFTT: the width m of each block's bottleneck adapter.
    public var bottleneckWidth: Int = 16
    /// PFIT: the reward mixture (`rewards`) and the policy optimisation (`pfit`).
    public var pfit: PFITSettings = .default
    /// FedBiOT: the scheme's keys, the node's role and, for the aligner, its public text.
    public var fedbiot = FedBiOTSettings()
    public var role: FedBiOTRole = .client
    public var publicData: String? = nil

    public init() {}

    /// The trust setting `trust` and `temperature` make, or why they make none.
    public static func trustConfig(_ trust: String, temperature: Double) throws(TrustConfigError) -> TrustConfig {
        var config = try TrustConfig(parsing: trust)
        // The temperature is that of a softmax row: a learned strategy's rule without one
        // (fomo, descent) ignores it; a strategy that learns nothing refuses it.
        if !trust.contains("temperature=") && !(config.strategy.isLearned && config.variant.rule != .softmax) {
            config.variant.temperature = temperature
        }
        try config.validate()
        return config
    }

    private mutating func resolveTrust() {
        if let aggregation {
            // The aggregation string takes the topology's temperature only if it can use one.
            let learned = (try? TrustConfig(parsing: aggregation))?.strategy.isLearned ?? false
            trustConfig = try? Self.trustConfig(aggregation, temperature: learned ? temperature : 1)
        } else {
            trustConfig = try? Self.trustConfig(trust, temperature: temperature)
        }
    }

    /// What the scheme reads of these settings.
    public var schemeSettings: SchemeSettings {
        var s = SchemeSettings(lora: lora, localSteps: localSteps, warmupRounds: warmupRounds)
        s.outerLearningRate = Float(outerLearningRate)
        s.outerMomentum = Float(outerMomentum)
        s.syncEvery = syncEvery
        s.fusion = fusion
        s.fusionBudget = fusionBudget
        s.fusionWeights = fusionWeights?.map(Float.init)
        s.personalInGlobalTraining = personalInGlobal
        s.bottleneckWidth = bottleneckWidth
        s.pfit = pfit
        s.fedbiot = fedbiot
        return s
    }
}

/// One member of the network.
public struct TopologyNode: Sendable, Equatable {
    public var name: String
    /// Where its ROUTER listens: tcp://host:port, ipc://path or inproc://name.
    public var endpoint: String
    /// Its Ed25519 public key as 64 hex digits; nil means "read it from the node's state folder".
    public var publicKey: String?
    /// Its local text: a file or a folder of .txt, relative to the topology file.
    public var data: String
    /// Its row of the node × source mixture (for the oracle strategy and `data synth`).
    public var mixture: [Double]?
    /// Its settings: the defaults with this node's overrides applied.
    public var settings: NodeSettings
}

/// How the edges are given.
public enum EdgeShape: String, Sendable, Codable, CaseIterable {
    case explicit, full, ring, kRegular = "k-regular", clusters
}

/// A parsed, checked topology.
public struct Topology: Sendable, Equatable {
    public var name: String
    /// The folder holding the topology file; relative paths resolve against it.
    public var baseDirectory: String
    /// Root of the nodes' state folders (`<state>/<node name>`), resolved.
    public var stateRoot: String
    /// Names of the data sources, in mixture-column order.
    public var sources: [String]
    public var defaults: NodeSettings
    public var nodes: [TopologyNode]
    public var shape: EdgeShape
    /// Undirected edges as index pairs (i < j), sorted.
    public var edges: [(Int, Int)]

    public static func == (a: Topology, b: Topology) -> Bool {
        a.name == b.name && a.baseDirectory == b.baseDirectory && a.stateRoot == b.stateRoot && a.sources == b.sources
            && a.defaults == b.defaults && a.nodes == b.nodes && a.shape == b.shape
            && a.edges.map { [$0.0, $0.1] } == b.edges.map { [$0.0, $0.1] }
    }

    /// The index of the node called `name`.
    public func index(of name: String) -> Int? { nodes.firstIndex { $0.name == name } }

    /// Indices of the neighbours of node `i`, ascending.
    public func neighbours(of i: Int) -> [Int] {
        edges.compactMap { $0.0 == i ? $0.1 : ($0.1 == i ? $0.0 : nil) }.sorted()
    }

    /// The state folder of node `i`.
    public func stateDirectory(of i: Int) -> String {
        (stateRoot as NSString).appendingPathComponent(nodes[i].name)
    }

    /// Resolves a path from the topology file against its folder.
    public func resolve(_ path: String) -> String {
        path.hasPrefix("/") ? path : (baseDirectory as NSString).appendingPathComponent(path)
    }
}

extension Topology {
    /// Undirected edges of a shape over `n` nodes. `k` is the degree of `k-regular`
    /// (each node links to the k/2 nearest on each side of a ring; odd k adds the
    /// opposite node when n is even); `groups` splits nodes into contiguous clusters,
    /// fully connected inside, and joins consecutive clusters by one bridge edge so
    /// the graph stays connected.
    public static func edges(shape: EdgeShape, count n: Int, k: Int = 2, groups: Int = 1) -> [(Int, Int)] {
        var set = Set<[Int]>()
        func add(_ a: Int, _ b: Int) {
            guard a != b else { return }
            set.insert([min(a, b), max(a, b)])
        }
        switch shape {
        case .explicit:
            break
        case .full:
            for i in 0..<n { for j in (i + 1)..<max(n, i + 1) { add(i, j) } }
        case .ring:
            if n > 1 { for i in 0..<n { add(i, (i + 1) % n) } }
        case .kRegular:
            if n > 1 {
                for i in 0..<n {
                    for d in 1...max(1, k / 2) { add(i, (i + d) % n) }
                    if k % 2 == 1 && n % 2 == 0 { add(i, (i + n / 2) % n) }
                }
            }
        case .clusters:
            let members = clusterMembers(count: n, groups: groups)
            for g in members {
                for a in g { for b in g { add(a, b) } }
            }
            for g in 0..<(members.count - 1) where !members[g].isEmpty && !members[g + 1].isEmpty {
                add(members[g].last!, members[g + 1].first!)
            }
        }
        return set.map { ($0[0], $0[1]) }.sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
    }

    /// Node indices of each of `groups` contiguous clusters of nearly equal size.
    public static func clusterMembers(count n: Int, groups: Int) -> [[Int]] {
        let g = max(1, min(groups, max(n, 1)))
        return (0..<g).map { c in Array((c * n / g)..<((c + 1) * n / g)) }
    }
}
