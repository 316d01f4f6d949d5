// SignedEnvelope: the one message format of the gossip mesh. A fixed 176-byte header
// frame (104 signed bytes, their 64-byte Ed25519 signature, 8 routing bytes that relays
// may change) followed by one payload frame. The signed bytes carry the payload's
// BLAKE2b-256, so the origin signs 104 bytes whatever the payload size, and any hop can
// verify a relayed payload with one hash pass. README.md "Wire protocol" is the
// byte-by-byte specification; this file is its implementation.

import Foundation

/// What a message is for.
public enum EnvelopeKind: UInt8, Sendable, CaseIterable, Codable {
    /// "I am here": the sender's return endpoint (UTF-8) as payload.
    case hello = 1
    /// A liveness probe; empty payload. Answered by PONG.
    case ping = 2
    /// The answer to a PING; empty payload.
    case pong = 3
    /// A model update: opaque payload bytes for one round.
    case update = 4
    /// "Send me what I lack": the (origin, round, sequence) the sender holds, 48 bytes each.
    case sync = 5
    /// One chunk of a large file only the member named as its publisher may send (the
    /// FedBiOT emulator, EmulatorTransfer.swift). Chunks are held apart from updates:
    /// every one is kept, none replaces another.
    case chunk = 6

    /// HELLO, PING, PONG and SYNC travel one hop only, from their origin.
    public var isControl: Bool { self != .update && self != .chunk }
}

/// A signed header and the routing byte outside the signature.
public struct SignedEnvelope: Sendable, Equatable {
    /// "STRG": the first four bytes of every header frame.
    public static let magic: [UInt8] = Array("STRG".utf8)
    /// The version this code writes and accepts.
    public static let version: UInt8 = 1
    /// Bytes 0..<104 of the header frame are signed.
    public static let signedByteCount = 104
    /// Bytes 104..<168 are the Ed25519 signature.
    public static let signatureOffset = 104
    /// Byte 168 is the remaining TTL; 169..<176 are reserved zeros. Not signed.
    public static let ttlOffset = 168
    /// The header frame is always exactly this long.
    public static let headerFrameByteCount = 176

    public let kind: EnvelopeKind
    /// Reserved flag bits; zero in version 1.
    public let flags: UInt16
    /// The largest TTL any hop may carry for this message: the origin's initial TTL.
    public let ttlLimit: UInt8
    /// The origin's Ed25519 key: who signed the header.
    public let origin: PublicKey
    /// The training round an UPDATE belongs to; zero for control messages.
    public let round: UInt64
    /// Strictly increasing per origin, across restarts (microseconds since 1970 or
    /// one more than the previous, whichever is larger).
    public let sequence: UInt64
    /// Length in bytes of the payload frame.
    public let payloadLength: UInt64
    /// BLAKE2b-256 of the payload frame.
    public let payloadDigest: [UInt8]
    /// The 64-byte Ed25519 signature of the 104 signed bytes.
    public let signature: [UInt8]
    /// Hops this message may still be relayed; each relay lowers it by one. Not signed.
    public let ttl: UInt8

    /// Builds and signs an envelope for `payload`. One BLAKE2b pass over the payload,
    /// one Ed25519 signature over the 104 header bytes.
    public static func sign(
        kind: EnvelopeKind, round: UInt64, sequence: UInt64, ttl: UInt8,
        payload: UnsafeRawBufferPointer, by keys: SigningKeyPair
    ) throws(SodiumError) -> SignedEnvelope {
        sign(
            kind: kind, round: round, sequence: sequence, ttl: ttl, payloadLength: UInt64(payload.count),
            payloadDigest: try BLAKE2b.hash(payload), by: keys)
    }

    /// Signs an envelope for a payload whose length and BLAKE2b-256 the caller computed
    /// (e.g. while copying it into a frame).
    public static func sign(
        kind: EnvelopeKind, round: UInt64, sequence: UInt64, ttl: UInt8,
        payloadLength: UInt64, payloadDigest: [UInt8], by keys: SigningKeyPair
    ) -> SignedEnvelope {
        let unsigned = SignedEnvelope(
            kind: kind, flags: 0, ttlLimit: ttl, origin: keys.publicKey, round: round,
            sequence: sequence, payloadLength: payloadLength, payloadDigest: payloadDigest,
            signature: [], ttl: ttl)
        return unsigned.with(signature: keys.sign(unsigned.signedBytes()))
    }

    /// Signs an envelope for a payload held in any contiguous bytes.
    public static func sign(
        kind: EnvelopeKind, round: UInt64, sequence: UInt64, ttl: UInt8,
        payload: some ContiguousBytes, by keys: SigningKeyPair
    ) throws(SodiumError) -> SignedEnvelope {
        try payload.withUnsafeBytes { p in
            Result { () throws(SodiumError) in
                try sign(kind: kind, round: round, sequence: sequence, ttl: ttl, payload: p, by: keys)
            }
        }.get()
    }

    /// An envelope from its fields, for tests and tools that craft headers; `sign` is
    /// the normal way to make one.
    public init(
        kind: EnvelopeKind, flags: UInt16, ttlLimit: UInt8, origin: PublicKey, round: UInt64,
        sequence: UInt64, payloadLength: UInt64, payloadDigest: [UInt8], signature: [UInt8], ttl: UInt8
    ) {
        self.kind = kind
        self.flags = flags
        self.ttlLimit = ttlLimit
        self.origin = origin
        self.round = round
        self.sequence = sequence
        self.payloadLength = payloadLength
        self.payloadDigest = payloadDigest
        self.signature = signature
        self.ttl = ttl
    }

