// PersonalizationScheme: what makes one published personalization method different
// from another, as the round loop asks it. The loop itself stays the same for every
// scheme:
//
//   train the round's phases → publish the published slot → gather candidates
//   → trust row (each candidate scored in the candidate slot) → aggregate → take it in
//
// A scheme decides which slots a node's model carries, what trains in which phase,
// which single slot leaves the device, and how an aggregate comes back in. Everything
// else — sockets, files, the command line — is the node's.

import Learning
import Trust

/// One stretch of local training: which groups train, with which slots applied.
public struct TrainingPhase: Sendable, Equatable {
    /// A name for logs and metrics (`local`, `global`, `personal`).
    public var name: String
    /// The groups that train.
    public var trains: [ParameterGroup]
    /// The slots the forward pass applies during the phase (nil: every slot).
    public var activeSlots: Set<String>?
    /// Optimizer steps.
    public var steps: Int

    public init(name: String, trains: [ParameterGroup], activeSlots: Set<String>? = nil, steps: Int) {
        self.name = name
        self.trains = trains
        self.activeSlots = activeSlots
        self.steps = steps
    }
}

/// How FDLoRA fuses its global and personal slots into the served model.
public enum FusionMode: String, Sendable, Codable, CaseIterable {
    /// LoraHub / FDLoRA: one adapter with A = w1 A_g + w2 A_p and B = w1 B_g + w2 B_p.
    case factor
    /// The two branches kept apart, their updates summed: w1 ΔW_g + w2 ΔW_p.
    case delta
}

/// The settings every scheme reads; each scheme uses the ones it knows.
public struct SchemeSettings: Sendable, Equatable {
    /// The LoRA settings of the node's adapters.
    public var lora: LoRAConfig
    /// Optimizer steps per round.
    public var localSteps: Int
    /// Rounds of local training before the first aggregation.
    public var warmupRounds: Int
    /// FDLoRA's outer step size η (1 with zero momentum: plain averaging).
    public var outerLearningRate: Float = 1
    /// FDLoRA's outer Nesterov momentum μ.
    public var outerMomentum: Float = 0
    /// FDLoRA: the personal slot is refreshed every this many federated rounds (0: never).
    public var syncEvery: Int = 0
    /// FDLoRA: how the served model fuses the two slots.
    public var fusion: FusionMode = .factor
    /// FDLoRA: loss evaluations the fusion search may spend after each aggregation.
    public var fusionBudget: Int = 40
    /// FDLoRA: fixed fusion weights (w1, w2); nil searches them every round.
    public var fusionWeights: [Float]? = nil
    /// FDLoRA: whether the personal slot is applied (frozen) while the global slot trains.
    public var personalInGlobalTraining: Bool = false
    /// PFTT: the bottleneck width m of the global adapter.
    public var bottleneckWidth: Int = 16
    /// PFIT: the reward mixture and the policy optimisation.
    public var pfit: PFITSettings = .default
    /// FedBiOT: the scheme's keys, and the plan of the emulator the node holds (read
    /// from the base's `emulator.json`, or made from the full model on the aligner).
    public var fedbiot = FedBiOTSettings()
    public var emulatorPlan: EmulatorPlan? = nil

    public init(lora: LoRAConfig, localSteps: Int, warmupRounds: Int) {
        self.lora = lora
        self.localSteps = localSteps
        self.warmupRounds = warmupRounds
    }
}

/// What the model is set up for when the node asks a scheme to configure it.
public enum ModelUse: Sendable, Equatable {
    /// Scoring candidates of the candidate slot for the trust row.
    case scoring
    /// The served model: test perplexity, evaluation, generation.
    case serving
}

/// A personalization method of the node.
public protocol PersonalizationScheme: AnyObject {
    /// The name a topology's `scheme` key and an update's metadata use.
    var name: String { get }

    /// The adapter slots the node's model carries.
    var slots: [AdapterSlotSpec] { get }

    /// The one slot whose values are published: the only bytes that leave the device.
    var publishedSlot: String { get }

