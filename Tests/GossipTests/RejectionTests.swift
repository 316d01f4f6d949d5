import Foundation
import Testing

@testable import Gossip

/// A receiving node (CURVE off, so a raw DEALER can reach it) and a raw DEALER that
/// speaks for `member` by using its key as routing id.
final class RejectionBench {
    let receiverKeys: SigningKeyPair
    let member: SigningKeyPair
    let stranger: SigningKeyPair
    let node: GossipNode
    let context: ZMQContext
    let dealer: ZMQSocket
    static let maxPayload = 4096

    init(routingID: [UInt8]? = nil) throws {
        receiverKeys = try SigningKeyPair()
        member = try SigningKeyPair()
        stranger = try SigningKeyPair()
        var config = testConfig(
            receiverKeys, endpoint: "tcp://127.0.0.1:*",
            members: [Member(name: "r", publicKey: receiverKeys.publicKey), Member(name: "m", publicKey: member.publicKey)],
            neighbours: [], curve: false)
        config.maxPayloadBytes = Self.maxPayload
        node = try GossipNode(config: config)
        context = try ZMQContext()
        dealer = try ZMQSocket(context, type: .dealer)
        try dealer.set(.routingID, routingID ?? member.publicKey.bytes)
        try dealer.connect(node.endpoint)
    }

    deinit {
        dealer.close()
        node.stop()
    }

    func send(_ frames: [[UInt8]]) throws { try dealer.send(multipart: frames) }

    func send(_ e: SignedEnvelope, payload: [UInt8]) throws { try send([e.encodeHeaderFrame(), payload]) }

    /// A valid UPDATE from the member.
    func update(round: UInt64, payload: [UInt8], sequence: UInt64? = nil, by keys: SigningKeyPair? = nil) throws -> SignedEnvelope {
        try SignedEnvelope.sign(
            kind: .update, round: round, sequence: sequence ?? UInt64(Date().timeIntervalSince1970 * 1e6), ttl: 2,
            payload: payload, by: keys ?? member)
    }

    /// Checks the node counted `reason` exactly once and nothing else, then that a valid
    /// update from the member still gets through.
    func expectOnly(_ reason: RejectionReason, honestRound: UInt64 = 100, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(eventually(within: 10) { node.counters().rejections[reason] == 1 }, "\(reason) never counted", sourceLocation: sourceLocation)
        let c = node.counters()
        for r in RejectionReason.allCases where r != reason {
            #expect(c.rejections[r] == 0, "\(r) counted too", sourceLocation: sourceLocation)
        }
        let payload = Array("honest".utf8)
        try send(try update(round: honestRound, payload: payload), payload: payload)
        let got = node.waitForUpdates(round: honestRound, from: [member.publicKey], timeoutSeconds: 10)
        #expect(got[member.publicKey]?.payload.bytes == payload, "honest traffic after \(reason)", sourceLocation: sourceLocation)
        #expect(node.counters().rejections[reason] == 1, sourceLocation: sourceLocation)
    }
}

@Suite struct RejectionTests {
    @Test func wrongFrameCount() throws {
        let b = try RejectionBench()
        let e = try b.update(round: 1, payload: [1])
        try b.send([e.encodeHeaderFrame()])
        try b.expectOnly(.wrongFrameCount)
    }

    @Test func truncatedHeader() throws {
        let b = try RejectionBench()
        try b.send([Array(try b.update(round: 1, payload: [1]).encodeHeaderFrame().prefix(100)), [1]])
        try b.expectOnly(.truncated)
    }

    @Test func truncatedPayload() throws {
        let b = try RejectionBench()
        let payload = [UInt8](repeating: 3, count: 64)
        try b.send(try b.update(round: 1, payload: payload), payload: Array(payload.prefix(63)))
        try b.expectOnly(.truncated)
    }

    @Test func declaredPayloadAboveTheMaximumIsOversized() throws {
        let b = try RejectionBench()
        let big = [UInt8](repeating: 1, count: RejectionBench.maxPayload + 1)
        // The whole payload would be dropped by ZMQ_MAXMSGSIZE; the header's claim is enough.
        try b.send(try b.update(round: 1, payload: big), payload: [])
        try b.expectOnly(.oversized)
    }

    @Test func payloadLongerThanDeclaredIsOversized() throws {
        let b = try RejectionBench()
        try b.send(try b.update(round: 1, payload: [1, 2]), payload: [1, 2, 3])
        try b.expectOnly(.oversized)
    }

