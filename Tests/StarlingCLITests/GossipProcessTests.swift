import Foundation
import Gossip
import Testing

@testable import starling

/// Nodes of a mesh, each a `starling gossip-peer` process on 127.0.0.1. Every child is
/// killed by pid when the cluster is torn down.
final class ProcessCluster {
    let dir: URL
    var keys: [String: SigningKeyPair] = [:]
    var endpoints: [String: String] = [:]
    var children: [String: ChildProcess] = [:]
    var heartbeatMilliseconds = 200
    var livenessIntervals = 3
    var ttl: UInt8 = 3

    init(names: [String]) throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("starling-mesh-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for n in names { try addKey(n) }
    }

    func addKey(_ name: String) throws {
        let k = try SigningKeyPair()
        try k.save(to: dir.appendingPathComponent("\(name).key").path)
        keys[name] = k
    }

    func tearDown() {
        for c in children.values { c.kill() }
        children.removeAll()
        try? FileManager.default.removeItem(at: dir)
    }

    /// Starts `name` knowing `members` (with the endpoints learnt so far) and dialling
    /// `neighbours`; waits for it to listen and records its endpoint.
    @discardableResult
    func start(_ name: String, members: [String], neighbours: [String], endpoint: String = "tcp://127.0.0.1:*") throws -> ChildProcess {
        let config = GossipPeerConfig(
            keyFile: dir.appendingPathComponent("\(name).key").path, endpoint: endpoint,
            members: members.map { Member(name: $0, publicKey: keys[$0]!.publicKey, endpoint: $0 == name ? nil : endpoints[$0]) },
            neighbours: neighbours, heartbeatMilliseconds: heartbeatMilliseconds, livenessIntervals: livenessIntervals,
            ttl: ttl, curve: true, reconnectMilliseconds: 50, reconnectMaxMilliseconds: 400)
        let file = dir.appendingPathComponent("\(name).json")
        try JSONEncoder().encode(config).write(to: file)
        let child = try ChildProcess(
            executable: starlingExecutable(), arguments: ["gossip-peer", "--config", file.path, "--log-level", "warning"],
            stderrPath: dir.appendingPathComponent("\(name).err").path)
        children[name] = child
        guard let listening = child.waitForObject(event: "listening", timeoutSeconds: 20), let ep = listening["endpoint"] as? String else {
            throw ClusterError("\(name) did not start")
        }
        endpoints[name] = ep
        return child
    }

    /// Waits until `name` reports each of `peers` in `state` (its latest report for each).
    func waitForPeers(_ name: String, _ peers: [String], _ state: String, timeoutSeconds: Double = 20) -> Bool {
        children[name]!.wait(timeoutSeconds: timeoutSeconds) { objects in
            let latest = Self.latestPeerStates(objects)
            return peers.allSatisfy { latest[$0] == state }
        }
    }

    func latestPeerStates(_ name: String) -> [String: String] { Self.latestPeerStates(children[name]!.objects) }

    static func latestPeerStates(_ objects: [[String: Any]]) -> [String: String] {
        var latest: [String: String] = [:]
        for o in objects where o["event"] as? String == "peer" {
            latest[o["peer"] as! String] = o["state"] as? String
        }
        return latest
    }

    /// The updates `name` reported accepting, as (origin, round) with their digests.
    func updates(at name: String) -> [(origin: String, round: UInt64, digest: String)] {
        Self.updates(children[name]!.objects)
    }

    static func updates(_ objects: [[String: Any]]) -> [(origin: String, round: UInt64, digest: String)] {
        objects.compactMap { o in
            guard o["event"] as? String == "update", let origin = o["origin"] as? String,
                let round = (o["round"] as? NSNumber)?.uint64Value, let digest = o["digest"] as? String
            else { return nil }
            return (origin, round, digest)
        }
    }

    /// Waits until `name` has accepted round `round` from each of `origins`.
    func waitForUpdates(at name: String, round: UInt64, from origins: [String], timeoutSeconds: Double = 20) -> Bool {
        children[name]!.wait(timeoutSeconds: timeoutSeconds) { objects in
            let got = Set(Self.updates(objects).filter { $0.round == round }.map(\.origin))
            return origins.allSatisfy { got.contains($0) }
        }
    }