    /// The slot a candidate's update fills when the node scores it.
    var candidateSlot: String { get }

    /// The local training of round `round` (1-based), in order.
    func phases(round: Int) -> [TrainingPhase]

    /// Whether round `round` publishes and aggregates (false in warm-up).
    func aggregates(round: Int) -> Bool

    /// Takes the round's aggregate of the published slot into the model.
    func takeIn(aggregate: LoRAAdapter, model: TransformerModel, round: Int) throws

    /// The scheme's own resumable state (fusion weights, momentum, …), by tensor name.
    var state: [NamedTensor] { get }

    /// Continues from a saved `state`.
    func restore(state: [NamedTensor]) throws

    /// Called once the node's model and data exist. `trustLoss` is the mean loss of the
    /// model, as it is configured when called, on batches of the node's trust split.
    func attach(model: TransformerModel, trustLoss: @escaping () -> Double) throws

    /// Called before the phases of round `round` run.
    func beginRound(round: Int, model: TransformerModel) throws

    /// Sets the model's active slots and slot scale factors for `use`.
    func configure(model: TransformerModel, for use: ModelUse) throws

    /// The fusion weights (w1, w2) the served model uses now, for schemes that fuse.
    var fusionWeights: [Double]? { get }

    /// The scheme's own figures of the last round (mean rewards, KL, …) for metrics and status.
    var roundFigures: [String: Double]? { get }

    /// The kind of adapter the published slot is.
    var publishedKind: AdapterKind { get }

    /// The published slot's values, as an update carries them.
    func published(model: TransformerModel) throws -> LoRAAdapter

    /// Runs `body` with `candidate` in the candidate slot, the slot's own values put back after.
    func withCandidate<R>(_ candidate: LoRAAdapter, model: TransformerModel, _ body: () throws -> R) throws -> R
}

extension PersonalizationScheme {
    public func attach(model: TransformerModel, trustLoss: @escaping () -> Double) throws {}

    public func beginRound(round: Int, model: TransformerModel) throws {}

    /// Every slot applied at its own scale.
    public func configure(model: TransformerModel, for use: ModelUse) throws {
        model.activeSlots = Set(model.slotNames)
        model.slotScaleFactors = [:]
    }

    public var fusionWeights: [Double]? { nil }

    public var roundFigures: [String: Double]? { nil }

    public var publishedKind: AdapterKind { .lora }

    public func published(model: TransformerModel) throws -> LoRAAdapter { try model.adapter(named: publishedSlot) }

    public func withCandidate<R>(_ candidate: LoRAAdapter, model: TransformerModel, _ body: () throws -> R) throws -> R {
        try model.withAdapter(candidate, named: candidateSlot, body)
    }
}

/// A scheme name a topology cannot use; the message lists the known ones.
public struct SchemeError: Error, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The schemes a node can run, by name.
public enum Schemes {
    /// Every scheme's name, in the order help text lists them.
    public static let names = [Collaborative.schemeName, FDLoRA.schemeName, PFTT.schemeName, PFIT.schemeName, FedBiOT.schemeName]

    /// The scheme called `name` with `settings`.
    public static func make(_ name: String, settings: SchemeSettings) throws(SchemeError) -> any PersonalizationScheme {
        switch name {
        case Collaborative.schemeName: return Collaborative(settings: settings)
        case FDLoRA.schemeName: return FDLoRA(settings: settings)
        case PFTT.schemeName: return PFTT(settings: settings)
        case PFIT.schemeName: return PFIT(settings: settings)
        case FedBiOT.schemeName:
            guard let plan = settings.emulatorPlan else {
                throw SchemeError("fedbiot needs the plan of its emulator (emulator.json, written by starling emulator build)")
            }
            return FedBiOT(settings: settings, fedbiot: settings.fedbiot, plan: plan)
        default: throw SchemeError("unknown scheme \"\(name)\" (known: \(names.joined(separator: ", ")))")
        }
    }
}
