// A model update that passed every check: its origin, round, and payload bytes held in
// the received ZeroMQ frame (no copy is made to store or to read it).

import Foundation

/// Immutable payload bytes, shared between the mesh thread and readers.
public final class Payload: @unchecked Sendable {
    // Never mutated after init: readers on any thread only read its data pointer.
    private let message: ZMQMessage

    init(_ message: ZMQMessage) {
        self.message = message
        // The first zmq_msg_copy marks the buffer shared in the source's own struct;
        // doing it now means later copies (on the mesh thread) only touch the atomic
        // reference count, never memory a reader on another thread may be reading.
        _ = try? message.copy()
    }

    /// A payload holding a copy of `bytes`.
    public convenience init(copying bytes: some ContiguousBytes) throws(ZMQError) {
        self.init(try ZMQMessage(bytes: bytes))
    }

    public var count: Int { message.count }

    /// Reads the bytes in place.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try message.withUnsafeBytes(body)
    }

    /// A copy of the bytes.
    public var bytes: [UInt8] { message.bytes }

    /// A new frame sharing this payload's buffer, for sending (`zmq_msg_copy`).
    func frame() throws(ZMQError) -> ZMQMessage { try message.copy() }
}

/// An UPDATE whose origin, signature, digest and freshness were checked.
public struct VerifiedUpdate: Sendable {
    public let origin: PublicKey
    public let round: UInt64
    public let sequence: UInt64
    /// BLAKE2b-256 of the payload.
    public let digest: [UInt8]
    public let payload: Payload
    /// The signed envelope as received (TTL as it arrived).
    public let envelope: SignedEnvelope

    /// The (origin, round, sequence) this update is.
    public var version: HeldVersion { HeldVersion(origin: origin, round: round, sequence: sequence) }
}
