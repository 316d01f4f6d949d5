// `starling bench-sink`: the receiving process of the raw ZeroMQ figure of
// `starling bench gossip`. Hidden from --help.

import ArgumentParser
import Foundation
import Gossip

/// Binds a ROUTER on 127.0.0.1, prints its endpoint, receives COUNT messages of
/// [routing id, header, payload] without looking inside, and prints the bytes received.
struct BenchSink: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-sink",
        abstract: "Receive raw ZeroMQ messages for `bench gossip` (harness).",
        discussion: """
            Example:
              $ starling bench-sink --count 50
              {"endpoint":"tcp://127.0.0.1:40123","event":"listening"}
            """,
        shouldDisplay: false
    )

    @Option(name: .long, help: "Messages to receive before exiting.")
    var count: Int

    @Option(name: .long, help: "Hex seed of an Ed25519 key: makes the ROUTER a CURVE server with its derived key.")
    var curveSeed: String?

    @Option(name: .long, help: "Kernel socket buffer in bytes.")
    var socketBufferBytes: Int32 = 4 << 20

    func validate() throws {
        try requireAtLeast(0, "--count", count)
        guard socketBufferBytes >= 0 else { throw ValidationError("--socket-buffer-bytes must be at least 0, got \(socketBufferBytes)") }
    }

    func run() throws {
        let out = JSONLines()
        let context = try ZMQContext(ioThreads: curveSeed == nil ? 1 : 2)
        let router = try ZMQSocket(context, type: .router)
        defer { router.close() }
        try router.set(.receiveBufferBytes, socketBufferBytes)
        try router.set(.receiveHighWaterMark, 64)
        if let hex = curveSeed {
            guard let seed = Hex.decode(hex) else { throw UserError("--curve-seed: expected hex") }
            try router.setCurveServer(try SigningKeyPair(seed: seed).curveKeyPair())
        }
        try router.bind("tcp://127.0.0.1:*")
        out.emit(["event": "listening", "endpoint": try router.lastEndpoint])
        var bytes = 0
        for _ in 0..<count {
            guard let frames = try router.receiveMultipart() else { break }
            bytes += frames.dropFirst().reduce(0) { $0 + $1.count }
        }
        out.emit(["event": "done", "bytes": bytes])
    }
}
