import Foundation
import Testing

@testable import Gossip

/// An update reaches every node within its TTL even when its first copy at a relay came
/// by a longer path, with less TTL left, than a later one.
@Suite struct RelayReachTests {
    @Test func aLaterCopyWithMoreTTLLeftIsRelayedOn() throws {
        let a = try SigningKeyPair(), x = try SigningKeyPair(), origin = try SigningKeyPair(), middle = try SigningKeyPair()
        let members = [
            Member(name: "a", publicKey: a.publicKey), Member(name: "x", publicKey: x.publicKey),
            Member(name: "o", publicKey: origin.publicKey), Member(name: "m", publicKey: middle.publicKey),
        ]
        let nodeA = try GossipNode(config: testConfig(a, endpoint: "tcp://127.0.0.1:*", members: members, neighbours: [], curve: false))
        defer { nodeA.stop() }
        var xMembers = members
        xMembers[0].endpoint = nodeA.endpoint
        let nodeX = try GossipNode(config: testConfig(x, endpoint: "tcp://127.0.0.1:*", members: xMembers, neighbours: ["a"], curve: false))
        defer { nodeX.stop() }
        #expect(nodeA.waitForPeers(["x"], state: .alive, timeoutSeconds: 10))

        // Raw DEALERs that speak for the origin and for a member between it and a.
        let context = try ZMQContext()
        func dealer(_ keys: SigningKeyPair) throws -> ZMQSocket {
            let s = try ZMQSocket(context, type: .dealer)
            try s.set(.routingID, keys.publicKey.bytes)
            try s.connect(nodeA.endpoint)
            return s
        }
        let fromOrigin = try dealer(origin), fromMiddle = try dealer(middle)
        defer { fromOrigin.close(); fromMiddle.close() }
        let payload = Array("two paths".utf8)
        let update = try SignedEnvelope.sign(kind: .update, round: 3, sequence: 1, ttl: 1, payload: payload, by: origin)

        // First by the longer path: relayed once already, no TTL left at a.
        try fromMiddle.send(multipart: [update.relayed(ttl: 0).encodeHeaderFrame(), payload])
        #expect(nodeA.waitForUpdates(round: 3, from: [origin.publicKey], timeoutSeconds: 10).count == 1)
        usleep(300_000)
        #expect(nodeX.latestUpdate(from: origin.publicKey) == nil, "relayed with no TTL left")

        // Then straight from the origin, one hop of TTL left: a relays it to x.
        try fromOrigin.send(multipart: [update.encodeHeaderFrame(), payload])
        let atX = nodeX.waitForUpdates(round: 3, from: [origin.publicKey], timeoutSeconds: 10)
        #expect(atX[origin.publicKey]?.payload.bytes == payload)
        #expect(atX[origin.publicKey]?.envelope.ttl == 0)
        #expect(nodeA.latestUpdate(from: origin.publicKey)?.envelope.ttl == 1)
        let c = nodeA.counters()
        #expect(c.updatesAccepted == 1, "the same update, accepted once")
        #expect(c.rejections[.replayed] ?? 0 == 0)

        // A third copy with no more TTL than the held one is a replay.
        try fromOrigin.send(multipart: [update.encodeHeaderFrame(), payload])
        #expect(eventually(within: 10) { nodeA.counters().rejections[.replayed] == 1 })
        #expect(nodeA.counters().updatesAccepted == 1)
    }
}
