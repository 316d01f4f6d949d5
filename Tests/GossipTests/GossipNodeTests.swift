import Foundation
import Testing

@testable import Gossip

/// Polls `condition` every 10 ms for at most `seconds`.
func eventually(within seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}

/// A config for a node named `name` among `members`, with short test timings.
func testConfig(_ keys: SigningKeyPair, endpoint: String, members: [Member], neighbours: [String], curve: Bool) -> MeshConfig {
    var c = MeshConfig(keys: keys, endpoint: endpoint, members: members, neighbours: neighbours)
    c.curve = curve
    c.heartbeatMilliseconds = 100
    c.livenessIntervals = 3
    c.reconnectMilliseconds = 50
    c.reconnectMaxMilliseconds = 500
    return c
}

/// Rejections other than `.replayed`, which honest meshes produce whenever an update
/// reaches a node by two paths.
func honestRejections(_ node: GossipNode) -> Int {
    node.counters().rejections.filter { $0.key != .replayed }.values.reduce(0, +)
}

@Suite struct GossipNodeTests {
    /// Two nodes in one process, one dialling the other, over `endpoint`.
    func exchange(endpoint: (String) -> String, curve: Bool, sharedContext: Bool) throws {
        let a = try SigningKeyPair(), b = try SigningKeyPair()
        let context = try ZMQContext(ioThreads: 2)
        let nodeA = try GossipNode(
            config: testConfig(
                a, endpoint: endpoint("a"), members: [Member(name: "a", publicKey: a.publicKey), Member(name: "b", publicKey: b.publicKey)],
                neighbours: ["b"], curve: curve),
            context: sharedContext ? context : nil)
        defer { nodeA.stop() }
        let nodeB = try GossipNode(
            config: testConfig(
                b, endpoint: endpoint("b"),
                members: [Member(name: "a", publicKey: a.publicKey, endpoint: nodeA.endpoint), Member(name: "b", publicKey: b.publicKey)],
                neighbours: ["a"], curve: curve),
            context: sharedContext ? context : nil)
        defer { nodeB.stop() }
        #expect(nodeA.waitForPeers(["b"], state: .alive, timeoutSeconds: 10))
        let pa = [UInt8](repeating: 0xa1, count: 100_000), pb = [UInt8](repeating: 0xb2, count: 50)
        try nodeA.publish(round: 1, payload: pa)
        try nodeB.publish(round: 1, payload: pb)
        let atB = nodeB.waitForUpdates(round: 1, from: [a.publicKey], timeoutSeconds: 10)
        let atA = nodeA.waitForUpdates(round: 1, from: [b.publicKey], timeoutSeconds: 10)
        let aArrived = atB[a.publicKey]?.payload.bytes == pa  // compared outside #expect: 100 kB
        #expect(aArrived, "A's payload at B")
        #expect(atA[b.publicKey]?.payload.bytes == pb, "B's payload at A")
        #expect(nodeA.latestUpdate(from: a.publicKey)?.round == 1)
        // A SYNC answer may repeat an update that is already on its way: counted as replayed.
        #expect(honestRejections(nodeA) == 0 && honestRejections(nodeB) == 0)
        #expect(nodeA.counters().peers["b"]?.messagesIn ?? 0 > 0)
    }

    @Test func twoNodesExchangeOverTCPWithCurve() throws {
        try exchange(endpoint: { _ in "tcp://127.0.0.1:*" }, curve: true, sharedContext: false)
    }

    @Test func twoNodesExchangeOverIPC() throws {
        try exchange(endpoint: { _ in temporaryIPCEndpoint() }, curve: false, sharedContext: false)
    }

    @Test func twoNodesSharingAContextExchangeOverInprocWithCurve() throws {
        let tag = UUID().uuidString
        try exchange(endpoint: { "inproc://mesh-\(tag)-\($0)" }, curve: true, sharedContext: true)
    }

