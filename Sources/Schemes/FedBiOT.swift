// FedBiOT: devices that cannot hold the full model tune its last blocks on a
// compressed emulator of the rest, and one node that holds the full model keeps the
// emulator aligned to it (Wu et al., "FedBiOT: LLM Local Fine-tuning in Federated
// Learning without Full Model", arXiv 2406.17706; the Offsite-tuning layout, first +
// last blocks, from arXiv 2302.04870 is the baseline).
//
// A client (Algorithm 1, client side): K steps of cross-entropy on its text plus the
// proximal term ε ‖s (B A − B₀ A₀)‖² to the round start's merged LoRA
// (LoRAProximal.swift), on the adapter blocks only; publish the adapter.
// The aligner (the server side, here a node with a role): aggregate the clients'
// adapters (uniform, FedAvg, or trust weights), E steps of emulator alignment on
// public text (NMSE of the middle output + λ·KL, EmulatorAlignment.swift), publish the
// aggregate and, every `emulator_every` rounds, the emulator's kept blocks.
//
// Where we chose differently: the paper's server aligns with the adapter it just
// aggregated plugged into both models, as here, but it distils layer-wise; we match
// the middle's output only (one NMSE term), which the paper reports as the variant
// that needs no per-layer mapping. The emulator travels as its kept middle blocks
// only: the embeddings and the adapter blocks never change on the aligner.

import Learning
import Trust

/// The keys of the `fedbiot` scheme.
public struct FedBiOTSettings: Sendable, Equatable, Codable {
    /// L, the adapter's blocks (at each end with the offsite layout).
    public var adapterBlocks: Int = 2
    /// β, the share of middle blocks the emulator drops.
    public var dropRatio: Double = 0.2
    public var layout: EmulatorLayout = .fedbiot
    /// λ, the weight of the KL term of the alignment loss.
    public var lambda: Double = 1
    /// E, alignment steps per round on the aligner.
    public var alignSteps: Int = 10
    public var alignLearningRate: Double = 1e-4
    /// The emulator is published every this many rounds (0: only the one built at the start).
    public var emulatorEvery: Int = 1
    /// Whether the emulator travels in f16 (`emulator_dtype = "f16"`) rather than f32.
    public var emulatorHalf: Bool = false
    /// ε of the clients' proximal term.
    public var proximal: Double = 0.01
    /// Milliseconds the aligner waits between two chunks of an emulator (nil: none), so
    /// a large emulator does not take the links for itself in one burst.
    public var chunkIntervalMilliseconds: Int? = nil

    public init() {}

    /// The precision the emulator travels in.
    public var emulatorDType: SafeTensors.DType { emulatorHalf ? .f16 : .f32 }
}

/// What a node of a fedbiot topology does.
public enum FedBiOTRole: String, Sendable, Codable, CaseIterable {
    /// Holds the full model and public text; aggregates and aligns.
    case aligner
    /// Holds the emulator and the adapter only.
    case client
}

/// The client side of FedBiOT: what trains on a device, and how an aggregate comes in.
public final class FedBiOT: PersonalizationScheme {
    public static let schemeName = "fedbiot"
    public static let slot = TransformerModel.defaultSlot

    let settings: SchemeSettings
    public let fedbiot: FedBiOTSettings
    public let plan: EmulatorPlan
    /// The adapter at the start of the round: the proximal term's anchor.
    public private(set) var anchor: LoRAAdapter?
    /// False on the aligner: it trains no adapter of its own, it aggregates and aligns.
    public var trainsLocally = true
    /// What the node reports of the round (AdapEmu, AdapFu, the emulator's version).
    public var figures: [String: Double]?

    public init(settings: SchemeSettings, fedbiot: FedBiOTSettings, plan: EmulatorPlan) {
        self.settings = settings
        self.fedbiot = fedbiot
        self.plan = plan
    }

    public var name: String { Self.schemeName }

    /// One LoRA slot on the adapter blocks, named by full-model index.
    public var slots: [AdapterSlotSpec] {
        var lora = settings.lora
        lora.blocks = plan.adapterBlocks
        return [AdapterSlotSpec(name: Self.slot, lora: lora)]
    }

    public var publishedSlot: String { Self.slot }
    public var candidateSlot: String { Self.slot }

    public func phases(round: Int) -> [TrainingPhase] {
        guard trainsLocally else { return [] }
        return [TrainingPhase(name: "local", trains: [.slot(Self.slot)], steps: settings.localSteps)]
    }

    public var roundFigures: [String: Double]? { figures }

    public func aggregates(round: Int) -> Bool { round > settings.warmupRounds }

    public func beginRound(round: Int, model: TransformerModel) throws {
        anchor = try model.adapter(named: Self.slot)
    }

    /// Makes every step of `trainer` add the proximal gradient to the round's anchor.
    public func installProximalTerm(on trainer: Trainer) {
        let epsilon = Float(fedbiot.proximal), model = trainer.model
        trainer.gradientPenalty = { [unowned self] in
            guard let anchor = self.anchor, epsilon > 0 else { return }
            _ = try? model.addProximalGradient(slot: Self.slot, anchor: anchor, epsilon: epsilon)
        }
    }

    public func takeIn(aggregate: LoRAAdapter, model: TransformerModel, round: Int) throws {
        try model.setAdapter(aggregate, named: Self.slot)
    }

    public var state: [NamedTensor] { [] }

    public func restore(state: [NamedTensor]) throws {
        guard state.isEmpty else { throw SchemeError("fedbiot keeps no scheme state; found \(state.map(\.name))") }
    }
}

