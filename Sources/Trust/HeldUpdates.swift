// What a node held in its recent rounds, for the copy screen. A free-rider that republishes
// a member's update as soon as it arrives can reach a node a round late: its copy of the
// original's round-5 adapter is still what the node holds from it in round 6, beside the
// original's round-6 adapter, and the two no longer match. Against the adapters the node
// held before, the late copy still equals one it held earlier from another member.

import Learning

/// An adapter the node held from a member (or published itself) in an earlier round.
public struct EarlierUpdate: Sendable, Equatable {
    public let id: String
    public let adapter: LoRAAdapter
    /// The node's round in which it first held this adapter from `id`.
    public let heldSince: Int
}

/// The adapters a node held as candidates (its own included) over its last rounds.
///
/// `note` adds, after each round's screens, every adapter it holds that is new from its
/// member; each member's present adapter is kept for as long as it is held, any other for
/// `rounds` rounds after it was first held. It lives in memory only: a restarted node
/// starts with none.
public struct HeldUpdates: Sendable {
    public private(set) var entries: [EarlierUpdate] = []
    public let rounds: Int

    public init(rounds: Int) { self.rounds = max(1, rounds) }

    /// The round since which each of `candidates` has been held with its present adapter;
    /// a candidate whose adapter is new this round is absent.
    public func heldSince(_ candidates: [TrustCandidate]) -> [String: Int] {
        var out: [String: Int] = [:]
        for c in candidates {
            if let e = entries.last(where: { $0.id == c.id }), e.adapter == c.adapter { out[c.id] = e.heldSince }
        }
        return out
    }

    /// Records what the node holds after round `round`'s screens.
    public mutating func note(_ held: [TrustCandidate], round: Int) {
        let present = heldSince(held)
        for c in held where present[c.id] == nil {
            entries.append(EarlierUpdate(id: c.id, adapter: c.adapter, heldSince: round))
        }
        let latest = Dictionary(entries.enumerated().map { ($1.id, $0) }, uniquingKeysWith: { _, b in b })
        entries = entries.enumerated().filter { i, e in latest[e.id] == i || round - e.heldSince < rounds }.map(\.element)
    }
}