    @Test func frameAboveMaxMessageSizeNeverReachesTheNode() throws {
        let b = try RejectionBench()
        let big = [UInt8](repeating: 1, count: RejectionBench.maxPayload + 100)
        try b.send(try b.update(round: 1, payload: big), payload: big)
        // libzmq drops the connection; the DEALER reconnects and honest traffic flows.
        let payload = Array("after".utf8)
        let got = b.node.waitForUpdates(round: 2, from: [b.member.publicKey], timeoutSeconds: 1)
        #expect(got.isEmpty)
        try b.send(try b.update(round: 2, payload: payload), payload: payload)
        #expect(b.node.waitForUpdates(round: 2, from: [b.member.publicKey], timeoutSeconds: 10)[b.member.publicKey]?.payload.bytes == payload)
        #expect(b.node.counters().rejectionTotal == 0)
    }

    @Test func badMagic() throws {
        let b = try RejectionBench()
        var f = try b.update(round: 1, payload: [1]).encodeHeaderFrame()
        f[0] = 0
        try b.send([f, [1]])
        try b.expectOnly(.badMagic)
    }

    @Test func unknownVersion() throws {
        let b = try RejectionBench()
        var f = try b.update(round: 1, payload: [1]).encodeHeaderFrame()
        f[4] = 9
        try b.send([f, [1]])
        try b.expectOnly(.unknownVersion)
    }

    @Test func unknownKind() throws {
        let b = try RejectionBench()
        var f = try b.update(round: 1, payload: [1]).encodeHeaderFrame()
        f[5] = 77
        try b.send([f, [1]])
        try b.expectOnly(.unknownKind)
    }

    @Test func malformedFlags() throws {
        let b = try RejectionBench()
        var f = try b.update(round: 1, payload: [1]).encodeHeaderFrame()
        f[7] = 0x80
        try b.send([f, [1]])
        try b.expectOnly(.malformed)
    }

    @Test func unknownOrigin() throws {
        let b = try RejectionBench()
        try b.send(try b.update(round: 1, payload: [1], by: b.stranger), payload: [1])
        try b.expectOnly(.unknownOrigin)
    }

    @Test func controlMessageFromAnotherLinkIsASenderMismatch() throws {
        // The DEALER claims to be a stranger but sends the member's PING.
        let b = try RejectionBench(routingID: Array(repeating: 7, count: 32))
        let ping = try SignedEnvelope.sign(kind: .ping, round: 0, sequence: 1, ttl: 0, payload: [UInt8](), by: b.member)
        try b.send(ping, payload: [])
        try b.expectOnly(.senderMismatch)
    }

    @Test func badSignature() throws {
        let b = try RejectionBench()
        let e = try b.update(round: 1, payload: [1])
        var sig = e.signature
        sig[10] ^= 0x40
        try b.send(e.with(signature: sig), payload: [1])
        try b.expectOnly(.badSignature)
    }

    @Test func forgedRoundBreaksTheSignature() throws {
        let b = try RejectionBench()
        var f = try b.update(round: 1, payload: [1]).encodeHeaderFrame()
        f[48] = 2  // round 1 → 2 after signing
        try b.send([f, [1]])
        try b.expectOnly(.badSignature)
    }

    @Test func digestMismatch() throws {
        let b = try RejectionBench()
        try b.send(try b.update(round: 1, payload: [1, 2, 3]), payload: [1, 2, 4])
        try b.expectOnly(.digestMismatch)
    }

    @Test func repeatedUpdateIsReplayed() throws {
        let b = try RejectionBench()
        let e = try b.update(round: 5, payload: [5])
        try b.send(e, payload: [5])
        #expect(b.node.waitForUpdates(round: 5, from: [b.member.publicKey], timeoutSeconds: 10).count == 1)
        try b.send(e, payload: [5])
        try b.expectOnly(.replayed)
    }

    @Test func olderRoundIsStale() throws {
        let b = try RejectionBench()
        try b.send(try b.update(round: 5, payload: [5], sequence: 10), payload: [5])
        #expect(b.node.waitForUpdates(round: 5, from: [b.member.publicKey], timeoutSeconds: 10).count == 1)
        try b.send(try b.update(round: 4, payload: [4], sequence: 11), payload: [4])
        try b.expectOnly(.replayed)
        #expect(b.node.latestUpdate(from: b.member.publicKey)?.round == 100)
    }

    @Test func rejectionsAreLoggedButNeverStored() throws {
        let b = try RejectionBench()
        for _ in 0..<20 { try b.send(try b.update(round: 1, payload: [1, 2, 3]), payload: [9, 9, 9]) }
        #expect(eventually(within: 10) { b.node.counters().rejections[.digestMismatch] == 20 })
        #expect(b.node.latestUpdates().isEmpty)
    }
}
