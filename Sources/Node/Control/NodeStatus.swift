// What a node reports about itself: the answer to the control endpoint's `status`
// request, and the row `starling up` shows for it.

/// A snapshot of a running node.
public struct NodeStatus: Codable, Sendable, Equatable {
    /// The node's name in the topology.
    public var name: String
    /// What the node is doing now.
    public enum Phase: String, Codable, Sendable {
        case starting, training, waiting, trusting, evaluating, finished, stopping, stopped
    }
    public var phase: Phase
    /// The last completed round (0 before the first).
    public var round: Int
    public var rounds: Int
    /// Mean training loss of the last round's local steps.
    public var loss: Double?
    /// Perplexity on the node's test split after the last completed round.
    public var testPerplexity: Double?
    /// Every neighbour's liveness as the gossip mesh sees it.
    public var peers: [NeighbourStatus]
    public var bytesIn: UInt64
    public var bytesOut: UInt64
    public var messagesIn: UInt64
    public var messagesOut: UInt64
    /// Rejected messages by reason.
    public var rejections: [String: UInt64]
    /// The fusion weights (w1, w2) of the served model, for schemes that fuse two slots.
    public var fusionWeights: [Double]? = nil
    /// The scheme's own figures of the last round (PFIT: mean reward per component, KL, samples/s).
    public var schemeFigures: [String: Double]? = nil

    public init(
        name: String, phase: Phase, round: Int, rounds: Int, loss: Double? = nil, testPerplexity: Double? = nil,
        peers: [NeighbourStatus] = [], bytesIn: UInt64 = 0, bytesOut: UInt64 = 0, messagesIn: UInt64 = 0,
        messagesOut: UInt64 = 0, rejections: [String: UInt64] = [:]
    ) {
        self.name = name
        self.phase = phase
        self.round = round
        self.rounds = rounds
        self.loss = loss
        self.testPerplexity = testPerplexity
        self.peers = peers
        self.bytesIn = bytesIn
        self.bytesOut = bytesOut
        self.messagesIn = messagesIn
        self.messagesOut = messagesOut
        self.rejections = rejections
    }

    /// Neighbours currently alive.
    public var peersAlive: Int { peers.filter { $0.state == "alive" }.count }
}

/// One neighbour as a node sees it.
public struct NeighbourStatus: Codable, Sendable, Equatable {
    public var name: String
    /// `alive`, `suspect` or `gone`.
    public var state: String
    /// The latest round held from this peer.
    public var latestRound: Int?

    public init(name: String, state: String, latestRound: Int?) {
        self.name = name
        self.state = state
        self.latestRound = latestRound
    }
}
