import Foundation
import Testing

@testable import Gossip

/// An envelope with a distinct value in every field, signed by `keys`.
func sampleEnvelope(_ keys: SigningKeyPair, payload: [UInt8] = Array("a payload".utf8)) throws -> SignedEnvelope {
    try SignedEnvelope.sign(
        kind: .update, round: 0x0102_0304_0506_0708, sequence: 0x1112_1314_1516_1718, ttl: 5,
        payload: payload, by: keys)
}

@Suite struct SignedEnvelopeTests {
    @Test func headerFrameHasTheDocumentedLayout() throws {
        let keys = try SigningKeyPair()
        let payload = Array("a payload".utf8)
        let e = try sampleEnvelope(keys, payload: payload)
        let f = e.encodeHeaderFrame()
        #expect(f.count == 176)
        #expect(Array(f[0..<4]) == [0x53, 0x54, 0x52, 0x47])  // "STRG"
        #expect(f[4] == 1)  // version
        #expect(f[5] == 4)  // UPDATE
        #expect(Array(f[6..<8]) == [0, 0])  // flags
        #expect(f[8] == 5)  // TTL limit
        #expect(Array(f[9..<16]) == [UInt8](repeating: 0, count: 7))
        #expect(Array(f[16..<48]) == keys.publicKey.bytes)
        #expect(Array(f[48..<56]) == [0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01])  // round, little-endian
        #expect(Array(f[56..<64]) == [0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11])  // sequence
        #expect(Array(f[64..<72]) == [9, 0, 0, 0, 0, 0, 0, 0])  // payload length
        #expect(Array(f[72..<104]) == (try BLAKE2b.hash(payload)))
        #expect(keys.publicKey.verify(signature: Array(f[104..<168]), of: Array(f[0..<104])))
        #expect(f[168] == 5)  // remaining TTL
        #expect(Array(f[169..<176]) == [UInt8](repeating: 0, count: 7))
    }

    @Test func decodeRestoresEveryField() throws {
        let keys = try SigningKeyPair()
        for kind in EnvelopeKind.allCases {
            let ttl: UInt8 = kind.isControl ? 0 : 7
            // PING and PONG carry nothing; every other kind carries three bytes here.
            let payload: [UInt8] = kind == .ping || kind == .pong ? [] : [1, 2, 3]
            let e = try SignedEnvelope.sign(kind: kind, round: 42, sequence: 99, ttl: ttl, payload: payload, by: keys)
            let d = try SignedEnvelope.decode(headerFrame: e.encodeHeaderFrame())
            #expect(d == e)
            #expect(d.kind == kind && d.round == 42 && d.sequence == 99 && d.ttl == ttl && d.ttlLimit == ttl)
            #expect(d.origin == keys.publicKey && d.payloadLength == UInt64(payload.count) && d.flags == 0)
            #expect(d.payloadDigest == (try BLAKE2b.hash(payload)))
            #expect(d.hasValidSignature)
        }
    }

    @Test func aPingOrPongDeclaringAPayloadIsMalformed() throws {
        let keys = try SigningKeyPair()
        for kind in [EnvelopeKind.ping, .pong] {
            let e = try SignedEnvelope.sign(kind: kind, round: 0, sequence: 1, ttl: 0, payload: [0], by: keys)
            #expect(throws: RejectionReason.malformed) { try SignedEnvelope.decode(headerFrame: e.encodeHeaderFrame()) }
        }
    }

    @Test func flippingAnySignedBitBreaksTheSignature() throws {
        let keys = try SigningKeyPair()
        let frame = try sampleEnvelope(keys).encodeHeaderFrame()
        let signature = Array(frame[104..<168])
        for i in 0..<104 {
            for bit in [0, 7] {
                var signed = Array(frame[0..<104])
                signed[i] ^= UInt8(1 << bit)
                // The key that would check it is whatever the (possibly flipped) origin field says.
                let origin = try PublicKey(bytes: Array(signed[16..<48]))
                #expect(!origin.verify(signature: signature, of: signed), "byte \(i) bit \(bit)")
                var whole = frame
                whole[i] ^= UInt8(1 << bit)
                if let decoded = try? SignedEnvelope.decode(headerFrame: whole) {
                    #expect(!decoded.hasValidSignature, "byte \(i) bit \(bit)")
                }
            }
        }
        for i in 104..<168 {
            var whole = frame
            whole[i] ^= 1
            #expect(!(try SignedEnvelope.decode(headerFrame: whole)).hasValidSignature, "signature byte \(i)")
        }
    }

