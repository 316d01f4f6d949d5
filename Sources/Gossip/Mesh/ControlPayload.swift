// The payloads of HELLO and SYNC: the only kinds whose payload the mesh itself reads.

import Foundation

/// HELLO's payload: the endpoint where the sender's ROUTER listens, as UTF-8 text.
public enum HelloPayload {
    /// The longest endpoint accepted, in bytes.
    public static let maxEndpointBytes = 1024

    public static func encode(endpoint: String) -> [UInt8] { Array(endpoint.utf8) }

    /// The endpoint, or `.malformed` when it is empty, too long, not UTF-8 or not a
    /// tcp://, ipc:// or inproc:// address.
    public static func decode(_ b: UnsafeRawBufferPointer) throws(RejectionReason) -> String {
        guard b.count > 0, b.count <= maxEndpointBytes, let text = String(validating: b, as: UTF8.self),
            ["tcp://", "ipc://", "inproc://"].contains(where: { text.hasPrefix($0) })
        else { throw .malformed }
        return text
    }
}

/// One (origin, round, sequence) a node holds: a SYNC entry.
public struct HeldVersion: Sendable, Equatable, Hashable {
    public let origin: PublicKey
    public let round: UInt64
    public let sequence: UInt64

    public init(origin: PublicKey, round: UInt64, sequence: UInt64) {
        self.origin = origin
        self.round = round
        self.sequence = sequence
    }

    /// Whether an update (round, sequence) is newer than this one: rounds first, then sequences.
    public func isOlder(thanRound r: UInt64, sequence s: UInt64) -> Bool {
        (round, sequence) < (r, s)
    }
}

/// SYNC's payload: 48 bytes per held update, origin (32) then round and sequence
/// (u64 little-endian each), at most one entry per origin.
public enum SyncPayload {
    public static let entryByteCount = 48

    public static func encode(_ entries: [HeldVersion]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(entries.count * entryByteCount)
        for e in entries {
            out += e.origin.bytes
            appendLittleEndian(e.round, to: &out)
            appendLittleEndian(e.sequence, to: &out)
        }
        return out
    }

    /// The entries, or `.malformed` when the length is not a multiple of 48 or an
    /// origin appears twice.
    public static func decode(_ b: UnsafeRawBufferPointer) throws(RejectionReason) -> [HeldVersion] {
        guard b.count % entryByteCount == 0 else { throw .malformed }
        var out: [HeldVersion] = []
        var seen = Set<PublicKey>()
        for i in stride(from: 0, to: b.count, by: entryByteCount) {
            guard let origin = try? PublicKey(bytes: Array(b[i..<(i + 32)])), seen.insert(origin).inserted else {
                throw .malformed
            }
            out.append(
                HeldVersion(
                    origin: origin, round: readLittleEndian(UInt64.self, b, at: i + 32),
                    sequence: readLittleEndian(UInt64.self, b, at: i + 40)))
        }
        return out
    }
}
