// A fedbiot run of an experiment, in one process: every node of the topology is a
// client that holds only the emulator and the adapter (or, for the reference, the full
// model), each with its own text split as a node splits it; one aligner beside them
// holds the full model and the public text (the base's pretraining text, which no
// client holds). Every round the clients' adapters travel to the aligner as update
// payloads and the aggregate and the emulator come back as the mesh would carry them
// (FedBiOTExchange.swift); what the mesh adds, signatures and chunks, is left out.
//
//   before round 1   the aligner aligns the emulator `prealign` steps; the clients
//                    get it (offsite: never again)
//   round r          each client: K steps of cross-entropy + ε-proximal on its text;
//                    after the warm-up, the aligner: the copy and norm screens a
//                    node's aligner runs, fedavg of the adapters kept, E alignment
//                    steps, the aggregate and the emulator back to everyone
//   at the end       AdapEmu: each client's adapter on its emulator, on its test text;
//                    AdapFu: the same adapter in the aligner's full model, same text

import Foundation
import Learning
import Schemes
import Trust

/// What a fedbiot run measured beyond each client's served (AdapEmu) perplexity.
public struct FedBiOTFigures: Sendable, Equatable {
    public var layout: FedBiOTExperimentLayout
    public var dropRatio: Double
    /// Per node, the test perplexity of its adapter plugged into the full model.
    public var adapFu: [Double]
    /// Blocks of the full model, of the clients' model, and the adapter's.
    public var fullBlocks: Int
    public var clientBlocks: [Int]
    public var adapterBlocks: [Int]
    /// Base parameters of the full model and of a client's model.
    public var fullParameters: Int
    public var clientParameters: Int
    /// Bytes of one adapter payload and of one emulator update (0 without an emulator).
    public var payloadBytes: Int
    public var emulatorBytes: Int
    /// The alignment loss on held-out public text: the emulator as cut, after the
    /// alignment before round 1, and at the end (nil without an emulator).
    public var alignmentCut: Double?
    public var alignmentStart: Double?
    public var alignmentEnd: Double?
    /// Client updates the aligner's screens left out over the run, and the copy screen's
    /// margin: over the aggregating rounds, the smallest distance between two of the
    /// aligner's adapter and the clients', as a share of the round's median client step
    /// (a copy is within 0.02 of it).
    public var screenedOut = 0
    public var closestStepShare: Double?

    public var meanAdapFu: Double { Statistic(adapFu).mean }
}

