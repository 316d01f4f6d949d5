import Foundation
import Testing

@testable import Gossip

/// A tcp port on 127.0.0.1 that nothing listens on (bound once, then released).
func freeTCPEndpoint() throws -> String {
    let context = try ZMQContext()
    let s = try ZMQSocket(context, type: .router)
    try s.bind("tcp://127.0.0.1:*")
    let e = try s.lastEndpoint
    s.close()
    return e
}

@Suite struct LivenessTests {
    /// A neighbour that never starts: connecting at first, gone one liveness window
    /// (3 × 100 ms) after the node's start, and alive once it does start.
    @Test func aNeighbourNeverHeardFromIsGoneAfterOneLivenessWindow() throws {
        let a = try SigningKeyPair(), b = try SigningKeyPair()
        let bEndpoint = try freeTCPEndpoint()
        let members = [Member(name: "a", publicKey: a.publicKey), Member(name: "b", publicKey: b.publicKey, endpoint: bEndpoint)]
        let started = Date()
        let nodeA = try GossipNode(config: testConfig(a, endpoint: "tcp://127.0.0.1:*", members: members, neighbours: ["b"], curve: true))
        defer { nodeA.stop() }
        #expect(nodeA.peers().first?.state == .connecting)
        #expect(nodeA.waitForPeers(["b"], state: .gone, timeoutSeconds: 5))
        let elapsed = Date().timeIntervalSince(started)
        // The window, plus at most a heartbeat tick (25 ms) and scheduling.
        #expect(elapsed >= 0.29 && elapsed < 0.6, "gone after \(elapsed) s")

        var toA = members
        toA[0].endpoint = nodeA.endpoint
        let nodeB = try GossipNode(config: testConfig(b, endpoint: bEndpoint, members: toA, neighbours: ["a"], curve: true))
        defer { nodeB.stop() }
        #expect(nodeA.waitForPeers(["b"], state: .alive, timeoutSeconds: 10))
        try nodeB.publish(round: 1, payload: [1])
        #expect(nodeA.waitForUpdates(round: 1, from: [b.publicKey], timeoutSeconds: 10).count == 1)
        #expect(honestRejections(nodeA) == 0)
    }
}
