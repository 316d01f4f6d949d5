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

/// The settings every scheme reads.
public struct SchemeSettings: Sendable, Equatable {
    /// The LoRA settings of the node's adapters.
    public var lora: LoRAConfig
    /// Optimizer steps per round.
    public var localSteps: Int
    /// Rounds of local training before the first aggregation.
    public var warmupRounds: Int

    public init(lora: LoRAConfig, localSteps: Int, warmupRounds: Int) {
        self.lora = lora
        self.localSteps = localSteps
        self.warmupRounds = warmupRounds
    }
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
}

/// A scheme name a topology cannot use; the message lists the known ones.
public struct SchemeError: Error, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The schemes a node can run, by name.
public enum Schemes {
    /// Every scheme's name, in the order help text lists them.
    public static let names = [Collaborative.schemeName]

    /// The scheme called `name` with `settings`.
    public static func make(_ name: String, settings: SchemeSettings) throws(SchemeError) -> any PersonalizationScheme {
        switch name {
        case Collaborative.schemeName: return Collaborative(settings: settings)
        default: throw SchemeError("unknown scheme \"\(name)\" (known: \(names.joined(separator: ", ")))")
        }
    }
}
