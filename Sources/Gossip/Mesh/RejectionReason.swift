// Why a receiver refused a message. Every refusal is counted under one of these
// reasons before anything is stored or relayed; README.md "Wire protocol" lists the
// order in which the checks run.

/// The reason a received message was refused.
public enum RejectionReason: String, Error, Sendable, CaseIterable, Codable, CustomStringConvertible {
    /// Under CURVE, the routing id the link claims is not the key the link authenticated
    /// with (its ZAP user id): one member posing as another on a second link.
    case linkMismatch
    /// The ROUTER delivered other than [routing id, header frame, payload frame].
    case wrongFrameCount
    /// A frame is shorter than its fixed size (header) or declared length (payload).
    case truncated
    /// A frame is longer than its fixed size or declared length, or the declared payload
    /// length exceeds the configured maximum.
    case oversized
    /// The header does not start with the magic bytes "STRG".
    case badMagic
    /// The header's version is not one this node speaks.
    case unknownVersion
    /// The header's kind is not one this node knows.
    case unknownKind
    /// Reserved bits or bytes are set, the TTL exceeds its signed limit, a control
    /// message carries a TTL, a PING or PONG carries a payload, or a HELLO or SYNC
    /// payload does not parse.
    case malformed
    /// The origin key is not in the member list.
    case unknownOrigin
    /// A control message (HELLO, PING, PONG, SYNC) did not come from its origin over the
    /// link it arrived on: control messages are never relayed.
    case senderMismatch
    /// The Ed25519 signature does not verify over the signed header bytes.
    case badSignature
    /// The payload's BLAKE2b-256 differs from the digest in the signed header.
    case digestMismatch
    /// The (origin, round, sequence) is not newer than one already accepted.
    case replayed
    /// A SYNC arrived within one liveness window of the last one answered for that peer.
    case rateLimited
    /// The configured payload validator refused an UPDATE's payload.
    case unreadablePayload
    /// A CHUNK whose origin is not the member the mesh takes chunks from.
    case notPublisher

    public var description: String { rawValue }
}
