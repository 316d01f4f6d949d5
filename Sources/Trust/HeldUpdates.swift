// What a node held in its recent rounds, for the copy screen. A free-rider that republishes
// a member's update as soon as it arrives can reach a node a round late: its copy of the
// original's round-5 adapter is still what the node holds from it in round 6, beside the
// original's round-6 adapter, and the two no longer match. Against the adapters the node
// held before, the late copy still equals one it held earlier from another member. What
// is kept of a large earlier adapter is its keyed sketch (`AdapterSketch`), not its values.

import Learning

/// An adapter the node held from a member (or published itself) in an earlier round: the
/// adapter itself when it is no larger than a sketch, its sketch otherwise.
public struct EarlierUpdate: Sendable, Equatable {
    public let id: String
    /// The node's round in which it first held this adapter from `id`.
    public let heldSince: Int
    public let adapter: LoRAAdapter?
    public let sketch: AdapterSketch?
    /// ‖adapter‖, exact either way.
    public let norm: Double

    public init(id: String, adapter: LoRAAdapter, heldSince: Int, key: AdapterSketch.Key = .random()) {
        self.id = id
        self.heldSince = heldSince
        if adapter.parameterCount * MemoryLayout<Float>.size <= key.width * MemoryLayout<Double>.size {
            (self.adapter, self.sketch, self.norm) = (adapter, nil, AdapterNorm.norm(adapter))
        } else {
            let sketch = AdapterSketch(adapter, key: key)
            (self.adapter, self.sketch, self.norm) = (nil, sketch, sketch.norm)
        }
    }

    /// Whether `other` has this adapter's tensor names and shapes.
    public func hasSameLayout(as other: LoRAAdapter) -> Bool {
        adapter?.hasSameLayout(as: other) ?? sketch?.hasSameLayout(as: other) ?? false
    }

    /// Whether `other` is this adapter (by its sketch when only that is kept).
    public func isHeld(_ other: LoRAAdapter) -> Bool {
        if let adapter { return adapter == other }
        guard let sketch, sketch.hasSameLayout(as: other) else { return false }
        return AdapterSketch(other, key: sketch.key) == sketch
    }

    /// ‖other − this adapter‖, read from the sketches when only this one's is kept; the
    /// sketch of `other` is made once per key in `sketches`. `other` has this layout.
    public func distance(to other: LoRAAdapter, sketches: inout [AdapterSketch.Key: AdapterSketch]) -> Double {
        if let adapter { return AdapterNorm.distance(other, adapter) }
        guard let sketch else { return .infinity }
        if sketches[sketch.key] == nil { sketches[sketch.key] = AdapterSketch(other, key: sketch.key) }
        return sketches[sketch.key]!.distance(to: sketch)
    }
}

/// The adapters a node held as candidates (its own included) over its last rounds.
///
/// `note` adds, after each round's screens, every adapter it holds that is new from its
/// member; each member's present adapter is kept for as long as it is held, any other for
/// `rounds` rounds after it was first held. It lives in memory only: a restarted node
/// starts with none. An adapter larger than a sketch is kept as its sketch under the
/// node's own `key`: 32 KiB at the default width, however large the adapter.
public struct HeldUpdates: Sendable {
    public private(set) var entries: [EarlierUpdate] = []
    public let rounds: Int
    public let key: AdapterSketch.Key

    public init(rounds: Int, key: AdapterSketch.Key = .random()) {
        self.rounds = max(1, rounds)
        self.key = key
    }

    /// The round since which each of `candidates` has been held with its present adapter;
    /// a candidate whose adapter is new this round is absent.
    public func heldSince(_ candidates: [TrustCandidate]) -> [String: Int] {
        var out: [String: Int] = [:]
        for c in candidates {
            if let e = entries.last(where: { $0.id == c.id }), e.isHeld(c.adapter) { out[c.id] = e.heldSince }
        }
        return out
    }

    /// Records what the node holds after round `round`'s screens.
    public mutating func note(_ held: [TrustCandidate], round: Int) {
        let present = heldSince(held)
        for c in held where present[c.id] == nil {
            entries.append(EarlierUpdate(id: c.id, adapter: c.adapter, heldSince: round, key: key))
        }
        let latest = Dictionary(entries.enumerated().map { ($1.id, $0) }, uniquingKeysWith: { _, b in b })
        entries = entries.enumerated().filter { i, e in latest[e.id] == i || round - e.heldSince < rounds }.map(\.element)
    }
}