extension Experiment {
    /// Runs fedbiot `entry` in `t` (the run's topology, its text written).
    func runFedBiOT(_ key: ExperimentRunKey, entry: FedBiOTEntry, topology t: Topology) throws -> ExperimentRunResult {
        let start = Date()
        let s = t.nodes[0].settings
        let tokenizer: any Tokenizer
        do { tokenizer = try TokenizerSource.load(s.tokenizer, baseDirectory: t.baseDirectory) } catch { throw NodeError("tokenizer: \(error)") }
        let base: TransformerModel
        do { base = try ModelSource(parsing: s.baseModel, baseDirectory: t.baseDirectory).load(slots: [], seed: s.seed, vocabularySize: tokenizer.vocabularySize) } catch {
            throw NodeError("base model: \(error)")
        }
        let fullConfig = base.config
        let fullTensors = Dictionary(uniqueKeysWithValues: base.namedParameters().map { ($0.name, $0) })
        let plan: EmulatorPlan, cut: EmulatorModel
        do {
            plan = try EmulatorPlan(fullLayers: fullConfig.layers, adapterBlocks: entry.settings.adapterBlocks, dropRatio: entry.settings.dropRatio,
                                    layout: entry.settings.layout)
            cut = try EmulatorModel(full: fullConfig, parameters: fullTensors, plan: plan)
        } catch {
            throw NodeError("run \"\(key.strategy)\" on a base of \(fullConfig.layers) blocks: \(error)")
        }
        let slots = FedBiOT(settings: s.schemeSettings, fedbiot: entry.settings, plan: plan).slots

        // The aligner: the full model, its own emulator, the public text.
        let full = try TransformerModel(config: fullConfig, slots: slots, seed: s.seed, parameters: fullTensors)
        let alignerEmulator = try TransformerModel(config: cut.config, slots: slots, seed: s.seed, parameters: cut.parameters)
        let publicParts = try TextDataset(tokens: publicTokens(key, tokenizer: tokenizer))
            .split(fractions: SplitFractions(train: 0.9, trust: 0.05, test: 0.05), sequenceLength: s.sequenceLength, seed: s.seed)
        let aligner = try FedBiOTAligner(full: full, emulator: alignerEmulator, plan: plan, fedbiot: entry.settings,
                                         publicText: try publicParts.train.sampler(batchSize: s.batchSize, seed: s.seed &+ 0xA11))
        let heldOut = NodeModel.testBatches(of: publicParts, settings: s)

        // The clients, each on its own text.
        let clients = try t.nodes.indices.map { i in
            try FedBiOTClient(
                settings: t.nodes[i].settings, entry: entry, plan: plan, config: entry.hasEmulator ? cut.config : fullConfig,
                parameters: entry.hasEmulator ? cut.parameters : fullTensors, dataPath: t.resolve(t.nodes[i].data), tokenizer: tokenizer,
                nodeIndex: i)
        }
        let digest = clients[0].scheme.baseDigest(of: clients[0].model)
        let expectation = try clients[0].scheme.expectation(model: clients[0].model, baseDigest: digest)

        var alignmentCut: Double?, alignmentStart: Double?, emulatorBytes = 0
        if entry.hasEmulator {
            alignmentCut = Double(aligner.alignment.evaluate(heldOut).total)
            _ = try aligner.alignOnce(steps: entry.prealignSteps)
            alignmentStart = Double(aligner.alignment.evaluate(heldOut).total)
            let update = try aligner.emulatorUpdate(version: 0)
            emulatorBytes = update.count
            for c in clients { try EmulatorUpdate.apply(update, to: c.model, plan: plan) }
        }
        var payloadBytes = 0, screenedOut = 0
        var closestStepShare: Double?
        for round in 1...self.plan.rounds {
            let payloads = try clients.map { try $0.train(round: round, digest: digest) }
            payloadBytes = payloads[0].count
            guard clients[0].scheme.aggregates(round: round) else { continue }
            // The screens of a node's aligner (FedBiOTRound.swift), on the adapter it
            // published last: what every client started the round from.
            let own = TrustCandidate(id: "aligner", adapter: try full.adapter(named: FedBiOT.slot))
            let peers = try payloads.enumerated().map { k, bytes in
                TrustCandidate(id: t.nodes[k].name, adapter: try UpdatePayload.decode(bytes, expecting: expectation))
            }
            let step = DuplicateScreen.medianStep(of: peers, from: own.adapter)
            let screened = PeerScreen.screen(own: own, peers: peers, ownStep: step, norm: NormScreen(bound: s.screenNorm))
            screenedOut += screened.exclusions.count
            if let step, step > 0, let closest = Self.closestDistance([own] + peers) {
                closestStepShare = min(closestStepShare ?? .infinity, closest / step)
            }
            let kept = screened.kept.isEmpty ? [own.adapter] : screened.kept.map(\.adapter)
            let published = try aligner.round(round, adapters: kept, baseDigest: expectation.baseDigest)
            if let e = published.emulator { emulatorBytes = e.count }
            for c in clients {
                try c.scheme.takeIn(aggregate: published.aggregate, emulator: published.emulator, model: c.model, expecting: expectation, round: round)
            }
        }

        let adapEmu = clients.map { exp(Double($0.model.evaluateLoss(batches: $0.testBatches))) }
        let adapFu = try clients.map { c -> Double in
            try full.setAdapter(try c.model.adapter(named: FedBiOT.slot), named: FedBiOT.slot)
            return exp(Double(full.evaluateLoss(batches: c.testBatches)))
        }
        let n = t.nodes.count
        let graph = TrustGraph(
            nodes: t.nodes.map(\.name), weights: Array(repeating: Array(repeating: 1 / Double(n), count: n), count: n),
            rounds: Array(repeating: self.plan.rounds, count: n), strategies: Array(repeating: "fedavg", count: n))
        var result = ExperimentRunResult(key: key, nodes: t.nodes.map(\.name), perplexities: adapEmu, graph: graph, seconds: Date().timeIntervalSince(start))
        result.fedbiot = FedBiOTFigures(
            layout: entry.layout, dropRatio: entry.settings.dropRatio, adapFu: adapFu, fullBlocks: fullConfig.layers,
            clientBlocks: clients[0].model.config.blocks, adapterBlocks: plan.adapterBlocks, fullParameters: base.parameterCount,
            clientParameters: clients[0].baseParameters, payloadBytes: payloadBytes, emulatorBytes: emulatorBytes, alignmentCut: alignmentCut,
            alignmentStart: alignmentStart, alignmentEnd: entry.hasEmulator ? Double(aligner.alignment.evaluate(heldOut).total) : nil,
            screenedOut: screenedOut, closestStepShare: closestStepShare)
        return result
    }

