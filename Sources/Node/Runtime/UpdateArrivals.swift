// When each origin's held update first reached this node, so that the copy screen can
// keep the original of two equal adapters: it was published before the copy could be.

import Foundation
import Gossip

/// Arrival times of the latest update of every origin, filled from the mesh's events.
final class UpdateArrivals: @unchecked Sendable {
    private let lock = NSLock()
    private var arrived: [PublicKey: (version: HeldVersion, at: UInt64)] = [:]
    private var clock: UInt64 = 0

    /// Notes `update` if it is newer than the one noted for its origin. Arrivals are
    /// numbered in order, so two notes never tie.
    func note(_ update: VerifiedUpdate) {
        lock.withLock {
            if let held = arrived[update.origin], !held.version.isOlder(thanRound: update.round, sequence: update.sequence) { return }
            clock += 1
            arrived[update.origin] = (update.version, clock)
        }
    }

    /// The arrival rank of each origin's noted update that is still `held` (same round
    /// and sequence), by key text; smaller arrived earlier.
    func ranks(of held: [PublicKey: VerifiedUpdate]) -> [String: Int] {
        lock.withLock {
            var out: [String: Int] = [:]
            for (key, update) in held {
                guard let a = arrived[key], a.version == update.version else { continue }
                out[key.description] = Int(a.at)
            }
            return out
        }
    }
}
