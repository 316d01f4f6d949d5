import Foundation
import Testing

@testable import Gossip

/// A node (CURVE off) that knows a member `m` and another member `o`, and a raw member
/// `m` that talks to it through a DEALER and listens for its answers on a ROUTER of its
/// own, announced by HELLO.
final class SyncBench {
    let nodeKeys = try! SigningKeyPair()
    let member = try! SigningKeyPair()
    let other = try! SigningKeyPair()
    let node: GossipNode
    let context: ZMQContext
    let dealer: ZMQSocket
    let home: ZMQSocket

    init(syncAnswerBudgetBytes: Int? = nil) throws {
        var config = testConfig(
            nodeKeys, endpoint: "tcp://127.0.0.1:*",
            members: [
                Member(name: "n", publicKey: nodeKeys.publicKey), Member(name: "m", publicKey: member.publicKey),
                Member(name: "o", publicKey: other.publicKey),
            ],
            neighbours: [], curve: false)
        if let b = syncAnswerBudgetBytes { config.syncAnswerBudgetBytes = b }
        node = try GossipNode(config: config)
        context = try ZMQContext()
        home = try ZMQSocket(context, type: .router)
        try home.set(.receiveTimeoutMilliseconds, 50)
        try home.bind("tcp://127.0.0.1:*")
        dealer = try ZMQSocket(context, type: .dealer)
        try dealer.set(.routingID, member.publicKey.bytes)
        try dealer.connect(node.endpoint)
    }

    deinit {
        dealer.close()
        home.close()
        node.stop()
    }

    private var sequence = UInt64(Date().timeIntervalSince1970 * 1e6)

    /// A message of `kind` signed by `keys` (the member unless told), sent over the DEALER.
    func send(_ kind: EnvelopeKind, payload: [UInt8], round: UInt64 = 0, by keys: SigningKeyPair? = nil) throws {
        sequence += 1
        let e = try SignedEnvelope.sign(
            kind: kind, round: round, sequence: sequence, ttl: kind == .update ? 1 : 0, payload: payload, by: keys ?? member)
        try dealer.send(multipart: [e.encodeHeaderFrame(), payload])
    }

    /// Says HELLO with the home ROUTER's endpoint and waits until the node greets back.
    func introduce() throws {
        try send(.hello, payload: HelloPayload.encode(endpoint: try home.lastEndpoint))
        #expect(node.waitForPeers(["m"], state: .alive, timeoutSeconds: 10))
        #expect(eventually(within: 10) { self.drain().contains { $0.kind == .sync } })
    }

    /// Every envelope that reached the home ROUTER within `seconds`.
    func drain(for seconds: Double = 0.2) -> [SignedEnvelope] {
        var out: [SignedEnvelope] = []
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            guard let frames = try? home.receiveMultipart(), frames.count == 3,
                let e = try? SignedEnvelope.decode(headerFrame: frames[1].bytes)
            else { continue }
            out.append(e)
        }
        return out
    }
}

@Suite struct ControlMessageLimitTests {
    @Test func aPingWithAPayloadIsMalformed() throws {
        let b = try RejectionBench()
        let ping = try SignedEnvelope.sign(kind: .ping, round: 0, sequence: 1, ttl: 0, payload: [1, 2, 3], by: b.member)
        try b.send(ping, payload: [1, 2, 3])
        try b.expectOnly(.malformed)
    }

    @Test func aPongWithAPayloadIsMalformed() throws {
        let b = try RejectionBench()
        let pong = try SignedEnvelope.sign(kind: .pong, round: 0, sequence: 1, ttl: 0, payload: [0], by: b.member)
        try b.send(pong, payload: [0])
        try b.expectOnly(.malformed)
    }

    @Test func anEmptyPingIsAnsweredWithAnEmptyPong() throws {
        let b = try SyncBench()
        try b.introduce()
        try b.send(.ping, payload: [])
        #expect(eventually(within: 10) { b.drain().contains { $0.kind == .pong && $0.payloadLength == 0 } })
        #expect(honestRejections(b.node) == 0)
    }

    /// Twenty SYNCs in a row: one is answered, nineteen are `rateLimited`; after one
    /// liveness window the next is answered again.
    @Test func aSyncFloodIsAnsweredOncePerLivenessWindow() throws {
        let b = try SyncBench()
        try b.node.publish(round: 1, payload: [UInt8](repeating: 7, count: 1000))
        try b.introduce()
        // The node answered no SYNC yet: the greeting carried its own.
        for _ in 0..<20 { try b.send(.sync, payload: []) }
        #expect(eventually(within: 10) { b.node.counters().rejections[.rateLimited] == 19 })
        let updates = b.drain(for: 0.3).filter { $0.kind == .update }
        #expect(updates.count == 1)
        #expect(updates.first?.origin == b.nodeKeys.publicKey)
        #expect(b.node.counters().rejectionTotal == 19)
        // testConfig: 3 intervals of 100 ms.
        usleep(350_000)
        try b.send(.sync, payload: [])
        #expect(eventually(within: 10) { b.drain().contains { $0.kind == .update } })
        #expect(b.node.counters().rejections[.rateLimited] == 19)
    }

    /// Two 1000-byte updates held, a budget of 1500 bytes: the answer sends the newer
    /// one only, and says it was trimmed.
    @Test func aSyncAnswerStaysWithinItsByteBudget() throws {
        let b = try SyncBench(syncAnswerBudgetBytes: 1500)
        try b.node.publish(round: 1, payload: [UInt8](repeating: 1, count: 1000))
        try b.send(.update, payload: [UInt8](repeating: 2, count: 1000), round: 2, by: b.other)
        #expect(b.node.waitForUpdates(round: 2, from: [b.other.publicKey], timeoutSeconds: 10).count == 1)
        try b.introduce()
        try b.send(.sync, payload: [])
        #expect(eventually(within: 10) { b.node.counters().syncAnswersTrimmed == 1 })
        let updates = b.drain(for: 0.3).filter { $0.kind == .update }
        #expect(updates.map(\.origin) == [b.other.publicKey])
        #expect(updates.first?.round == 2)
        #expect(b.node.counters().rejectionTotal == 0)
    }
}
