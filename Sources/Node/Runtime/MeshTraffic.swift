// MeshTraffic: a node's gossip traffic as running totals, written with each committed
// round so that messages and bytes per round are the differences between rounds.

import Gossip

/// Messages and bytes a node's mesh has sent and received since it started, over
/// every link (updates, relays, heartbeats, HELLO and SYNC alike).
public struct MeshTraffic: Codable, Sendable, Equatable {
    public var messagesIn = 0
    public var messagesOut = 0
    public var bytesIn = 0
    public var bytesOut = 0
    /// Updates accepted and stored (own publishes excluded); relays and SYNC answers sent.
    public var updatesAccepted = 0
    public var updatesRelayed = 0

    public init() {}

    /// The totals of a snapshot of the mesh's counters.
    public init(_ counters: MeshCounters) {
        let total = counters.totals
        (messagesIn, messagesOut, bytesIn, bytesOut) = (total.messagesIn, total.messagesOut, total.bytesIn, total.bytesOut)
        updatesAccepted = counters.updatesAccepted
        updatesRelayed = counters.updatesRelayed
    }
}