    /// The smallest distance between two of `candidates`, nil for fewer than two.
    static func closestDistance(_ candidates: [TrustCandidate]) -> Double? {
        var closest: Double?
        for i in candidates.indices {
            for j in candidates.indices where j > i && candidates[i].adapter.hasSameLayout(as: candidates[j].adapter) {
                closest = min(closest ?? .infinity, AdapterNorm.distance(candidates[i].adapter, candidates[j].adapter))
            }
        }
        return closest
    }

    /// The aligner's public text: the first `baseBytes` of the base text, or the
    /// generated even mixture the base of this seed is pretrained on.
    func publicTokens(_ key: ExperimentRunKey, tokenizer: any Tokenizer) throws -> [Int32] {
        if let path = plan.baseText { return Array(try FileSystem.readBytes(path).prefix(plan.baseBytes)).map(Int32.init) }
        let t = topology(for: key)
        let text = SyntheticText.text(
            sources: t.sources.compactMap(TextSource.init(rawValue:)), mixture: Array(repeating: 1, count: t.sources.count),
            byteCount: plan.baseBytes, seed: t.defaults.seed &+ 0x5EED, nodeIndex: t.nodes.count)
        return tokenizer.encode(text)
    }
}

/// One fedbiot client of an in-process run: its model, trainer, text and scheme.
final class FedBiOTClient {
    let scheme: FedBiOT
    let model: TransformerModel
    let trainer: Trainer
    let splits: DatasetSplits
    let testBatches: [TokenBatch]
    let batchSize: Int
    let samplingSeed: UInt64
    let baseParameters: Int

    init(settings s: NodeSettings, entry: FedBiOTEntry, plan: EmulatorPlan, config: ModelConfig, parameters: [String: NamedTensor], dataPath: String,
         tokenizer: any Tokenizer, nodeIndex: Int) throws {
        scheme = FedBiOT(settings: s.schemeSettings, fedbiot: entry.settings, plan: plan)
        model = try TransformerModel(config: config, slots: scheme.slots, seed: s.seed, parameters: parameters)
        baseParameters = parameters.values.reduce(0) { $0 + $1.values.count }
        trainer = NodeModel.trainer(for: model, settings: s, scheme: scheme)
        scheme.installProximalTerm(on: trainer)
        do {
            splits = try NodeModel.splits(of: dataPath, settings: s, tokenizer: tokenizer)
        } catch {
            throw NodeError("\(dataPath): \(error)")
        }
        testBatches = NodeModel.testBatches(of: splits, settings: s)
        batchSize = s.batchSize
        samplingSeed = NodeModel.samplingSeed(settings: s, nodeIndex: nodeIndex)
    }

    /// The round's steps; the payload of the adapter.
    func train(round: Int, digest: String) throws -> [UInt8] {
        try scheme.trainRound(round, model: model, trainer: trainer, baseDigest: digest) { k in
            try splits.train.sampler(batchSize: batchSize, seed: NodeModel.phaseSeed(samplingSeed, round: round, phase: k))
        }
    }
}
