import Foundation
import Gossip
import Testing

@testable import Node

/// How long a round waits for neighbours that will not deliver: bounded by the liveness
/// window for one that never starts, and by `staleness_rounds` full waits for one that
/// is alive but never publishes; one that publishes but is rounds behind is waited for.
@Suite(.serialized) struct WaitingTests {
    static func topology(_ name: String, timeoutMilliseconds: Int) throws -> Topology {
        try preparedTopology("""
            name = "\(name)"
            sources = ["code"]
            [defaults]
            trust = "fedavg"
            rounds = 6
            warmup_rounds = 1
            local_steps = 2
            batch_size = 2
            sequence_length = 16
            round_timeout_ms = \(timeoutMilliseconds)
            staleness_rounds = 2
            heartbeat_ms = 50
            liveness = 4
            curve = false
            [[nodes]]
            name = "alice"
            endpoint = "tcp://127.0.0.1:\(try freePort())"
            [[nodes]]
            name = "bob"
            endpoint = "tcp://127.0.0.1:\(try freePort())"
            """, bytesPerNode: 4000)
    }

    /// bob as a mesh alone, with bob's key and endpoint: it answers heartbeats, and
    /// publishes only what the test makes it publish.
    static func bareBob(_ t: Topology, context: ZMQContext) throws -> GossipNode {
        let keys = try NodeRuntime.memberKeys(t)
        var config = MeshConfig(
            keys: try SigningKeyPair.load(from: StateDirectory(path: t.stateDirectory(of: 1)).keyPath), endpoint: t.nodes[1].endpoint,
            members: t.nodes.enumerated().map { Member(name: $1.name, publicKey: keys[$0], endpoint: $1.endpoint) }, neighbours: ["alice"])
        config.curve = false
        config.heartbeatMilliseconds = 50
        config.livenessIntervals = 4
        return try GossipNode(config: config, context: context)
    }

    @Test func aNeighbourThatNeverStartsCostsARoundAtMostTheLivenessWindow() throws {
        let t = try Self.topology("never", timeoutMilliseconds: 4000)
        defer { try? FileManager.default.removeItem(atPath: t.baseDirectory) }
        let runtime = try NodeRuntime(topology: t, index: 0, context: try ZMQContext())
        #expect(try runtime.run(stop: StopRequest()) == .finished(round: 6))
        let waits = try StateDirectory(path: t.stateDirectory(of: 0)).metrics().filter(\.aggregated).map(\.waitingSeconds)
        #expect(waits.count == 5)
        // The window is 4 × 50 ms, counted from the node's start; a little slack for a loaded machine.
        #expect(waits.allSatisfy { $0 < 0.2 + 0.5 }, "\(waits)")
    }

    @Test func aMemberThatNeverPublishesCostsAtMostStalenessRoundsFullWaits() throws {
        let t = try Self.topology("silent", timeoutMilliseconds: 1500)
        defer { try? FileManager.default.removeItem(atPath: t.baseDirectory) }
        let context = try ZMQContext()
        // bob is alive (his mesh answers heartbeats) but never publishes an update.
        let bob = try Self.bareBob(t, context: context)
        defer { bob.stop() }
        let runtime = try NodeRuntime(topology: t, index: 0, context: context)
        #expect(try runtime.run(stop: StopRequest()) == .finished(round: 6))
        let waits = try StateDirectory(path: t.stateDirectory(of: 0)).metrics().filter(\.aggregated).map(\.waitingSeconds)
        #expect(waits.count == 5)
        let full = waits.filter { $0 >= 1.4 }.count
        #expect(full <= 2, "\(waits)")
        #expect(waits.dropFirst(2).allSatisfy { $0 < 0.5 }, "after staleness_rounds rounds bob is not waited for: \(waits)")
    }

    @Test func aMemberThatPublishesButIsRoundsBehindIsWaitedFor() throws {
        let t = try Self.topology("behind", timeoutMilliseconds: 1000)
        defer { try? FileManager.default.removeItem(atPath: t.baseDirectory) }
        let context = try ZMQContext()
        // bob publishes a readable update each time alice starts a round, always three
        // rounds behind hers: more than staleness_rounds (2), so never a candidate, but new.
        let payload = try NodeRuntime(topology: t, index: 1, context: context).nodeModel.payload()
        let bob = try Self.bareBob(t, context: context)
        defer { bob.stop() }
        let runtime = try NodeRuntime(topology: t, index: 0, context: context)
        let done = StopRequest()
        let publisher = Thread {
            var published = 0
            let until = Date().addingTimeInterval(120)
            while !done.isRequested && Date() < until {
                let round = runtime.currentStatus().round
                if round - 3 > published {
                    published = round - 3
                    _ = try? bob.publish(round: UInt64(published), payload: payload)
                }
                usleep(5_000)
            }
        }
        publisher.start()
        defer { done.request() }
        #expect(try runtime.run(stop: StopRequest()) == .finished(round: 6))
        let metrics = try StateDirectory(path: t.stateDirectory(of: 0)).metrics().filter(\.aggregated)
        #expect(metrics.count == 5)
        // Rounds 5 and 6: bob published rounds 2 and 3 as alice began them, so she waits
        // the whole timeout for his update of her round, and has no candidate from him.
        let late = metrics.filter { $0.round >= 5 }
        #expect(late.count == 2 && late.allSatisfy { $0.waitingSeconds >= 0.9 }, "\(metrics.map { ($0.round, $0.waitingSeconds) })")
        #expect(late.allSatisfy { $0.candidates == 0 }, "\(late.map(\.candidates))")
    }
}