/// The aligner's round: aggregate, align, publish.
public final class FedBiOTAligner {
    public let full: TransformerModel
    public let emulator: TransformerModel
    public let alignment: EmulatorAlignment
    public let fedbiot: FedBiOTSettings
    var publicText: BatchSampler

    /// What one aligner round publishes.
    public struct RoundOutput {
        /// The aggregated adapter, for every client.
        public var adapter: LoRAAdapter
        /// The emulator update (EmulatorUpdate) when this round publishes one.
        public var emulator: [UInt8]?
        /// The alignment loss of the round's last step (nil when E = 0).
        public var alignment: AlignmentLoss?
    }

    /// - Parameters:
    ///   - full, emulator: the full model and the emulator of `plan`, each with the
    ///     FedBiOT slot (`FedBiOT.slots`).
    ///   - publicText: batches of the public text the alignment runs on.
    public init(full: TransformerModel, emulator: TransformerModel, plan: EmulatorPlan, fedbiot: FedBiOTSettings, publicText: BatchSampler) throws {
        self.full = full
        self.emulator = emulator
        self.fedbiot = fedbiot
        self.publicText = publicText
        alignment = try EmulatorAlignment(full: full, emulator: emulator, plan: plan, lambda: Float(fedbiot.lambda),
                                          learningRate: Float(fedbiot.alignLearningRate))
    }

    /// Aligns the emulator before any client trains (`offsite` aligns only here).
    public func alignOnce(steps: Int) throws -> AlignmentLoss? {
        var last: AlignmentLoss?
        for _ in 0..<steps { last = try alignment.step([publicText.next()]) }
        return last
    }

    /// Round `round`: the clients' `adapters` aggregated with `weights` (nil: uniform,
    /// FedAvg), taken into both models, E alignment steps, and what to publish.
    public func round(_ round: Int, adapters: [LoRAAdapter], weights: [Double]? = nil) throws -> RoundOutput {
        guard !adapters.isEmpty else { throw SchemeError("the aligner got no client adapter in round \(round)") }
        let w = weights ?? Array(repeating: 1 / Double(adapters.count), count: adapters.count)
        guard w.count == adapters.count else { throw SchemeError("\(w.count) weights for \(adapters.count) adapters") }
        let aggregate = try Self.weightedAverage(adapters, weights: w)
        try full.setAdapter(aggregate, named: FedBiOT.slot)
        try emulator.setAdapter(aggregate, named: FedBiOT.slot)
        let loss = try alignOnce(steps: fedbiot.alignSteps)
        let publishes = fedbiot.emulatorEvery > 0 && round % fedbiot.emulatorEvery == 0
        let bytes = publishes ? try EmulatorUpdate.encode(emulator, plan: alignment.plan, version: UInt64(round), as: fedbiot.emulatorDType) : nil
        return RoundOutput(adapter: aggregate, emulator: bytes, alignment: loss)
    }

    /// Σ_k w_k θ_k over every A and B (the node's own aggregation), refusing, rather than
    /// trapping on, an adapter of another layout.
    static func weightedAverage(_ adapters: [LoRAAdapter], weights: [Double]) throws -> LoRAAdapter {
        for k in adapters.indices where !adapters[k].hasSameLayout(as: adapters[0]) {
            throw SchemeError("adapter \(k) has another layout than adapter 0")
        }
        return TrustAggregation.aggregate(adapters, weights: weights)
    }
}

/// The bytes of an emulator update: a safetensors file of the kept middle blocks'
/// parameters under full-model block names, with
///
///   starling.scheme = fedbiot, starling.kind = emulator,
///   starling.blocks = the kept blocks, starling.version = the aligner's round.
public enum EmulatorUpdate {
    public static func encode(_ emulator: TransformerModel, plan: EmulatorPlan, version: UInt64, as dtype: SafeTensors.DType) throws -> [UInt8] {
        try SafeTensors.encode(
            emulator.blockParameters(plan.keptBlocks),
            metadata: [
                "format": "pt", "starling.scheme": FedBiOT.schemeName, "starling.kind": "emulator",
                "starling.blocks": plan.keptBlocks.map(String.init).joined(separator: ","), "starling.version": String(version),
            ], as: dtype)
    }

    /// Reads an update for an emulator of `plan` and writes its blocks into `emulator`.
    /// - Returns: the update's version.
    /// - Throws: `UpdateRefusal` when it is not an emulator update of these blocks;
    ///   the model is left as it was.
    @discardableResult
    public static func apply(_ bytes: [UInt8], to emulator: TransformerModel, plan: EmulatorPlan) throws(UpdateRefusal) -> UInt64 {
        let file: SafeTensors
        do { file = try SafeTensors.decode(bytes) } catch { throw UpdateRefusal(.unreadable, "\(error)") }
        guard file.metadata["starling.scheme"] == FedBiOT.schemeName, file.metadata["starling.kind"] == "emulator" else {
            throw UpdateRefusal(.otherAdapter, "not a fedbiot emulator update")
        }
        let blocks = plan.keptBlocks.map(String.init).joined(separator: ",")
        guard file.metadata["starling.blocks"] == blocks else {
            throw UpdateRefusal(.layoutMismatch, "blocks \(file.metadata["starling.blocks"] ?? "none"), expected \(blocks)")
        }
        guard let version = file.metadata["starling.version"].flatMap(UInt64.init) else {
            throw UpdateRefusal(.otherAdapter, "no starling.version in the metadata")
        }
        guard file.tensors.allSatisfy({ $0.values.allSatisfy(\.isFinite) }) else { throw UpdateRefusal(.nonFiniteValues, "a value is not finite") }
        do { try emulator.setBlockParameters(file.tensors) } catch { throw UpdateRefusal(.layoutMismatch, "\(error)") }
        return version
    }
}
