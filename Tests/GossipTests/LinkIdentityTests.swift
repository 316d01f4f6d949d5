import Foundation
import Testing

@testable import Gossip

/// Collects what a node's observer hears, for checks after the fact.
final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [MeshEvent] = []

    func append(_ e: MeshEvent) { lock.withLock { events.append(e) } }

    /// Every state `name` was put in, in order.
    func states(of name: String) -> [PeerState] {
        lock.withLock {
            events.compactMap { if case .peer(let n, let s) = $0, n == name { s } else { nil } }
        }
    }
}

@Suite struct LinkIdentityTests {
    /// Mallory, an admitted member, opens a second link to Alice that claims Bob's routing
    /// id and pings as herself. Every message on it is refused as `linkMismatch`, and
    /// Bob's own link stays alive throughout, carrying his updates.
    @Test func aMemberClaimingAnothersRoutingIdIsRefusedAndTheVictimStaysAlive() throws {
        try hijack(beforeTheVictimConnects: false)
    }

    /// The same claim made while Bob is not yet connected does not lock him out.
    @Test func aClaimMadeBeforeTheVictimConnectsDoesNotLockItOut() throws {
        try hijack(beforeTheVictimConnects: true)
    }

    func hijack(beforeTheVictimConnects early: Bool) throws {
        let alice = try SigningKeyPair(), bob = try SigningKeyPair(), mallory = try SigningKeyPair()
        let members = [
            Member(name: "alice", publicKey: alice.publicKey), Member(name: "bob", publicKey: bob.publicKey),
            Member(name: "mallory", publicKey: mallory.publicKey),
        ]
        let log = EventLog()
        let nodeA = try GossipNode(
            config: testConfig(alice, endpoint: "tcp://127.0.0.1:*", members: members, neighbours: [], curve: true),
            observer: { log.append($0) })
        defer { nodeA.stop() }

        let context = try ZMQContext()
        let attacker = try ZMQSocket(context, type: .dealer)
        defer { attacker.close() }
        try attacker.set(.routingID, bob.publicKey.bytes)
        try attacker.setCurveClient(try mallory.curveKeyPair(), serverPublicKey: try alice.publicKey.curvePublicKey())
        var sequence = UInt64(Date().timeIntervalSince1970 * 1e6)
        func ping() throws -> Bool {
            sequence += 1
            let ping = try SignedEnvelope.sign(kind: .ping, round: 0, sequence: sequence, ttl: 0, payload: [UInt8](), by: mallory)
            return try attacker.send(multipart: [ping.encodeHeaderFrame(), []], flags: .dontWait)
        }
        var sent = 0
        if early {
            try attacker.connect(nodeA.endpoint)
            if try ping() { sent += 1 }
            #expect(eventually(within: 5) { nodeA.counters().rejections[.linkMismatch] == 1 })
        }

        var toAlice = members
        toAlice[0].endpoint = nodeA.endpoint
        let nodeB = try GossipNode(config: testConfig(bob, endpoint: "tcp://127.0.0.1:*", members: toAlice, neighbours: ["alice"], curve: true))
        defer { nodeB.stop() }
        #expect(nodeA.waitForPeers(["bob"], state: .alive, timeoutSeconds: 10))
        if !early { try attacker.connect(nodeA.endpoint) }

        // 2 s of attack: more than six liveness windows of the test timing (300 ms).
        for round in 1...40 as ClosedRange<UInt64> {
            if try ping() { sent += 1 }
            if round % 4 == 0 {
                try nodeB.publish(round: round, payload: [UInt8(round)])
                let got = nodeA.waitForUpdates(round: round, from: [bob.publicKey], timeoutSeconds: 5)
                #expect(got[bob.publicKey]?.payload.bytes == [UInt8(round)], "bob's round \(round) at alice")
            }
            #expect(nodeA.peers().first { $0.name == "bob" }?.state == .alive, "bob at alice, step \(round)")
            usleep(50_000)
        }
        #expect(sent == (early ? 41 : 40))
        #expect(eventually(within: 5) { nodeA.counters().rejections[.linkMismatch] == sent }, "\(nodeA.counters().rejections)")
        let c = nodeA.counters()
        #expect(c.rejectionTotal - (c.rejections[.replayed] ?? 0) == sent)
        // Bob was put alive once, on his arrival, and never left it.
        #expect(log.states(of: "bob") == [.alive])
        #expect(!nodeA.peers().contains { $0.name == "mallory" })
    }

    /// A cut both ways (the fault switch) makes each side take the other for gone; once
    /// traffic flows again both come back by themselves, and SYNC brings the update that
    /// was published during the cut.
    @Test func aGonePeerRecoversAsSoonAsItsLinkCarriesTrafficAgain() throws {
        let a = try SigningKeyPair(), b = try SigningKeyPair()
        let members = [Member(name: "a", publicKey: a.publicKey), Member(name: "b", publicKey: b.publicKey)]
        let nodeA = try GossipNode(config: testConfig(a, endpoint: "tcp://127.0.0.1:*", members: members, neighbours: [], curve: true))
        defer { nodeA.stop() }
        var toA = members
        toA[0].endpoint = nodeA.endpoint
        let nodeB = try GossipNode(config: testConfig(b, endpoint: "tcp://127.0.0.1:*", members: toA, neighbours: ["a"], curve: true))
        defer { nodeB.stop() }
        #expect(nodeA.waitForPeers(["b"], state: .alive, timeoutSeconds: 10))
        #expect(nodeB.waitForPeers(["a"], state: .alive, timeoutSeconds: 10))

        nodeA.setBlockedPeers(["b"])
        #expect(nodeA.blockedPeers() == ["b"])
        #expect(nodeA.waitForPeers(["b"], state: .gone, timeoutSeconds: 10))
        #expect(nodeB.waitForPeers(["a"], state: .gone, timeoutSeconds: 10))
        try nodeB.publish(round: 3, payload: Array("during the cut".utf8))
        usleep(200_000)
        #expect(nodeA.latestUpdate(from: b.publicKey) == nil)

        let healed = Date()
        nodeA.setBlockedPeers([])
        #expect(nodeA.waitForPeers(["b"], state: .alive, timeoutSeconds: 10))
        #expect(nodeB.waitForPeers(["a"], state: .alive, timeoutSeconds: 10))
        let got = nodeA.waitForUpdates(round: 3, from: [b.publicKey], timeoutSeconds: 10)
        #expect(got[b.publicKey]?.payload.bytes == Array("during the cut".utf8))
        // Within two liveness windows (300 ms each) of the heal, not a reconnect backoff.
        #expect(Date().timeIntervalSince(healed) < 0.6)
        #expect(nodeA.counters().blockedDrops > 0)
        #expect(honestRejections(nodeA) == 0 && honestRejections(nodeB) == 0)
    }
}
