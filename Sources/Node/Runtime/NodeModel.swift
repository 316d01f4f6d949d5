// NodeModel: everything of a node's model in one place — the transformer with the
// scheme's slots, its trainer, the node's own text split into train / trust / test,
// and the batches trust and evaluation use. The round loop asks it to train a round,
// to give the published slot as payload bytes, to score candidates and to take an
// aggregate in; it never reaches into the model itself.

import Foundation
import Learning
import Schemes
import Trust

/// Errors of preparing a node's model and data.
public enum NodeModelError: Error, CustomStringConvertible {
    case baseModel(String)
    case tokenizer(String)
    case data(String)
    case scheme(String)

    public var description: String {
        switch self {
        case .baseModel(let why): "base model: \(why)"
        case .tokenizer(let why): "tokenizer: \(why)"
        case .data(let why): "data: \(why)"
        case .scheme(let why): "scheme: \(why)"
        }
    }
}

/// What a node commits of its model each round: every slot, every group's optimizer
/// state, the scheme's own state and the position of the dropout stream.
public struct ModelCheckpoint: Sendable, Equatable {
    /// Every slot's adapter, in the model's slot order.
    public var adapters: [(name: String, adapter: LoRAAdapter)]
    public var optimizer: OptimizerState
    public var schemeState: [NamedTensor]
    /// `TransformerModel.dropoutPosition`: a resumed run draws the masks it would have drawn.
    public var dropoutPosition: UInt64

    public init(adapters: [(name: String, adapter: LoRAAdapter)], optimizer: OptimizerState, schemeState: [NamedTensor], dropoutPosition: UInt64) {
        self.adapters = adapters
        self.optimizer = optimizer
        self.schemeState = schemeState
        self.dropoutPosition = dropoutPosition
    }

    public static func == (a: ModelCheckpoint, b: ModelCheckpoint) -> Bool {
        a.adapters.map(\.name) == b.adapters.map(\.name) && a.adapters.map(\.adapter) == b.adapters.map(\.adapter)
            && a.optimizer == b.optimizer && a.schemeState == b.schemeState && a.dropoutPosition == b.dropoutPosition
    }
}

public final class NodeModel {
    /// Reference batches derived for `prediction`.
    public static let referenceBatchCount = 2

    public let model: TransformerModel
    public let trainer: Trainer
    public let scheme: any PersonalizationScheme
    public let splits: DatasetSplits
    public let settings: NodeSettings
    /// The digest of the base every update names (fedbiot: of the part the emulator and
    /// the full model share, so clients and the aligner name one base).
    public let baseDigest: String
    /// FedBiOT: the emulator's plan, and on the aligner what aggregates and aligns.
    public let emulatorPlan: EmulatorPlan?
    public let aligner: FedBiOTAligner?
    let trustBatches: [TokenBatch]
    let testBatches: [TokenBatch]
    let referenceBatches: [TokenBatch]
    /// Seed of this node's batch sampling; the round is mixed in so a restart resumes
    /// the same stream of batches.
    let samplingSeed: UInt64

