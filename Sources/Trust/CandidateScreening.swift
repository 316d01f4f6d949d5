// Which held adapters may take part in trust at all: those that fit the node's own model.

import Learning

/// One candidate of a trust row: a node identity and the adapter held for it.
public struct TrustCandidate: Sendable, Equatable {
    /// The node's identity, its public key text as the topology file lists it.
    public var id: String
    public var adapter: LoRAAdapter

    public init(id: String, adapter: LoRAAdapter) {
        self.id = id
        self.adapter = adapter
    }
}

/// Why a candidate got weight 0 without being scored.
public enum ExclusionReason: String, Sendable, Codable, CaseIterable {
    /// Its tensor names or shapes differ from the node's own adapter.
    case layoutMismatch
    /// Its adapter holds a NaN or an infinity.
    case nonFiniteValues
    /// Its adapter is fine but the strategy's score for it is not finite (for example a
    /// perplexity exp(loss) that overflows).
    case nonFiniteScore
    /// The oracle's mixture matrix has no row for it.
    case noMixture
    /// Its update's payload is not a readable adapter.
    case unreadablePayload
    /// Its update holds another scheme's or slot's adapter, or one of another kind,
    /// rank, alpha or set of targets.
    case otherAdapter
    /// Its update was trained on another base model.
    case otherBase
    /// Its adapter, or its distance to the node's own, is larger than the norm screen
    /// allows (`NormScreen`).
    case normBound
    /// Its adapter equals, or all but equals, one that arrived earlier from another
    /// origin, or the node's own (`DuplicateScreen`).
    case duplicate
}

/// A candidate left out of a row, with the reason and a human-readable detail.
public struct TrustExclusion: Sendable, Equatable, Codable {
    public var candidate: String
    public var reason: ExclusionReason
    public var detail: String

    public init(candidate: String, reason: ExclusionReason, detail: String) {
        self.candidate = candidate
        self.reason = reason
        self.detail = detail
    }
}

/// The checks every candidate passes before any strategy scores it.
public enum CandidateScreening {
    /// Why `adapter` cannot be compared with or averaged into `own`, or nil if it can:
    /// the same tensor names and shapes in the same order, and only finite values.
    public static func exclusion(of adapter: LoRAAdapter, against own: LoRAAdapter) -> (reason: ExclusionReason, detail: String)? {
        if adapter.tensors.count != own.tensors.count {
            return (.layoutMismatch, "\(adapter.tensors.count) tensors, expected \(own.tensors.count)")
        }
        for (t, o) in zip(adapter.tensors, own.tensors) where t.name != o.name || t.shape != o.shape {
            return (.layoutMismatch, "\(t.name) \(t.shape), expected \(o.name) \(o.shape)")
        }
        for t in adapter.tensors where !allFinite(t.values) {
            let i = t.values.firstIndex { !$0.isFinite }!
            return (.nonFiniteValues, "\(t.name)[\(i)] = \(t.values[i])")
        }
        return nil
    }

    /// Whether no value is NaN or infinite: the largest exponent field over all values is
    /// below all-ones. (An integer max, so the scan vectorises.)
    static func allFinite(_ values: [Float]) -> Bool {
        values.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: UInt32.self) { bits in
                var largest: UInt32 = 0
                for b in bits { largest = max(largest, b & 0x7F80_0000) }
                return largest != 0x7F80_0000
            }
        }
    }
}