    /// One context, one ZAP handler, three nodes over tcp with CURVE: each node's domain
    /// admits its own members only.
    @Test func nodesSharingAContextEachAdmitOnlyTheirOwnMembers() throws {
        let a = try SigningKeyPair(), b = try SigningKeyPair(), c = try SigningKeyPair()
        let context = try ZMQContext(ioThreads: 2)
        let ma = Member(name: "a", publicKey: a.publicKey), mb = Member(name: "b", publicKey: b.publicKey)
        let mc = Member(name: "c", publicKey: c.publicKey)
        let nodeA = try GossipNode(config: testConfig(a, endpoint: "tcp://127.0.0.1:*", members: [ma, mb], neighbours: [], curve: true), context: context)
        defer { nodeA.stop() }
        let nodeB = try GossipNode(config: testConfig(b, endpoint: "tcp://127.0.0.1:*", members: [ma, mb, mc], neighbours: [], curve: true), context: context)
        defer { nodeB.stop() }
        var toA = ma, toB = mb
        toA.endpoint = nodeA.endpoint
        toB.endpoint = nodeB.endpoint
        let nodeC = try GossipNode(config: testConfig(c, endpoint: "tcp://127.0.0.1:*", members: [toA, toB, mc], neighbours: ["a", "b"], curve: true), context: context)
        defer { nodeC.stop() }
        try nodeC.publish(round: 1, payload: [7])
        #expect(nodeB.waitForUpdates(round: 1, from: [c.publicKey], timeoutSeconds: 10)[c.publicKey]?.payload.bytes == [7])
        #expect(eventually(within: 10) { nodeA.counters().admissionsRefused > 0 })
        #expect(nodeA.latestUpdates().isEmpty)
        #expect(nodeB.counters().admissionsRefused == 0)
        #expect(nodeC.peers().first { $0.name == "a" }?.state != .alive)
    }

    /// B restarts elsewhere: its HELLO moves A's DEALER to the new endpoint, and its SYNC
    /// brings it the update A published while it was away.
    @Test func aPeerBackOnANewEndpointIsDialledThereAndSynced() throws {
        let a = try SigningKeyPair(), b = try SigningKeyPair()
        let members = [Member(name: "a", publicKey: a.publicKey), Member(name: "b", publicKey: b.publicKey)]
        let nodeA = try GossipNode(config: testConfig(a, endpoint: "tcp://127.0.0.1:*", members: members, neighbours: [], curve: true))
        defer { nodeA.stop() }
        var bMembers = members
        bMembers[0].endpoint = nodeA.endpoint
        let first = try GossipNode(config: testConfig(b, endpoint: "tcp://127.0.0.1:*", members: bMembers, neighbours: ["a"], curve: true))
        #expect(nodeA.waitForPeers(["b"], state: .alive, timeoutSeconds: 10))
        first.stop()
        #expect(nodeA.waitForPeers(["b"], state: .gone, timeoutSeconds: 10))
        try nodeA.publish(round: 7, payload: Array("while b was away".utf8))
        let second = try GossipNode(config: testConfig(b, endpoint: "tcp://127.0.0.1:*", members: bMembers, neighbours: ["a"], curve: true))
        defer { second.stop() }
        #expect(second.endpoint != first.endpoint)
        #expect(nodeA.waitForPeers(["b"], state: .alive, timeoutSeconds: 10))
        #expect(eventually(within: 10) { nodeA.peers().first?.endpoint == second.endpoint })
        let got = second.waitForUpdates(round: 7, from: [a.publicKey], timeoutSeconds: 10)
        #expect(got[a.publicKey]?.payload.bytes == Array("while b was away".utf8))
    }