    /// Builds the model from `settings.baseModel` with the scheme's slots (same base on
    /// every node: the seed is the topology's), loads and splits the text at
    /// `dataPath`, and prepares the evaluation batches. `referencePath` is the shared
    /// reference for `prediction` (nil: the node's own trust split). `scheme` replaces
    /// the one `settings` names.
    public init(
        settings: NodeSettings, dataPath: String, baseDirectory: String, nodeIndex: Int, referencePath: String?,
        scheme: (any PersonalizationScheme)? = nil
    ) throws {
        self.settings = settings
        let tokenizer: any Tokenizer
        do { tokenizer = try TokenizerSource.load(settings.tokenizer, baseDirectory: baseDirectory) } catch {
            throw NodeModelError.tokenizer(error.description)
        }
        var schemeSettings = settings.schemeSettings
        let fedbiotBase = try FedBiOTBase.loadIfFedBiOT(settings: settings, replaced: scheme != nil, baseDirectory: baseDirectory,
                                                        vocabularySize: tokenizer.vocabularySize)
        schemeSettings.emulatorPlan = fedbiotBase?.plan
        emulatorPlan = fedbiotBase?.plan
        do {
            self.scheme = try scheme ?? Schemes.make(settings.scheme, settings: schemeSettings)
        } catch let error as SchemeError {
            throw NodeModelError.scheme(error.description)
        }
        model = try Self.loadModel(settings: settings, fedbiot: fedbiotBase, slots: self.scheme.slots, baseDirectory: baseDirectory,
                                   vocabularySize: tokenizer.vocabularySize)
        guard settings.sequenceLength <= model.config.maxSequenceLength else {
            throw NodeModelError.baseModel(
                "sequence_length \(settings.sequenceLength) exceeds the model's context of \(model.config.maxSequenceLength)")
        }
        baseDigest = Self.digest(of: model, scheme: self.scheme)
        if settings.activationBudget > 0 {
            model.activationBudgetBytes = model.activationBudget(fractionOfWeights: settings.activationBudget)
        }
        do {
            splits = try Self.splits(of: dataPath, settings: settings, tokenizer: tokenizer)
        } catch {
            throw NodeModelError.data("\(dataPath): \(error)")
        }
        trainer = Self.trainer(for: model, settings: settings, scheme: self.scheme)
        samplingSeed = Self.samplingSeed(settings: settings, nodeIndex: nodeIndex)
        Self.prepareFedBiOT(scheme: self.scheme, trainer: trainer, role: settings.role)
        aligner = try Self.makeAligner(full: model, base: fedbiotBase, scheme: self.scheme, settings: settings, baseDirectory: baseDirectory,
                                       tokenizer: tokenizer, seed: samplingSeed)
        trustBatches = splits.trust.sequentialBatches(batchSize: settings.batchSize, tokens: settings.trustTokens)
        let model = model, batches = trustBatches
        do {
            try self.scheme.attach(model: model) { Double(model.evaluateLoss(batches: batches)) }
        } catch {
            throw NodeModelError.scheme("\(error)")
        }
        testBatches = Self.testBatches(of: splits, settings: settings)
        let referenceTokens: [Int32]
        if let referencePath {
            do {
                referenceTokens = try TextDataset.load(from: referencePath, tokenizer: tokenizer).tokens
            } catch {
                throw NodeModelError.data("reference \(referencePath): \(error)")
            }
        } else {
            let trust = splits.trust
            referenceTokens = trust.chunks.flatMap { Array(trust.tokens[$0]) }
        }
        if let pfit = self.scheme as? PFIT {
            let train = splits.train
            do {
                try pfit.attach(ownText: train.chunks.flatMap { Array(train.tokens[$0]) }, referenceText: referenceTokens,
                                tokenizer: tokenizer, seed: samplingSeed)
            } catch {
                throw NodeModelError.scheme("\(error)")
            }
        }
        let batchSize = settings.batchSize, sequenceLength = settings.sequenceLength
        do {
            referenceBatches = try ReferenceBatches.derive(
                seed: settings.seed, tokens: referenceTokens, count: Self.referenceBatchCount,
                batchSize: batchSize, sequenceLength: sequenceLength
            ).batches.map {
                TokenBatch(inputs: $0.inputs, targets: $0.targets, batchSize: batchSize, sequenceLength: sequenceLength)
            }
        } catch {
            throw NodeModelError.data("reference batches: \(error)")
        }
    }

    /// The base digest updates name: fedbiot's over the part outside the emulated
    /// middle (FedBiOTExchange.swift, as the experiment names it), or all of it.
    static func digest(of model: TransformerModel, scheme: any PersonalizationScheme) -> String {
        (scheme as? FedBiOT)?.baseDigest(of: model) ?? model.baseDigest()
    }

    /// A fedbiot client's steps carry the proximal term; the aligner takes none.
    static func prepareFedBiOT(scheme: any PersonalizationScheme, trainer: Trainer, role: FedBiOTRole) {
        guard let fedbiot = scheme as? FedBiOT else { return }
        fedbiot.installProximalTerm(on: trainer)
        fedbiot.trainsLocally = role == .client
    }