    /// The digest of the payload `name` publishes for `round` with `bytes` bytes.
    func expectedDigest(_ name: String, round: UInt64, bytes: Int) throws -> String {
        Hex.encode(try BLAKE2b.hash(harnessPayload(name: name, round: round, byteCount: bytes)))
    }

    func publish(_ name: String, round: UInt64, bytes: Int) -> Bool {
        children[name]!.send("publish \(round) \(bytes)")
        return children[name]!.waitForObject(event: "published", timeoutSeconds: 20) { ($0["round"] as? NSNumber)?.uint64Value == round } != nil
    }

    func counters(_ name: String) -> [String: Any]? {
        let before = children[name]!.objects.filter { $0["event"] as? String == "counters" }.count
        children[name]!.send("counters")
        guard children[name]!.wait(timeoutSeconds: 10, until: { objects in
            objects.filter { $0["event"] as? String == "counters" }.count > before
        }) else { return nil }
        return children[name]!.objects.last { $0["event"] as? String == "counters" }
    }
}

struct ClusterError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

@Suite(.serialized) struct GossipProcessTests {
    @Test func threeNodesExchangeUpdatesBothWays() throws {
        let names = ["a", "b", "c"]
        let cluster = try ProcessCluster(names: names)
        defer { cluster.tearDown() }
        try cluster.start("a", members: names, neighbours: ["b", "c"])
        try cluster.start("b", members: names, neighbours: ["a", "c"])
        try cluster.start("c", members: names, neighbours: ["a", "b"])
        for n in names { #expect(cluster.waitForPeers(n, names.filter { $0 != n }, "alive"), "\(n) sees its peers") }
        for n in names { #expect(cluster.publish(n, round: 1, bytes: 200_000)) }
        for n in names {
            let others = names.filter { $0 != n }
            #expect(cluster.waitForUpdates(at: n, round: 1, from: others), "\(n) got every update")
            for o in others {
                let got = cluster.updates(at: n).filter { $0.origin == o && $0.round == 1 }
                let expected = try cluster.expectedDigest(o, round: 1, bytes: 200_000)
                #expect(got.count == 1 && got.first?.digest == expected)
            }
        }
    }

    @Test func ringOfSixWithTTL3DeliversEveryUpdateToEveryNodeOnce() throws {
        let names = (0..<6).map { "n\($0)" }
        let cluster = try ProcessCluster(names: names)
        defer { cluster.tearDown() }
        cluster.ttl = 3
        // Each node dials the one before it; the HELLO gives the dialled node the way back.
        for (i, n) in names.enumerated() {
            let left = names[(i + 5) % 6], right = names[(i + 1) % 6]
            try cluster.start(n, members: names, neighbours: [left, right])
        }
        for (i, n) in names.enumerated() {
            #expect(cluster.waitForPeers(n, [names[(i + 5) % 6], names[(i + 1) % 6]], "alive"), "\(n) sees its ring neighbours")
        }
        for n in names { #expect(cluster.publish(n, round: 1, bytes: 10_000)) }
        for n in names {
            let others = names.filter { $0 != n }
            #expect(cluster.waitForUpdates(at: n, round: 1, from: others), "\(n) got every update")
        }
        // Let duplicates travelling the other way round the ring arrive, then count.
        usleep(500_000)
        for n in names {
            let got = cluster.updates(at: n)
            for o in names where o != n {
                let fromO = got.filter { $0.origin == o }
                #expect(fromO.count == 1, "\(n) holds \(o)'s update once, got \(fromO.count)")
                let expected = try cluster.expectedDigest(o, round: 1, bytes: 10_000)
                #expect(fromO.first?.digest == expected)
            }
            #expect(!got.contains { $0.origin == n }, "\(n) never accepts its own update back")
        }
    }

    @Test func aProcessOutsideTheMemberListGetsNothingThrough() throws {
        let names = ["a", "b"]
        let cluster = try ProcessCluster(names: names)
        defer { cluster.tearDown() }
        try cluster.addKey("eve")
        try cluster.start("a", members: names, neighbours: ["b"])
        try cluster.start("b", members: names, neighbours: ["a"])
        // Eve lists a and b and dials both, but neither lists her.
        try cluster.start("eve", members: ["a", "b", "eve"], neighbours: ["a", "b"])
        #expect(cluster.waitForPeers("a", ["b"], "alive"))
        #expect(cluster.publish("eve", round: 1, bytes: 1000))
        #expect(cluster.publish("b", round: 1, bytes: 1000))
        #expect(cluster.waitForUpdates(at: "a", round: 1, from: ["b"]))
        // Give Eve's DEALERs several reconnection attempts.
        usleep(1_500_000)
        #expect(!cluster.updates(at: "a").contains { $0.origin != "b" }, "a accepted only b's update")
        #expect(!cluster.updates(at: "b").contains { _ in true }, "b accepted nothing")
        for n in names {
            let c = try #require(cluster.counters(n))
            #expect((c["admissionsRefused"] as? Int ?? 0) > 0, "\(n) refused Eve at the transport")
            // Nothing of hers reached the node, so nothing was even rejected there.
            let rejections = c["rejections"] as? [String: Int] ?? [:]
            #expect(rejections.filter { $0.key != "replayed" }.values.reduce(0, +) == 0)
        }
        #expect(cluster.latestPeerStates("eve").values.allSatisfy { $0 != "alive" }, "Eve never heard back")
    }

    @Test func aKilledNodeIsGoneWithinLivenessAndCatchesUpWhenRestarted() throws {
        let names = ["a", "b", "c"]
        let cluster = try ProcessCluster(names: names)
        defer { cluster.tearDown() }
        cluster.heartbeatMilliseconds = 100
        cluster.livenessIntervals = 3
        try cluster.start("a", members: names, neighbours: ["b", "c"])
        try cluster.start("b", members: names, neighbours: ["a", "c"])
        try cluster.start("c", members: names, neighbours: ["a", "b"])
        for n in names { #expect(cluster.waitForPeers(n, names.filter { $0 != n }, "alive")) }
        #expect(cluster.publish("a", round: 1, bytes: 5000))
        #expect(cluster.waitForUpdates(at: "c", round: 1, from: ["a"]))

        let cEndpoint = cluster.endpoints["c"]!
        let killedAt = Date().timeIntervalSince1970
        cluster.children["c"]!.kill()
        for n in ["a", "b"] {
            #expect(cluster.waitForPeers(n, ["c"], "gone", timeoutSeconds: 10))
            let goneAt = cluster.children[n]!.objects.last {
                $0["event"] as? String == "peer" && $0["peer"] as? String == "c" && $0["state"] as? String == "gone"
            }?["time"] as? Double ?? .infinity
            // Gone once c has been silent for 3 × 100 ms: at most 300 ms after the kill, plus a
            // 25 ms heartbeat tick and whatever a loaded machine adds.
            let delay = goneAt - killedAt
            #expect(delay > 0 && delay < 0.8, "\(n) marked c gone \(delay) s after the kill")
        }

        #expect(cluster.publish("a", round: 2, bytes: 5000))
        #expect(cluster.publish("b", round: 2, bytes: 5000))
        #expect(cluster.waitForUpdates(at: "a", round: 2, from: ["b"]))
        try cluster.start("c", members: names, neighbours: ["a", "b"], endpoint: cEndpoint)
        #expect(cluster.waitForPeers("a", ["c"], "alive"))
        #expect(cluster.waitForPeers("b", ["c"], "alive"))
        #expect(cluster.waitForUpdates(at: "c", round: 2, from: ["a", "b"]), "c received what it missed")
        for o in ["a", "b"] {
            let got = cluster.updates(at: "c").filter { $0.origin == o && $0.round == 2 }
            let expected = try cluster.expectedDigest(o, round: 2, bytes: 5000)
            #expect(got.first?.digest == expected)
        }
    }
}
