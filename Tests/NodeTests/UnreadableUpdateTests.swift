import Foundation
import Gossip
import Learning
import Schemes
import Testing
import Trust

@testable import Node

/// A member that signs its updates properly but whose payloads are no adapter of the
/// node's published slot: every one is refused at receipt, counted, and recorded in the
/// node's trust rows as an exclusion with its reason.
@Suite(.serialized) struct UnreadableUpdateTests {
    /// The payloads a careless or hostile member might send, each signed correctly.
    static func badPayloads(_ expected: PayloadExpectation) throws -> [(name: String, bytes: [UInt8])] {
        let good = expected.layout
        let metadata = UpdatePayload.metadata(scheme: expected.scheme, slot: expected.slot, baseDigest: expected.baseDigest, adapter: good)
        func file(_ tensors: [NamedTensor], _ meta: [String: String] = metadata) throws -> [UInt8] {
            try SafeTensors.encode(tensors.map { NamedTensor(name: PEFTAdapter.peftName($0.name), shape: $0.shape, values: $0.values) }, metadata: meta)
        }
        var transposed = good.tensors
        transposed[0] = NamedTensor(name: transposed[0].name, shape: transposed[0].shape.reversed(), values: transposed[0].values)
        let valid = try file(good.tensors)
        func header(_ json: String, data: Int = 0) -> [UInt8] {
            let h = Array(json.utf8)
            return withUnsafeBytes(of: UInt64(h.count).littleEndian, Array.init) + h + [UInt8](repeating: 0, count: data)
        }
        var random = SeededGenerator(seed: 77)
        return [
            ("transposed shapes", try file(transposed)),
            ("a missing tensor", try file(Array(good.tensors.dropLast()))),
            ("an extra tensor", try file(good.tensors + [NamedTensor(name: "h.9.attn.c_attn.lora_A", shape: [1], values: [0])])),
            ("a bad JSON header", header("{not json")),
            ("a header length of 2^63", withUnsafeBytes(of: (UInt64(1) << 63).littleEndian, Array.init) + Array(valid.dropFirst(8))),
            ("a 2^31 × 2^31 shape", header(#"{"x":{"dtype":"F32","shape":[2147483648,2147483648],"data_offsets":[0,4]}}"#, data: 4)),
            ("offsets past the end", header(#"{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, data: 4)),
            ("empty", []),
            ("random bytes", (0..<512).map { _ in UInt8(truncatingIfNeeded: random.next()) }),
            ("another slot", try file(good.tensors, metadata.merging(["starling.slot": "personal"]) { $1 })),
            ("another base", try file(good.tensors, metadata.merging(["starling.base": "0123456789abcdef"]) { $1 })),
        ]
    }

    @Test func everyUnreadablePayloadIsRefusedCountedAndRecorded() throws {
        let t = try preparedTopology("""
            name = "unreadable"
            sources = ["prose"]
            [defaults]
            trust = "fedavg"
            rounds = 40
            warmup_rounds = 1
            local_steps = 2
            batch_size = 2
            sequence_length = 16
            round_timeout_ms = 300
            heartbeat_ms = 50
            curve = false
            [[nodes]]
            name = "alice"
            endpoint = "inproc://unused-alice"
            [[nodes]]
            name = "mallory"
            endpoint = "inproc://unused-mallory"
            [edges]
            shape = "full"
            """, bytesPerNode: 4000)
        defer { try? FileManager.default.removeItem(atPath: t.baseDirectory) }
        let context = try ZMQContext(ioThreads: 1)
        let endpoints = t.nodes.map { "inproc://unreadable-\(UUID())/\($0.name)" }
        let alice = try NodeRuntime(topology: t, index: 0, context: context, endpoints: endpoints)
        let keys = try NodeRuntime.memberKeys(t)
        let malloryKeys = try SigningKeyPair.load(from: StateDirectory(path: t.stateDirectory(of: 1)).keyPath)
        var config = MeshConfig(
            keys: malloryKeys, endpoint: endpoints[1],
            members: [Member(name: "alice", publicKey: keys[0], endpoint: endpoints[0]), Member(name: "mallory", publicKey: keys[1], endpoint: endpoints[1])],
            neighbours: ["alice"])
        config.curve = false
        config.heartbeatMilliseconds = 50
        let mallory = try GossipNode(config: config, context: context)
        defer { mallory.stop() }

        let stop = StopRequest()
        let done = DispatchSemaphore(value: 0)
        Thread {
            _ = try? alice.run(stop: stop)
            done.signal()
        }.start()
        defer {
            stop.request()
            _ = done.wait(timeout: .now() + 30)
        }
        #expect(mallory.waitForPeers(["alice"], state: .alive, timeoutSeconds: 30))
        let payloads = try Self.badPayloads(try alice.nodeModel.expectation())
        for (k, payload) in payloads.enumerated() {
            _ = try mallory.publish(round: UInt64(k + 1), payload: payload.bytes)
            #expect(eventuallyTrue(within: 20) { (alice.currentStatus().rejections["unreadablePayload"] ?? 0) == UInt64(k + 1) },
                    "\(payload.name) was not refused")
        }
        // Nothing of mallory's was kept as an update, and the rows that followed record why.
        #expect(eventuallyTrue(within: 30) {
            let history = (try? StateDirectory(path: t.stateDirectory(of: 0)).trustHistory()) ?? []
            return history.contains { $0.exclusions.contains { $0.candidate == keys[1].description && $0.reason == .otherBase } }
        })
        let history = try StateDirectory(path: t.stateDirectory(of: 0)).trustHistory()
        #expect(history.allSatisfy { $0.candidates == [keys[0].description] }, "mallory was never a candidate")
        #expect(Set(history.flatMap(\.exclusions).map(\.reason)).isSubset(of: [.unreadablePayload, .otherAdapter, .otherBase, .layoutMismatch]))
    }
}

/// Polls `condition` every 20 ms until it holds or `seconds` pass.
func eventuallyTrue(within seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(20_000)
    }
    return condition()
}
