// `starling gossip-peer`: one gossip mesh node driven through standard input and
// reporting on standard output as JSON lines. A harness for process tests and for the
// second process of `starling bench gossip`; hidden from --help.

import ArgumentParser
import Foundation
import Gossip
import Logging

/// The JSON file `gossip-peer --config` reads.
struct GossipPeerConfig: Codable {
    /// Path of the node's secret key file (as `starling keygen` writes it).
    var keyFile: String
    var endpoint: String
    var members: [Member]
    var neighbours: [String]
    var heartbeatMilliseconds: Int?
    var livenessIntervals: Int?
    var ttl: UInt8?
    var curve: Bool?
    var maxPayloadBytes: Int?
    var reconnectMilliseconds: Int?
    var reconnectMaxMilliseconds: Int?

    func meshConfig() throws -> MeshConfig {
        var c = MeshConfig(keys: try SigningKeyPair.load(from: keyFile), endpoint: endpoint, members: members, neighbours: neighbours)
        if let v = heartbeatMilliseconds { c.heartbeatMilliseconds = v }
        if let v = livenessIntervals { c.livenessIntervals = v }
        if let v = ttl { c.ttl = v }
        if let v = curve { c.curve = v }
        if let v = maxPayloadBytes { c.maxPayloadBytes = v }
        if let v = reconnectMilliseconds { c.reconnectMilliseconds = v }
        if let v = reconnectMaxMilliseconds { c.reconnectMaxMilliseconds = v }
        return c
    }
}

/// The payload `publish ROUND BYTES` sends: "NAME:ROUND;" repeated to BYTES bytes, so a
/// receiver can recompute it and check it arrived intact.
func harnessPayload(name: String, round: UInt64, byteCount: Int) -> [UInt8] {
    let unit = Array("\(name):\(round);".utf8)
    return (0..<byteCount).map { unit[$0 % unit.count] }
}

/// Standard output shared by the mesh thread and the command loop: one JSON object per line.
final class JSONLines: @unchecked Sendable {
    private let lock = NSLock()

    func emit(_ object: [String: Any]) {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
        lock.lock()
        defer { lock.unlock() }
        FileHandle.standardOutput.write(data + Data("\n".utf8))
    }
}

/// `starling gossip-peer --config FILE`: runs one mesh node until standard input closes.
///
/// Commands on standard input, one per line:
/// `publish ROUND BYTES` · `counters` · `quit`.
struct GossipPeer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gossip-peer",
        abstract: "Run one gossip node driven by standard input (test and benchmark harness).",
        discussion: """
            Reads commands from standard input (publish ROUND BYTES, counters, quit) and
            prints JSON lines: listening, update, peer, published, counters.

            Example:
              $ starling gossip-peer --config peer.json
              {"endpoint":"tcp://127.0.0.1:40123","event":"listening",...}
            """,
        shouldDisplay: false
    )

    @Option(name: .long, help: "JSON configuration file of the node.")
    var config: String

    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.bootstrapLogging()
        let file: GossipPeerConfig
        do {
            file = try JSONDecoder().decode(GossipPeerConfig.self, from: Data(contentsOf: URL(fileURLWithPath: config)))
        } catch {
            throw UserError("cannot read \(config): \(error)")
        }
        let mesh = try file.meshConfig()
        let names = Dictionary(mesh.members.map { ($0.publicKey, $0.name) }, uniquingKeysWith: { a, _ in a })
        let myName = names[mesh.keys.publicKey] ?? mesh.keys.publicKey.shortDescription
        let out = JSONLines()
        let node = try GossipNode(config: mesh) { event in
            switch event {
            case .update(let u, let via):
                out.emit([
                    "event": "update", "origin": names[u.origin] ?? u.origin.description, "round": u.round,
                    "sequence": u.sequence, "bytes": u.payload.count, "digest": Hex.encode(u.digest), "via": via ?? "?",
                ])
            case .peer(let name, let state):
                out.emit(["event": "peer", "peer": name, "state": state.rawValue, "time": Date().timeIntervalSince1970])
            }
        }
        defer { node.stop() }
        out.emit(["event": "listening", "endpoint": node.endpoint, "publicKey": mesh.keys.publicKey.description, "name": myName])
        while let line = readLine() {
            let words = line.split(separator: " ")
            switch words.first {
            case "publish":
                guard words.count == 3, let round = UInt64(words[1]), let bytes = Int(words[2]) else {
                    throw UserError("usage: publish ROUND BYTES")
                }
                let u = try node.publish(round: round, payload: harnessPayload(name: myName, round: round, byteCount: bytes))
                out.emit(["event": "published", "round": round, "sequence": u.sequence, "digest": Hex.encode(u.digest)])
            case "counters":
                out.emit(counterReport(node.counters()))
            case "quit":
                return
            default:
                continue
            }
        }
    }

    private func counterReport(_ c: MeshCounters) -> [String: Any] {
        var rejections: [String: Int] = [:]
        for (reason, n) in c.rejections { rejections[reason.rawValue] = n }
        var peers: [String: Any] = [:]
        for (name, p) in c.peers {
            peers[name] = ["messagesIn": p.messagesIn, "bytesIn": p.bytesIn, "messagesOut": p.messagesOut, "bytesOut": p.bytesOut, "dropped": p.dropped]
        }
        return [
            "event": "counters", "rejections": rejections, "peers": peers, "admissionsRefused": c.admissionsRefused,
            "updatesAccepted": c.updatesAccepted, "updatesRelayed": c.updatesRelayed,
        ]
    }
}