    @Test func newerUpdatesReplaceOlderOnes() throws {
        let a = try SigningKeyPair(), b = try SigningKeyPair()
        let members = [Member(name: "a", publicKey: a.publicKey), Member(name: "b", publicKey: b.publicKey)]
        let nodeA = try GossipNode(config: testConfig(a, endpoint: "tcp://127.0.0.1:*", members: members, neighbours: [], curve: false))
        defer { nodeA.stop() }
        var bMembers = members
        bMembers[0].endpoint = nodeA.endpoint
        let nodeB = try GossipNode(config: testConfig(b, endpoint: "tcp://127.0.0.1:*", members: bMembers, neighbours: ["a"], curve: false))
        defer { nodeB.stop() }
        #expect(nodeA.waitForPeers(["b"], state: .alive, timeoutSeconds: 10))
        for r in 1...3 as ClosedRange<UInt64> { try nodeB.publish(round: r, payload: [UInt8(r)]) }
        #expect(nodeA.waitForUpdates(round: 3, from: [b.publicKey], timeoutSeconds: 10)[b.publicKey]?.payload.bytes == [3])
        #expect(nodeA.latestUpdates().count == 1)
    }

    @Test func stopIsCleanAndRefusesLaterPublishes() throws {
        let a = try SigningKeyPair()
        let node = try GossipNode(
            config: testConfig(a, endpoint: "tcp://127.0.0.1:*", members: [Member(name: "a", publicKey: a.publicKey)], neighbours: [], curve: true))
        node.stop()
        node.stop()
        #expect(throws: GossipError.stopped) { try node.publish(round: 1, payload: [1]) }
    }

    @Test func publishingAboveTheMaximumPayloadIsRefused() throws {
        let a = try SigningKeyPair()
        var config = testConfig(a, endpoint: "tcp://127.0.0.1:*", members: [Member(name: "a", publicKey: a.publicKey)], neighbours: [], curve: false)
        config.maxPayloadBytes = 1000
        let node = try GossipNode(config: config)
        defer { node.stop() }
        #expect(throws: GossipError.payloadTooLarge(bytes: 1001, limit: 1000)) { try node.publish(round: 1, payload: [UInt8](repeating: 0, count: 1001)) }
        #expect(node.latestUpdates().isEmpty)
    }

    /// A payload of exactly the maximum reaches the other node, with CURVE (whose
    /// framing adds bytes to every message on the wire) and without.
    @Test(arguments: [false, true]) func aPayloadOfTheMaximumArrives(curve: Bool) throws {
        let a = try SigningKeyPair(), b = try SigningKeyPair()
        var ma = Member(name: "a", publicKey: a.publicKey)
        let mb = Member(name: "b", publicKey: b.publicKey)
        var configA = testConfig(a, endpoint: "tcp://127.0.0.1:*", members: [ma, mb], neighbours: [], curve: curve)
        configA.maxPayloadBytes = 4096
        let nodeA = try GossipNode(config: configA)
        defer { nodeA.stop() }
        ma.endpoint = nodeA.endpoint
        var configB = testConfig(b, endpoint: "tcp://127.0.0.1:*", members: [ma, mb], neighbours: ["a"], curve: curve)
        configB.maxPayloadBytes = 4096
        let nodeB = try GossipNode(config: configB)
        defer { nodeB.stop() }
        #expect(nodeB.waitForPeers(["a"], state: .alive, timeoutSeconds: 10))
        let payload = [UInt8](repeating: 0x4D, count: 4096)
        try nodeB.publish(round: 1, payload: payload)
        #expect(nodeA.waitForUpdates(round: 1, from: [b.publicKey], timeoutSeconds: 10)[b.publicKey]?.payload.bytes == payload)
    }

    @Test func aNeighbourThatIsNotAMemberIsAConfigError() throws {
        let a = try SigningKeyPair()
        #expect(throws: GossipError.invalidConfig("neighbour zed is not a member")) {
            _ = try GossipNode(
                config: testConfig(a, endpoint: "tcp://127.0.0.1:*", members: [Member(name: "a", publicKey: a.publicKey)], neighbours: ["zed"], curve: false))
        }
    }
}
