// What a node counts: traffic per peer, refusals per reason. Read as a Sendable
// snapshot so the node runtime can report it without touching the mesh thread.

/// How a neighbour looks from here.
public enum PeerState: String, Sendable, Codable, CaseIterable {
    /// Nothing heard yet.
    case connecting
    /// Heard within the last two heartbeat intervals.
    case alive
    /// Silent for two intervals or more.
    case suspect
    /// Silent for the configured liveness count of intervals.
    case gone
}

/// Traffic on the links with one member.
public struct PeerCounters: Sendable, Equatable, Codable {
    public var messagesIn = 0
    public var bytesIn = 0
    public var messagesOut = 0
    public var bytesOut = 0
    /// Outgoing messages dropped because the link's queue was full.
    public var dropped = 0
    public init() {}
}

/// The payload validator's latest refusal of one origin's updates.
public struct PayloadRefusal: Sendable, Equatable, Codable {
    /// Updates of this origin refused so far.
    public var count: Int
    /// The round of the latest refused update.
    public var round: UInt64
    /// What the validator said about it.
    public var reason: String

    public init(count: Int, round: UInt64, reason: String) {
        self.count = count
        self.round = round
        self.reason = reason
    }
}

/// One neighbour's state and traffic.
public struct PeerStatus: Sendable, Equatable {
    public let name: String
    public let publicKey: PublicKey
    public let endpoint: String?
    public let state: PeerState
}

/// A copy of every counter of a node at one moment.
public struct MeshCounters: Sendable, Equatable {
    /// Traffic per member name. Messages whose sender cannot be told are under "?".
    public var peers: [String: PeerCounters] = [:]
    /// Refused messages per reason (every reason present, zero when none).
    public var rejections: [RejectionReason: Int] = Dictionary(uniqueKeysWithValues: RejectionReason.allCases.map { ($0, 0) })
    /// CURVE connections refused by the ZAP handler for this node's domain.
    public var admissionsRefused = 0
    /// Updates accepted and stored (own publishes excluded).
    public var updatesAccepted = 0
    /// Updates forwarded to a neighbour by relay or in answer to a SYNC.
    public var updatesRelayed = 0
    /// SYNC answers that left updates out to stay within `syncAnswerBudgetBytes`.
    public var syncAnswersTrimmed = 0
    /// Messages dropped, in or out, because their peer is blocked (`setBlockedPeers`).
    public var blockedDrops = 0
    /// CHUNKs accepted, and copies of ones already accepted (dropped without a count
    /// as refusals: the publisher sends its chunks again to a member that comes back).
    public var chunksAccepted = 0
    public var chunkDuplicates = 0
    /// The latest `unreadablePayload` refusal per origin name.
    public var payloadRefusals: [String: PayloadRefusal] = [:]

    public init() {}

    /// Total refusals.
    public var rejectionTotal: Int { rejections.values.reduce(0, +) }

    /// Traffic over every link together.
    public var totals: PeerCounters {
        peers.values.reduce(into: PeerCounters()) { sum, c in
            sum.messagesIn += c.messagesIn
            sum.bytesIn += c.bytesIn
            sum.messagesOut += c.messagesOut
            sum.bytesOut += c.bytesOut
            sum.dropped += c.dropped
        }
    }
}