    /// The same envelope with another signature.
    public func with(signature: [UInt8]) -> SignedEnvelope {
        SignedEnvelope(
            kind: kind, flags: flags, ttlLimit: ttlLimit, origin: origin, round: round,
            sequence: sequence, payloadLength: payloadLength, payloadDigest: payloadDigest,
            signature: signature, ttl: ttl)
    }

    /// The same envelope as a relay forwards it: only the unsigned TTL changes, so the
    /// origin's signature stays valid at every hop.
    public func relayed(ttl: UInt8) -> SignedEnvelope {
        SignedEnvelope(
            kind: kind, flags: flags, ttlLimit: ttlLimit, origin: origin, round: round,
            sequence: sequence, payloadLength: payloadLength, payloadDigest: payloadDigest,
            signature: signature, ttl: ttl)
    }

    // MARK: Encoding

    /// The 104 signed bytes (offsets in README.md "Wire protocol").
    public func signedBytes() -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(Self.signedByteCount)
        out += Self.magic                               // 0..<4
        out.append(Self.version)                        // 4
        out.append(kind.rawValue)                       // 5
        appendLittleEndian(flags, to: &out)             // 6..<8
        out.append(ttlLimit)                            // 8
        out += [0, 0, 0, 0, 0, 0, 0]                    // 9..<16 reserved
        out += origin.bytes                             // 16..<48
        appendLittleEndian(round, to: &out)             // 48..<56
        appendLittleEndian(sequence, to: &out)          // 56..<64
        appendLittleEndian(payloadLength, to: &out)     // 64..<72
        out += payloadDigest                            // 72..<104
        return out
    }

    /// The 176-byte header frame: signed bytes, signature, TTL, reserved zeros.
    public func encodeHeaderFrame() -> [UInt8] {
        var out = signedBytes()
        out += signature
        out.append(ttl)
        out += [UInt8](repeating: 0, count: Self.headerFrameByteCount - Self.ttlOffset - 1)
        return out
    }

    /// Parses a header frame and checks everything that needs no key or state: size,
    /// magic, version, kind, reserved bits, TTL within its limit, control messages
    /// without TTL, PING and PONG without payload. The signature is not checked here (see `hasValidSignature`).
    public static func decode(headerFrame b: UnsafeRawBufferPointer) throws(RejectionReason) -> SignedEnvelope {
        guard b.count >= headerFrameByteCount else { throw .truncated }
        guard b.count == headerFrameByteCount else { throw .oversized }
        guard b[0] == magic[0], b[1] == magic[1], b[2] == magic[2], b[3] == magic[3] else { throw .badMagic }
        guard b[4] == version else { throw .unknownVersion }
        guard let kind = EnvelopeKind(rawValue: b[5]) else { throw .unknownKind }
        let flags = readLittleEndian(UInt16.self, b, at: 6)
        let ttlLimit = b[8]
        let ttl = b[ttlOffset]
        guard flags == 0, b[9..<16].allSatisfy({ $0 == 0 }), b[(ttlOffset + 1)..<headerFrameByteCount].allSatisfy({ $0 == 0 }),
            ttl <= ttlLimit, !kind.isControl || ttlLimit == 0
        else { throw .malformed }
        // PING and PONG say nothing but "alive": a payload there is only a way to make a
        // receiver hash bytes.
        let payloadLength = readLittleEndian(UInt64.self, b, at: 64)
        guard (kind != .ping && kind != .pong) || payloadLength == 0 else { throw .malformed }
        // A 32-byte slice always makes a PublicKey; whether it is a member is checked later.
        guard let origin = try? PublicKey(bytes: Array(b[16..<48])) else { throw .malformed }
        return SignedEnvelope(
            kind: kind, flags: flags, ttlLimit: ttlLimit, origin: origin,
            round: readLittleEndian(UInt64.self, b, at: 48),
            sequence: readLittleEndian(UInt64.self, b, at: 56),
            payloadLength: payloadLength,
            payloadDigest: Array(b[72..<104]),
            signature: Array(b[signatureOffset..<(signatureOffset + SigningKeyPair.signatureByteCount)]),
            ttl: ttl)
    }

    /// Parses a header frame held in any contiguous bytes.
    public static func decode(headerFrame: some ContiguousBytes) throws(RejectionReason) -> SignedEnvelope {
        try headerFrame.withUnsafeBytes { b in Result { () throws(RejectionReason) in try decode(headerFrame: b) } }.get()
    }

    // MARK: Verification

    /// Whether the origin's signature verifies over the 104 signed bytes.
    public var hasValidSignature: Bool {
        origin.verify(signature: signature, of: signedBytes())
    }

    /// Whether `payload` has the declared length and BLAKE2b-256 digest.
    public func matches(payload: UnsafeRawBufferPointer) -> Bool {
        guard UInt64(payload.count) == payloadLength, let d = try? BLAKE2b.hash(payload) else { return false }
        return Sodium.constantTimeEqual(d, payloadDigest)
    }
}

// MARK: - Little-endian fields

func appendLittleEndian<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
    var v = value.littleEndian
    withUnsafeBytes(of: &v) { out += $0 }
}

func readLittleEndian<T: FixedWidthInteger>(_: T.Type, _ b: UnsafeRawBufferPointer, at offset: Int) -> T {
    var v: T = 0
    withUnsafeMutableBytes(of: &v) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: b[offset..<(offset + MemoryLayout<T>.size)])) }
    return T(littleEndian: v)
}
