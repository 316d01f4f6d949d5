// DecodedUpdates: each received update decoded once.
//
// A round reads a neighbour's update twice on the round's thread: when prescoring it
// during the wait, and when listing the round's candidates after it. Decoding (parse
// the safetensors header, check the metadata and layout, copy and scan every value)
// gives the same adapter both times, so the second read takes the first's result.

import Foundation
import Gossip
import Learning
import Schemes

/// The decoded adapter (or the refusal) of every update seen, by payload digest, for
/// one node's expectation (its published slot's layout, which a run never changes: a
/// decode depends on the bytes and that layout's shape only, never on its values).
final class DecodedUpdates: @unchecked Sendable {
    private let lock = NSLock()
    private var byDigest: [[UInt8]: Result<LoRAAdapter, UpdateRefusal>] = [:]

    /// The adapter `update` carries, decoded against `expected` the first time it is asked for.
    func adapter(of update: VerifiedUpdate, expecting expected: PayloadExpectation) throws(UpdateRefusal) -> LoRAAdapter {
        if let known = lock.withLock({ byDigest[update.digest] }) { return try known.get() }
        let result = update.payload.withUnsafeBytes { b in
            Result { () throws(UpdateRefusal) in try UpdatePayload.decode(b, expecting: expected) }
        }
        lock.withLock { byDigest[update.digest] = result }
        return try result.get()
    }

    /// Forgets every update whose digest is not in `held` (superseded updates).
    func keep(only held: Set<[UInt8]>) {
        lock.withLock { byDigest = byDigest.filter { held.contains($0.key) } }
    }

    /// Forgets every update: between rounds, when the round's candidates have been
    /// aggregated, so their adapters are not held through the next round's training.
    func removeAll() {
        lock.withLock { byDigest.removeAll() }
    }

    /// Number of updates remembered.
    var count: Int { lock.withLock { byDigest.count } }
}
