// The local control endpoint of a node: JSON requests and replies over a ZeroMQ REP
// socket bound to 127.0.0.1 only. The chosen port is written to the node's state
// folder (`control.endpoint`) so the CLI can find a running node.

import Foundation
import Gossip
import Logging

/// A request to a node's control endpoint.
public struct ControlRequest: Codable, Sendable, Equatable {
    /// `status`, `trust` (the current trust row), `history` (every trust record) or
    /// `block` (fault injection: drop all traffic with `peers`; an empty list heals).
    public var command: String
    /// The members a `block` request names.
    public var peers: [String]?
    public init(command: String, peers: [String]? = nil) {
        self.command = command
        self.peers = peers
    }
}

/// Reply to the control endpoint's `block` request: the members now blocked.
public struct BlockReply: Codable, Sendable, Equatable {
    public var node: String
    public var blocked: [String]
}

/// Serves control requests on its own thread until `stop()`.
public final class ControlServer: @unchecked Sendable {
    /// File in the state folder holding the bound endpoint.
    public static let endpointFileName = "control.endpoint"

    /// The endpoint actually bound, e.g. tcp://127.0.0.1:40123.
    public let endpoint: String
    private let socket: ZMQSocket
    private let handler: @Sendable (ControlRequest) -> Data
    private let stopped = ManagedFlag()
    private var thread: Thread?
    private let done = DispatchSemaphore(value: 0)

    /// Binds a REP socket on 127.0.0.1 (an ephemeral port unless `port` is given) and
    /// starts answering with `handler`, which runs on the server's thread.
    public init(context: ZMQContext, port: Int? = nil, handler: @escaping @Sendable (ControlRequest) -> Data) throws {
        socket = try ZMQSocket(context, type: .rep)
        try socket.bind("tcp://127.0.0.1:\(port.map(String.init) ?? "*")")
        endpoint = try socket.lastEndpoint
        self.handler = handler
        let t = Thread { [unowned self] in self.serve() }
        t.name = "starling.control"
        thread = t
        t.start()
    }

    /// Stops serving and closes the socket; returns once the thread has ended.
    public func stop() {
        guard !stopped.isSet else { return }
        stopped.set()
        done.wait()
    }

    deinit { stop() }

    private func serve() {
        defer {
            socket.close()
            done.signal()
        }
        var poller = ZMQPoller()
        poller.add(socket)
        let log = Logger(label: "starling.control")
        while !stopped.isSet {
            do {
                guard try !poller.poll(timeoutMilliseconds: 100).isEmpty,
                    let frames = try socket.receiveMultipart(flags: .dontWait)
                else { continue }
                let reply: Data
                if let body = frames.last, let request = try? JSONDecoder().decode(ControlRequest.self, from: Data(body.bytes)) {
                    reply = handler(request)
                } else {
                    reply = Data(#"{"error":"expected a JSON object such as {\"command\":\"status\"}"}"#.utf8)
                }
                try socket.send(reply)
            } catch {
                log.warning("control endpoint: \(error)")
                if error.isTerminated { return }
            }
        }
    }
}

/// Asks a node's control endpoint one question.
public enum ControlClient {
    /// Sends `request` to `endpoint` and returns the JSON reply, or nil when no reply
    /// arrives within `timeoutMilliseconds`.
    public static func ask(
        _ request: ControlRequest, endpoint: String, context: ZMQContext, timeoutMilliseconds: Int32 = 1000
    ) throws -> Data? {
        let socket = try ZMQSocket(context, type: .req)
        defer { socket.close() }
        try socket.set(.receiveTimeoutMilliseconds, timeoutMilliseconds)
        try socket.set(.sendTimeoutMilliseconds, timeoutMilliseconds)
        try socket.connect(endpoint)
        guard try socket.send(JSONEncoder().encode(request)) else { return nil }
        return try socket.receiveMultipart().map { Data($0.last?.bytes ?? []) }
    }

    /// The control endpoint a running node wrote into its state folder, if any.
    public static func endpoint(stateDirectory: String) -> String? {
        let path = (stateDirectory as NSString).appendingPathComponent(ControlServer.endpointFileName)
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.hasPrefix("tcp://127.0.0.1:") ? text : nil
    }
}

/// A flag set once, read from any thread.
final class ManagedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}