    @Test func relayingChangesOnlyTheUnsignedTTL() throws {
        let keys = try SigningKeyPair()
        let e = try sampleEnvelope(keys)
        let original = e.encodeHeaderFrame()
        let relayed = e.relayed(ttl: 2).encodeHeaderFrame()
        #expect(relayed[168] == 2)
        #expect(Array(relayed[0..<168]) == Array(original[0..<168]))
        let d = try SignedEnvelope.decode(headerFrame: relayed)
        #expect(d.hasValidSignature && d.ttl == 2 && d.ttlLimit == 5)
    }

    @Test func payloadCheckNeedsTheSignedDigestAndLength() throws {
        let keys = try SigningKeyPair()
        let payload = [UInt8](repeating: 9, count: 1000)
        let e = try sampleEnvelope(keys, payload: payload)
        #expect(payload.withUnsafeBytes { e.matches(payload: $0) })
        var altered = payload
        altered[500] = 8
        #expect(!altered.withUnsafeBytes { e.matches(payload: $0) })
        #expect(!Array(payload.dropLast()).withUnsafeBytes { e.matches(payload: $0) })
    }

    @Test func decodeRefusesEachMalformedHeaderWithItsReason() throws {
        let keys = try SigningKeyPair()
        let frame = try sampleEnvelope(keys).encodeHeaderFrame()
        func reason(_ change: (inout [UInt8]) -> Void) -> RejectionReason? {
            var f = frame
            change(&f)
            do {
                _ = try SignedEnvelope.decode(headerFrame: f)
                return nil
            } catch { return error }
        }
        #expect(reason { $0.removeLast() } == .truncated)
        #expect(reason { $0.append(0) } == .oversized)
        #expect(reason { $0[0] = UInt8(ascii: "X") } == .badMagic)
        #expect(reason { $0[4] = 2 } == .unknownVersion)
        #expect(reason { $0[5] = 0 } == .unknownKind)
        #expect(reason { $0[5] = UInt8(EnvelopeKind.allCases.count + 1) } == .unknownKind)  // past the last kind (chunk, 6)
        #expect(reason { $0[6] = 1 } == .malformed)  // flags
        #expect(reason { $0[12] = 1 } == .malformed)  // reserved
        #expect(reason { $0[168] = 6 } == .malformed)  // TTL above its signed limit
        #expect(reason { $0[170] = 1 } == .malformed)  // reserved after the TTL
        #expect(reason { $0[5] = EnvelopeKind.ping.rawValue } == .malformed)  // control with a TTL
        #expect(reason { _ in } == nil)
    }

    @Test func controlPayloadsRoundTripAndRefuseGarbage() throws {
        let a = try SigningKeyPair().publicKey, b = try SigningKeyPair().publicKey
        let entries = [HeldVersion(origin: a, round: 3, sequence: 7), HeldVersion(origin: b, round: 1 << 40, sequence: 2)]
        let encoded = SyncPayload.encode(entries)
        #expect(encoded.count == 96)
        #expect(try encoded.withUnsafeBytes { try SyncPayload.decode($0) } == entries)
        #expect(throws: RejectionReason.malformed) { try Array(encoded.dropLast()).withUnsafeBytes { try SyncPayload.decode($0) } }
        let twice = SyncPayload.encode([entries[0], entries[0]])
        #expect(throws: RejectionReason.malformed) { try twice.withUnsafeBytes { try SyncPayload.decode($0) } }

        let hello = HelloPayload.encode(endpoint: "tcp://127.0.0.1:5555")
        #expect(try hello.withUnsafeBytes { try HelloPayload.decode($0) } == "tcp://127.0.0.1:5555")
        #expect(throws: RejectionReason.malformed) { try Array("http://x".utf8).withUnsafeBytes { try HelloPayload.decode($0) } }
        #expect(throws: RejectionReason.malformed) { try [UInt8]([0xff, 0xfe]).withUnsafeBytes { try HelloPayload.decode($0) } }
    }
}