    /// The aligner's copy of the emulator and its alignment on `public_data`.
    static func makeAligner(
        full: TransformerModel, base: FedBiOTBase?, scheme: any PersonalizationScheme, settings: NodeSettings, baseDirectory: String,
        tokenizer: any Tokenizer, seed: UInt64
    ) throws -> FedBiOTAligner? {
        guard let cut = base?.emulator, let slots = (scheme as? FedBiOT)?.slots else { return nil }
        guard let publicData = settings.publicData else { throw NodeModelError.data("the fedbiot aligner needs public_data") }
        let path = publicData.hasPrefix("/") ? publicData : FileSystem.join(baseDirectory, publicData)
        do {
            let emulator = try TransformerModel(config: cut.config, slots: slots, seed: settings.seed, parameters: cut.parameters)
            let text = try TextDataset.load(from: path, tokenizer: tokenizer)
                .split(fractions: SplitFractions(train: 1, trust: 0, test: 0), sequenceLength: settings.sequenceLength, seed: settings.seed)
            return try FedBiOTAligner(full: full, emulator: emulator, plan: cut.plan, fedbiot: settings.fedbiot,
                                      publicText: try text.train.sampler(batchSize: settings.batchSize, seed: seed ^ 0xA11C_4E5D))
        } catch {
            throw NodeModelError.data("public_data \(path): \(error)")
        }
    }

    /// The base with `slots`: a fedbiot node's emulator or full model, or the settings' source.
    static func loadModel(
        settings: NodeSettings, fedbiot: FedBiOTBase?, slots: [AdapterSlotSpec], baseDirectory: String, vocabularySize: Int
    ) throws -> TransformerModel {
        do {
            if let fedbiot {
                return try TransformerModel(config: fedbiot.config, slots: slots, seed: settings.seed, parameters: fedbiot.tensors)
            }
            let source = try ModelSource(parsing: settings.baseModel, baseDirectory: baseDirectory)
            return try source.load(slots: slots, seed: settings.seed, vocabularySize: vocabularySize)
        } catch {
            throw NodeModelError.baseModel("\(error)")
        }
    }

    // MARK: Training

    /// Runs the scheme's phases of round `round` and returns the mean loss of their steps
    /// and how many were taken. `shouldStop` is asked before each step; training ends
    /// early when it says yes.
    public func train(round: Int, shouldStop: () -> Bool) throws -> (meanLoss: Double, steps: Int) {
        var total = 0.0, done = 0
        // What training kept for backward (about 40 MiB at GPT-2 124M, batch 4 × 64) is
        // needed by none of what follows: it goes before the node publishes, waits with
        // its neighbours' updates arriving and scores them, and comes back with the next
        // round's first step.
        defer { model.releasePassBuffers() }
        try scheme.beginRound(round: round, model: model)
        for (k, phase) in scheme.phases(round: round).enumerated() {
            try model.setTrainable(phase.trains)
            model.activeSlots = phase.activeSlots ?? Set(model.slotNames)
            // Fusion factors are for serving; every slot trains at its own scale.
            model.slotScaleFactors = [:]
            defer { model.activeSlots = Set(model.slotNames) }
            var sampler = try splits.train.sampler(
                batchSize: settings.batchSize, seed: Self.phaseSeed(samplingSeed, round: round, phase: k))
            let (loss, steps) = try runTraining(trainer, sampler: &sampler, steps: phase.steps, shouldStop: shouldStop)
            if steps > 0 { total += loss * Double(steps) }
            done += steps
            if shouldStop() { break }
        }
        // A scheme that trains outside phases (PFIT's policy steps) reports its own loss and steps.
        if done == 0, let figures = scheme.roundFigures, let loss = figures["policy_loss"] {
            return (loss, Int(figures["policy_steps"] ?? 0))
        }
        // A round without phases (the fedbiot aligner) takes no steps and has no train loss: 0
        // stands for it (metrics are JSON, which has no NaN; its alignment loss is in its figures).
        if scheme.phases(round: round).isEmpty { return (0, 0) }
        return (done > 0 ? total / Double(done) : .nan, done)
    }

    // MARK: What leaves the device

    /// The published slot's adapter.
    public func publishedAdapter() throws -> LoRAAdapter { try scheme.published(model: model) }

    /// The payload of this round's update: the published slot, and nothing else.
    public func payload() throws -> [UInt8] { try encode(publishedAdapter()) }

    /// The payload an update carrying `adapter` in the published slot would have.
    public func encode(_ adapter: LoRAAdapter) throws -> [UInt8] {
        try UpdatePayload.encode(adapter, scheme: scheme.name, slot: scheme.publishedSlot, baseDigest: baseDigest, kind: scheme.publishedKind)
    }

