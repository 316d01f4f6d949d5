import Foundation
import Testing

@testable import Gossip

/// CHUNK messages: the mesh takes them from the one member its config names only.
@Suite struct ChunkPublisherTests {
    /// A publishes, B and C receive; C's own CHUNK is refused at B as `notPublisher`,
    /// counted, and never handed over; a chunk that comes by two paths is taken once.
    @Test func onlyTheNamedPublishersChunksAreTaken() throws {
        let a = try SigningKeyPair(), b = try SigningKeyPair(), c = try SigningKeyPair()
        var ma = Member(name: "a", publicKey: a.publicKey), mb = Member(name: "b", publicKey: b.publicKey)
        let mc = Member(name: "c", publicKey: c.publicKey)
        func config(_ keys: SigningKeyPair, _ members: [Member], _ neighbours: [String]) -> MeshConfig {
            var config = testConfig(keys, endpoint: "tcp://127.0.0.1:*", members: members, neighbours: neighbours, curve: true)
            config.chunkPublisher = a.publicKey
            return config
        }
        let nodeA = try GossipNode(config: config(a, [ma, mb, mc], []))
        defer { nodeA.stop() }
        ma.endpoint = nodeA.endpoint
        let nodeB = try GossipNode(config: config(b, [ma, mb, mc], ["a"]))
        defer { nodeB.stop() }
        mb.endpoint = nodeB.endpoint
        let nodeC = try GossipNode(config: config(c, [ma, mb, mc], ["a", "b"]))
        defer { nodeC.stop() }
        #expect(nodeA.waitForPeers(["b", "c"], state: .alive, timeoutSeconds: 10))
        #expect(nodeB.waitForPeers(["a", "c"], state: .alive, timeoutSeconds: 10))

        let chunks: [[UInt8]] = [[1, 2, 3], [4, 5], [6]]
        for (k, chunk) in chunks.enumerated() { try nodeA.publishChunk(round: 1, payload: chunk, replacing: k == 0) }
        var atB: [[UInt8]] = [], atC: [[UInt8]] = []
        #expect(eventually(within: 10) {
            atB += nodeB.takeChunks()
            atC += nodeC.takeChunks()
            return atB.count >= 3 && atC.count >= 3
        })
        #expect(atB == chunks && atC == chunks)

        try nodeC.publishChunk(round: 1, payload: [0xBA, 0xD0], replacing: true)
        // C sends it to both of its neighbours; each counts it when it arrives.
        #expect(eventually(within: 10) {
            nodeB.counters().rejections[.notPublisher] == 1 && nodeA.counters().rejections[.notPublisher] == 1
        })
        #expect(nodeB.takeChunks() == [] && nodeA.takeChunks() == [])
        // A's chunks again, relayed by B to C and sent by A: each taken once.
        #expect(nodeC.takeChunks() == [])
        #expect(nodeC.counters().chunksAccepted == 3)
    }
}
