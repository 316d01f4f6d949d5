import Foundation
import Testing

@testable import Gossip

@Suite struct PayloadValidatorTests {
    /// Accepts payloads that start with "ok", and says why otherwise.
    static let validator: @Sendable (UnsafeRawBufferPointer) -> String? = { b in
        b.count >= 2 && b[0] == UInt8(ascii: "o") && b[1] == UInt8(ascii: "k") ? nil : "does not start with ok (\(b.count) bytes)"
    }

    /// A — B — C in a line, every node with the validator: A's unreadable payload is
    /// refused and counted at B, not stored there and never reaches C; A's readable one
    /// of the next round crosses the line.
    @Test func aRefusedPayloadIsCountedNotStoredAndNotRelayed() throws {
        let ka = try SigningKeyPair(), kb = try SigningKeyPair(), kc = try SigningKeyPair()
        func config(_ keys: SigningKeyPair, _ members: [Member], _ neighbours: [String]) -> MeshConfig {
            var c = testConfig(keys, endpoint: "tcp://127.0.0.1:*", members: members, neighbours: neighbours, curve: true)
            c.payloadValidator = Self.validator
            return c
        }
        var members = [Member(name: "a", publicKey: ka.publicKey), Member(name: "b", publicKey: kb.publicKey), Member(name: "c", publicKey: kc.publicKey)]
        let b = try GossipNode(config: config(kb, members, []))
        defer { b.stop() }
        members[1].endpoint = b.endpoint
        let a = try GossipNode(config: config(ka, members, ["b"]))
        defer { a.stop() }
        let c = try GossipNode(config: config(kc, members, ["b"]))
        defer { c.stop() }
        #expect(b.waitForPeers(["a", "c"], state: .alive, timeoutSeconds: 10))

        try a.publish(round: 1, payload: Array("garbage".utf8))
        #expect(eventually(within: 10) { b.counters().rejections[.unreadablePayload] == 1 })
        #expect(b.counters().payloadRefusals["a"] == PayloadRefusal(count: 1, round: 1, reason: "does not start with ok (7 bytes)"))
        #expect(b.latestUpdate(from: ka.publicKey) == nil)

        try a.publish(round: 2, payload: Array("ok, readable".utf8))
        #expect(c.waitForUpdates(round: 2, from: [ka.publicKey], timeoutSeconds: 10)[ka.publicKey]?.payload.bytes == Array("ok, readable".utf8))
        #expect(b.latestUpdate(from: ka.publicKey)?.round == 2)
        // C saw A's updates only once, the readable one: the refused one was never sent on.
        #expect(c.counters().updatesAccepted == 1)
        #expect(c.counters().rejections[.unreadablePayload] == 0)
        #expect(c.counters().payloadRefusals.isEmpty)
        #expect(b.counters().rejections[.unreadablePayload] == 1)
        #expect(honestRejections(b) == 1 && honestRejections(c) == 0)
    }
}