    /// What every received update must be to count as a candidate.
    public func expectation() throws -> PayloadExpectation {
        PayloadExpectation(
            scheme: scheme.name, slot: scheme.publishedSlot, baseDigest: baseDigest, layout: try publishedAdapter(), kind: scheme.publishedKind)
    }

    // MARK: Trust and aggregation

    /// Scores candidates in the scheme's candidate slot of this model, putting the
    /// slot's own values back after each; the other slots as the scheme configures
    /// the model for scoring.
    public func evaluator() throws -> ModelEvaluator {
        try scheme.configure(model: model, for: .scoring)
        let (model, scheme) = (self.model, self.scheme)
        return ModelEvaluator(model: model, trustBatches: trustBatches, referenceBatches: referenceBatches,
                              candidateSlot: scheme.candidateSlot) { adapter, body in
            try scheme.withCandidate(adapter, model: model, body)
        }
    }

    /// Takes the round's aggregate in, as the scheme prescribes.
    public func takeIn(aggregate: LoRAAdapter, round: Int) throws {
        try scheme.takeIn(aggregate: aggregate, model: model, round: round)
    }

    /// Mean cross-entropy of the served model on the test split. The model stays set
    /// up as served until the next round trains.
    public func testLoss() throws -> Double {
        try scheme.configure(model: model, for: .serving)
        return Double(model.evaluateLoss(batches: testBatches))
    }

    /// Mean cross-entropy on the trust split's batches of the model as it is set up now.
    public func trustLoss() -> Double { Double(model.evaluateLoss(batches: trustBatches)) }

    // MARK: State

    /// What a round commits.
    public func checkpoint() throws -> ModelCheckpoint {
        ModelCheckpoint(
            adapters: try model.slotNames.map { ($0, try model.adapter(named: $0)) }, optimizer: trainer.optimizerState(),
            schemeState: scheme.state, dropoutPosition: model.dropoutPosition)
    }

    /// Continues from a committed checkpoint.
    public func restore(_ checkpoint: ModelCheckpoint) throws {
        for (name, adapter) in checkpoint.adapters { try model.setAdapter(adapter, named: name) }
        try trainer.restore(checkpoint.optimizer)
        try scheme.restore(state: checkpoint.schemeState)
        model.dropoutPosition = checkpoint.dropoutPosition
    }
}

// What a node and an in-process experiment's client build alike from a node's settings,
// so both split the same text and draw the same batches.
extension NodeModel {
    /// The node's text at `dataPath`, split into train, trust and test as its settings say.
    static func splits(of dataPath: String, settings: NodeSettings, tokenizer: any Tokenizer) throws -> DatasetSplits {
        let f = settings.splits
        return try TextDataset.load(from: dataPath, tokenizer: tokenizer).split(
            fractions: SplitFractions(train: f[0], trust: f[1], test: f[2]), sequenceLength: settings.sequenceLength, seed: settings.seed)
    }

    /// The batches a node's test perplexity is measured on: the first `test_tokens` of the
    /// test split.
    static func testBatches(of splits: DatasetSplits, settings: NodeSettings) -> [TokenBatch] {
        splits.test.sequentialBatches(batchSize: settings.batchSize, tokens: settings.testTokens)
    }

    /// The trainer of a node's whole run: every round's phases, warm-up 2 % of the steps.
    static func trainer(for model: TransformerModel, settings: NodeSettings, scheme: any PersonalizationScheme) -> Trainer {
        let totalSteps = settings.rounds * scheme.phases(round: 1).reduce(0) { $0 + $1.steps }
        return Trainer(
            model: model,
            schedule: LearningRateSchedule(peak: Float(settings.learningRate), totalSteps: max(1, totalSteps), warmupFraction: 0.02),
            weightDecay: Float(settings.weightDecay))
    }

    /// The seed of the batch stream of the node at `nodeIndex`.
    static func samplingSeed(settings: NodeSettings, nodeIndex: Int) -> UInt64 {
        settings.seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(nodeIndex + 1)
    }

    /// The seed of phase `phase`'s batches in round `round`; the first phase keeps the
    /// stream a single-phase node has always drawn.
    static func phaseSeed(_ samplingSeed: UInt64, round: Int, phase: Int) -> UInt64 {
        samplingSeed ^ UInt64(round) &* 0xD1B5_4A32_D192_ED03 ^ UInt64(phase) &* 0x94D0_49BB_1331_11EB
    }
}
