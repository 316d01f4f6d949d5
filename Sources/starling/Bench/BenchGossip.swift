// `starling bench gossip`: throughput of signed updates between two processes on
// 127.0.0.1, beside what raw ZeroMQ and BLAKE2b manage on the same machine in the same
// run, so the figures say how close the mesh comes to its transport and its hash.

import ArgumentParser
import Foundation
import Gossip

/// `starling bench gossip`: sign, send, receive and verify updates between two processes.
///
/// ```
/// $ starling bench gossip --updates 40
/// {"blake2b":{"megabytesPerSecond":...},"gossip":{...},"gossipCurve":{...},...}
/// ```
struct BenchGossip: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gossip",
        abstract: "Measure signed-update throughput between two processes, with and without CURVE.",
        discussion: """
            Runs a second `starling` process as the receiving node. Prints one JSON object:
            MB/s (10^6 bytes per second) and updates/s end to end (sign, send, receive,
            verify) with and without CURVE, raw ZeroMQ with the same frames, and BLAKE2b.

            Example:
              $ swift build -c release
              $ .build/release/starling bench gossip --updates 40
            """
    )

    @Option(name: .long, help: "Updates sent per measurement.")
    var updates = 40

    @Option(name: .long, help: "Payload size in bytes (default: a 2.36 MB adapter).")
    var payloadBytes = 2_360_000

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        try requireAtLeast(1, "--updates", updates)
        try requireAtLeast(1, "--payload-bytes", payloadBytes)
    }

    func run() throws {
        global.bootstrapLogging()
        let payload = (0..<payloadBytes).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("starling-bench-\(UUID())")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }

        var report: [String: Any] = ["payloadBytes": payloadBytes, "updates": updates]
        report["blake2b"] = try blake2b(payload)
        report["rawZeroMQ"] = try raw(payload, curve: false)
        report["rawZeroMQCurve"] = try raw(payload, curve: true)
        report["gossip"] = try gossip(payload, curve: false, work: work)
        report["gossipCurve"] = try gossip(payload, curve: true, work: work)
        // Each end hashes every byte once, so one core's BLAKE2b rate bounds the mesh.
        let hash = (report["blake2b"] as! [String: Any])["megabytesPerSecond"] as! Double
        for key in ["gossip", "gossipCurve"] {
            var f = report[key] as! [String: Any]
            f["fractionOfBlake2b"] = ((f["megabytesPerSecond"] as! Double) / hash * 100).rounded() / 100
            report[key] = f
        }
        let data = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys, .prettyPrinted])
        print(String(decoding: data, as: UTF8.self))
    }

    private func figures(bytes: Int, messages: Int, seconds: Double) -> [String: Any] {
        [
            "megabytesPerSecond": (Double(bytes) / 1e6 / seconds * 10).rounded() / 10,
            "updatesPerSecond": (Double(messages) / seconds * 10).rounded() / 10,
            "seconds": (seconds * 1000).rounded() / 1000, "messages": messages,
        ]
    }

    private func blake2b(_ payload: [UInt8]) throws -> [String: Any] {
        let rounds = max(updates, 10)
        let start = Date()
        for _ in 0..<rounds { _ = try BLAKE2b.hash(payload) }
        return figures(bytes: payload.count * rounds, messages: rounds, seconds: Date().timeIntervalSince(start))
    }

    /// The same two frames a gossip UPDATE has, with no signing or checking at either end.
    private func raw(_ payload: [UInt8], curve: Bool) throws -> [String: Any] {
        let serverKeys = try SigningKeyPair()
        var args = ["bench-sink", "--count", "\(updates)"]
        if curve { args += ["--curve-seed", Hex.encode(serverKeys.seed)] }
        let child = try ChildProcess(executable: ChildProcess.starlingExecutable, arguments: args)
        defer { child.kill() }
        guard let listening = child.waitForObject(event: "listening", timeoutSeconds: 20),
            let endpoint = listening["endpoint"] as? String
        else { throw UserError("bench-sink did not start") }

        let context = try ZMQContext(ioThreads: curve ? 2 : 1)
        let dealer = try ZMQSocket(context, type: .dealer)
        defer { dealer.close() }
        try dealer.set(.sendBufferBytes, 4 << 20)
        try dealer.set(.sendHighWaterMark, 16)
        if curve {
            try dealer.setCurveClient(try SigningKeyPair().curveKeyPair(), serverPublicKey: try serverKeys.publicKey.curvePublicKey())
        }
        try dealer.connect(endpoint)
        let header = try ZMQMessage(bytes: [UInt8](repeating: 7, count: SignedEnvelope.headerFrameByteCount))
        let body = try ZMQMessage(bytes: payload)
        let start = Date()
        for _ in 0..<updates {
            try dealer.send(multipart: [try header.copy(), try body.copy()])
        }
        guard child.waitForObject(event: "done", timeoutSeconds: 120) != nil else { throw UserError("bench-sink did not finish") }
        let seconds = Date().timeIntervalSince(start)
        return figures(bytes: (payload.count + header.count) * updates, messages: updates, seconds: seconds)
    }

    /// A GossipNode here publishes; a `starling gossip-peer` process receives and verifies.
    private func gossip(_ payload: [UInt8], curve: Bool, work: URL) throws -> [String: Any] {
        let sender = try SigningKeyPair()
        let receiver = try SigningKeyPair()
        let keyFile = work.appendingPathComponent("receiver-\(curve).key").path
        try receiver.save(to: keyFile)
        var config = MeshConfig(
            keys: sender, endpoint: "tcp://127.0.0.1:*",
            members: [Member(name: "sender", publicKey: sender.publicKey), Member(name: "receiver", publicKey: receiver.publicKey)],
            neighbours: [])
        config.curve = curve
        config.heartbeatMilliseconds = 500
        let node = try GossipNode(config: config)
        defer { node.stop() }

        let peerConfig = GossipPeerConfig(
            keyFile: keyFile, endpoint: "tcp://127.0.0.1:*",
            members: [
                Member(name: "sender", publicKey: sender.publicKey, endpoint: node.endpoint),
                Member(name: "receiver", publicKey: receiver.publicKey),
            ],
            neighbours: ["sender"], heartbeatMilliseconds: 500, curve: curve)
        let configFile = work.appendingPathComponent("receiver-\(curve).json")
        try JSONEncoder().encode(peerConfig).write(to: configFile)
        let child = try ChildProcess(
            executable: ChildProcess.starlingExecutable,
            arguments: ["gossip-peer", "--config", configFile.path, "--log-level", "error"])
        defer { child.kill() }
        // The receiver dials us and says HELLO; we dial back to the endpoint it names.
        guard node.waitForPeers(["receiver"], state: .alive, timeoutSeconds: 20) else {
            throw UserError("the receiving process never came alive")
        }
        let start = Date()
        for round in 1...UInt64(updates) {
            try node.publish(round: round, payload: payload)
        }
        let last = UInt64(updates)
        guard child.waitForObject(event: "update", timeoutSeconds: 120, where: { ($0["round"] as? NSNumber)?.uint64Value == last }) != nil else {
            throw UserError("the receiving process did not report round \(last)")
        }
        let seconds = Date().timeIntervalSince(start)
        let received = child.objects.filter { $0["event"] as? String == "update" }.count
        var f = figures(bytes: payload.count * received, messages: received, seconds: seconds)
        f["curve"] = curve
        return f
    }
}
