// A ZeroMQ socket with typed options. ZeroMQ sockets are not thread-safe: a socket
// belongs to one thread at a time, and it is handed over, never shared.

import Foundation
import CZeroMQ

/// The kind of a socket (`ZMQ_ROUTER`, `ZMQ_DEALER`, ...).
public struct ZMQSocketType: Sendable, Equatable {
    let rawValue: Int32
    public static let pair = ZMQSocketType(rawValue: ZMQ_PAIR)
    public static let pub = ZMQSocketType(rawValue: ZMQ_PUB)
    public static let sub = ZMQSocketType(rawValue: ZMQ_SUB)
    public static let req = ZMQSocketType(rawValue: ZMQ_REQ)
    public static let rep = ZMQSocketType(rawValue: ZMQ_REP)
    public static let dealer = ZMQSocketType(rawValue: ZMQ_DEALER)
    public static let router = ZMQSocketType(rawValue: ZMQ_ROUTER)
    public static let push = ZMQSocketType(rawValue: ZMQ_PUSH)
    public static let pull = ZMQSocketType(rawValue: ZMQ_PULL)
}

/// Flags of send and receive calls.
public struct ZMQFlags: OptionSet, Sendable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    /// Fail with `EAGAIN` instead of blocking (`ZMQ_DONTWAIT`).
    public static let dontWait = ZMQFlags(rawValue: ZMQ_DONTWAIT)
    /// More frames of this message follow (`ZMQ_SNDMORE`).
    public static let sendMore = ZMQFlags(rawValue: ZMQ_SNDMORE)
}

/// An integer socket option (`int` in libzmq).
public struct ZMQIntOption: Sendable {
    let name: Int32
    /// Milliseconds pending messages are kept after close (`ZMQ_LINGER`); -1 forever.
    public static let linger = ZMQIntOption(name: ZMQ_LINGER)
    /// Outgoing queue bound in messages (`ZMQ_SNDHWM`).
    public static let sendHighWaterMark = ZMQIntOption(name: ZMQ_SNDHWM)
    /// Incoming queue bound in messages (`ZMQ_RCVHWM`).
    public static let receiveHighWaterMark = ZMQIntOption(name: ZMQ_RCVHWM)
    /// Receive timeout in milliseconds (`ZMQ_RCVTIMEO`); -1 blocks.
    public static let receiveTimeoutMilliseconds = ZMQIntOption(name: ZMQ_RCVTIMEO)
    /// Send timeout in milliseconds (`ZMQ_SNDTIMEO`); -1 blocks.
    public static let sendTimeoutMilliseconds = ZMQIntOption(name: ZMQ_SNDTIMEO)
    /// Queue only to completed connections (`ZMQ_IMMEDIATE`), 0 or 1.
    public static let immediate = ZMQIntOption(name: ZMQ_IMMEDIATE)
    /// ROUTER fails with `EHOSTUNREACH` for unknown peers instead of dropping (`ZMQ_ROUTER_MANDATORY`).
    public static let routerMandatory = ZMQIntOption(name: ZMQ_ROUTER_MANDATORY)
    /// ROUTER hands an identity over to a reconnecting peer (`ZMQ_ROUTER_HANDOVER`).
    public static let routerHandover = ZMQIntOption(name: ZMQ_ROUTER_HANDOVER)
    /// First reconnect delay in milliseconds (`ZMQ_RECONNECT_IVL`).
    public static let reconnectIntervalMilliseconds = ZMQIntOption(name: ZMQ_RECONNECT_IVL)
    /// Upper bound of the exponential reconnect backoff in milliseconds (`ZMQ_RECONNECT_IVL_MAX`).
    public static let reconnectIntervalMaxMilliseconds = ZMQIntOption(name: ZMQ_RECONNECT_IVL_MAX)
    /// Whether this side is a CURVE server (`ZMQ_CURVE_SERVER`), 0 or 1.
    public static let curveServer = ZMQIntOption(name: ZMQ_CURVE_SERVER)
    /// Kernel send buffer in bytes (`ZMQ_SNDBUF`).
    public static let sendBufferBytes = ZMQIntOption(name: ZMQ_SNDBUF)
    /// Kernel receive buffer in bytes (`ZMQ_RCVBUF`).
    public static let receiveBufferBytes = ZMQIntOption(name: ZMQ_RCVBUF)
    /// Milliseconds to wait for a handshake before dropping the connection (`ZMQ_HANDSHAKE_IVL`).
    public static let handshakeIntervalMilliseconds = ZMQIntOption(name: ZMQ_HANDSHAKE_IVL)
    /// Milliseconds between ZMTP PINGs on each connection (`ZMQ_HEARTBEAT_IVL`); 0 off.
    public static let heartbeatIntervalMilliseconds = ZMQIntOption(name: ZMQ_HEARTBEAT_IVL)
    /// Milliseconds without traffic after a ZMTP PING before the connection is dropped
    /// (`ZMQ_HEARTBEAT_TIMEOUT`).
    public static let heartbeatTimeoutMilliseconds = ZMQIntOption(name: ZMQ_HEARTBEAT_TIMEOUT)
    /// Readiness of the socket as `ZMQ_POLLIN | ZMQ_POLLOUT` bits (`ZMQ_EVENTS`, read-only).
    public static let events = ZMQIntOption(name: ZMQ_EVENTS)
}

/// A 64-bit integer socket option.
public struct ZMQInt64Option: Sendable {
    let name: Int32
    /// Largest inbound message in bytes; bigger ones drop the connection (`ZMQ_MAXMSGSIZE`); -1 no limit.
    public static let maxMessageSize = ZMQInt64Option(name: ZMQ_MAXMSGSIZE)
}

/// A byte-string socket option.
public struct ZMQBytesOption: Sendable {
    let name: Int32
    /// The routing id a ROUTER peer sees for this socket (`ZMQ_ROUTING_ID`).
    public static let routingID = ZMQBytesOption(name: ZMQ_ROUTING_ID)
    /// The ZAP domain of this socket (`ZMQ_ZAP_DOMAIN`).
    public static let zapDomain = ZMQBytesOption(name: ZMQ_ZAP_DOMAIN)
    /// This socket's long-term CURVE public key, 32 bytes (`ZMQ_CURVE_PUBLICKEY`).
    public static let curvePublicKey = ZMQBytesOption(name: ZMQ_CURVE_PUBLICKEY)
    /// This socket's long-term CURVE secret key, 32 bytes (`ZMQ_CURVE_SECRETKEY`).
    public static let curveSecretKey = ZMQBytesOption(name: ZMQ_CURVE_SECRETKEY)
    /// The server's CURVE public key a client expects, 32 bytes (`ZMQ_CURVE_SERVERKEY`).
    public static let curveServerKey = ZMQBytesOption(name: ZMQ_CURVE_SERVERKEY)
    /// Subscription prefix of a SUB socket (`ZMQ_SUBSCRIBE`).
    public static let subscribe = ZMQBytesOption(name: ZMQ_SUBSCRIBE)
    /// The endpoint this socket last bound to (`ZMQ_LAST_ENDPOINT`, read-only).
    public static let lastEndpoint = ZMQBytesOption(name: ZMQ_LAST_ENDPOINT)
}

/// Owns a ZeroMQ socket. Not thread-safe: use from one thread at a time.
/// `close()` (or `deinit`) releases it; with linger 0 pending messages are dropped.
public final class ZMQSocket: @unchecked Sendable {
    private(set) var handle: UnsafeMutableRawPointer?
    /// The context the socket belongs to, kept alive while the socket is open.
    public let context: ZMQContext

    /// A new socket of `type` in `context` (`zmq_socket`). Linger starts at 0 so a
    /// closing node never hangs on undeliverable messages.
    public init(_ context: ZMQContext, type: ZMQSocketType) throws(ZMQError) {
        guard let h = zmq_socket(context.handle, type.rawValue) else { throw .last("zmq_socket") }
        self.context = context
        handle = h
        try set(.linger, 0)
    }

    deinit { close() }

    /// Closes the socket (`zmq_close`); later calls are no-ops.
    public func close() {
        if let h = handle {
            zmq_close(h)
            handle = nil
        }
    }

    private func live(_ function: String) throws(ZMQError) -> UnsafeMutableRawPointer {
        guard let h = handle else { throw ZMQError(function: function, code: ENOTSOCK) }
        return h
    }

    // MARK: Options

    /// Sets an integer option (`zmq_setsockopt`).
    public func set(_ option: ZMQIntOption, _ value: Int32) throws(ZMQError) {
        var v = value
        guard zmq_setsockopt(try live("zmq_setsockopt"), option.name, &v, MemoryLayout<Int32>.size) == 0 else {
            throw .last("zmq_setsockopt")
        }
    }

    /// Sets a 64-bit integer option (`zmq_setsockopt`).
    public func set(_ option: ZMQInt64Option, _ value: Int64) throws(ZMQError) {
        var v = value
        guard zmq_setsockopt(try live("zmq_setsockopt"), option.name, &v, MemoryLayout<Int64>.size) == 0 else {
            throw .last("zmq_setsockopt")
        }
    }

    /// Sets a byte-string option (`zmq_setsockopt`).
    public func set(_ option: ZMQBytesOption, _ value: some ContiguousBytes) throws(ZMQError) {
        let h = try live("zmq_setsockopt")
        let rc = value.withUnsafeBytes { zmq_setsockopt(h, option.name, $0.baseAddress, $0.count) }
        guard rc == 0 else { throw .last("zmq_setsockopt") }
    }

    /// Sets a text option (`zmq_setsockopt`).
    public func set(_ option: ZMQBytesOption, _ value: String) throws(ZMQError) {
        try set(option, Array(value.utf8))
    }

    /// Reads an integer option (`zmq_getsockopt`).
    public func get(_ option: ZMQIntOption) throws(ZMQError) -> Int32 {
        var v: Int32 = 0
        var size = MemoryLayout<Int32>.size
        guard zmq_getsockopt(try live("zmq_getsockopt"), option.name, &v, &size) == 0 else {
            throw .last("zmq_getsockopt")
        }
        return v
    }

    /// Reads a 64-bit integer option (`zmq_getsockopt`).
    public func get(_ option: ZMQInt64Option) throws(ZMQError) -> Int64 {
        var v: Int64 = 0
        var size = MemoryLayout<Int64>.size
        guard zmq_getsockopt(try live("zmq_getsockopt"), option.name, &v, &size) == 0 else {
            throw .last("zmq_getsockopt")
        }
        return v
    }

    /// Reads a byte-string option (`zmq_getsockopt`), up to 256 bytes.
    public func get(_ option: ZMQBytesOption) throws(ZMQError) -> [UInt8] {
        var buf = [UInt8](repeating: 0, count: 256)
        var size = buf.count
        let h = try live("zmq_getsockopt")
        let rc = buf.withUnsafeMutableBytes { zmq_getsockopt(h, option.name, $0.baseAddress, &size) }
        guard rc == 0 else { throw .last("zmq_getsockopt") }
        return Array(buf[0..<size])
    }

    /// The endpoint actually bound, with the port the system chose for `tcp://...:*`.
    public var lastEndpoint: String {
        get throws(ZMQError) {
            String(decoding: try get(.lastEndpoint).prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    // MARK: CURVE

    /// Makes this socket a CURVE server with the given X25519 key pair.
    public func setCurveServer(_ keys: CurveKeyPair) throws(ZMQError) {
        try set(.curveServer, 1)
        try set(.curveSecretKey, keys.secretKey)
        try set(.curvePublicKey, keys.publicKey)
    }

    /// Makes this socket a CURVE client with its own X25519 key pair, expecting a
    /// server whose X25519 public key is `serverPublicKey`.
    public func setCurveClient(_ keys: CurveKeyPair, serverPublicKey: [UInt8]) throws(ZMQError) {
        try set(.curveServerKey, serverPublicKey)
        try set(.curvePublicKey, keys.publicKey)
        try set(.curveSecretKey, keys.secretKey)
    }

    // MARK: Endpoints

    /// Binds to `endpoint` (`zmq_bind`): tcp://, ipc:// or inproc://.
    public func bind(_ endpoint: String) throws(ZMQError) {
        guard zmq_bind(try live("zmq_bind"), endpoint) == 0 else { throw .last("zmq_bind") }
    }

    /// Connects to `endpoint` (`zmq_connect`); the connection completes in the background.
    public func connect(_ endpoint: String) throws(ZMQError) {
        guard zmq_connect(try live("zmq_connect"), endpoint) == 0 else { throw .last("zmq_connect") }
    }

    /// Stops connecting to `endpoint` (`zmq_disconnect`).
    public func disconnect(_ endpoint: String) throws(ZMQError) {
        guard zmq_disconnect(try live("zmq_disconnect"), endpoint) == 0 else { throw .last("zmq_disconnect") }
    }

    /// Unbinds from `endpoint` (`zmq_unbind`).
    public func unbind(_ endpoint: String) throws(ZMQError) {
        guard zmq_unbind(try live("zmq_unbind"), endpoint) == 0 else { throw .last("zmq_unbind") }
    }

    // MARK: Sending

    /// Sends one frame, handing the message's buffer to libzmq without copying
    /// (`zmq_msg_send`). After success the message is empty.
    @discardableResult
    public func send(_ message: ZMQMessage, flags: ZMQFlags = []) throws(ZMQError) -> Bool {
        let h = try live("zmq_msg_send")
        while true {
            if zmq_msg_send(message.msg, h, flags.rawValue) >= 0 { return true }
            let e = ZMQError.last("zmq_msg_send")
            if e.isInterrupted { continue }
            if e.isWouldBlock && flags.contains(.dontWait) { return false }
            throw e
        }
    }

    /// Sends one frame holding a copy of `bytes` (`zmq_send`, one copy).
    /// Returns false when `.dontWait` is set and the frame could not be queued.
    @discardableResult
    public func send(_ bytes: some ContiguousBytes, flags: ZMQFlags = []) throws(ZMQError) -> Bool {
        let h = try live("zmq_send")
        while true {
            let rc = bytes.withUnsafeBytes { zmq_send(h, $0.baseAddress, $0.count, flags.rawValue) }
            if rc >= 0 { return true }
            let e = ZMQError.last("zmq_send")
            if e.isInterrupted { continue }
            if e.isWouldBlock && flags.contains(.dontWait) { return false }
            throw e
        }
    }

    /// Sends the frames as one multipart message. Each frame is copied once into
    /// libzmq; frames already in `ZMQMessage`s go through `send(_:flags:)` uncopied.
    @discardableResult
    public func send(multipart frames: [[UInt8]], flags: ZMQFlags = []) throws(ZMQError) -> Bool {
        precondition(!frames.isEmpty, "a message has at least one frame")
        for (i, frame) in frames.enumerated() {
            var f = flags
            if i < frames.count - 1 { f.insert(.sendMore) }
            // Once the first frame is queued the rest are queued atomically by libzmq.
            if !(try send(frame, flags: i == 0 ? f : f.subtracting(.dontWait))) { return false }
        }
        return true
    }

    /// Sends already built frames as one multipart message, without copying.
    @discardableResult
    public func send(multipart frames: [ZMQMessage], flags: ZMQFlags = []) throws(ZMQError) -> Bool {
        precondition(!frames.isEmpty, "a message has at least one frame")
        for (i, frame) in frames.enumerated() {
            var f = flags
            if i < frames.count - 1 { f.insert(.sendMore) }
            if !(try send(frame, flags: i == 0 ? f : f.subtracting(.dontWait))) { return false }
        }
        return true
    }

    // MARK: Receiving

    /// Receives one frame into a message without copying (`zmq_msg_recv`; plain
    /// `zmq_recv` would truncate large frames). Returns nil when `.dontWait` is set
    /// and nothing is waiting, or the receive timeout passed.
    public func receiveMessage(flags: ZMQFlags = []) throws(ZMQError) -> ZMQMessage? {
        let h = try live("zmq_msg_recv")
        let m = ZMQMessage()
        while true {
            if zmq_msg_recv(m.msg, h, flags.rawValue) >= 0 { return m }
            let e = ZMQError.last("zmq_msg_recv")
            if e.isInterrupted { continue }
            if e.isWouldBlock { return nil }
            throw e
        }
    }

    /// Receives every frame of one multipart message. Returns nil when `.dontWait` is
    /// set and nothing is waiting, or the receive timeout passed before the first frame.
    public func receiveMultipart(flags: ZMQFlags = []) throws(ZMQError) -> [ZMQMessage]? {
        guard let first = try receiveMessage(flags: flags) else { return nil }
        var frames = [first]
        // The remaining frames of a message arrive atomically with the first.
        while frames[frames.count - 1].hasMore {
            guard let next = try receiveMessage(flags: flags.subtracting(.dontWait)) else {
                throw ZMQError(function: "zmq_msg_recv", code: EAGAIN)
            }
            frames.append(next)
        }
        return frames
    }

    /// Whether a message can be received now without blocking (`ZMQ_EVENTS`).
    public var isReadable: Bool {
        ((try? get(.events)) ?? 0) & Int32(ZMQ_POLLIN) != 0
    }

    /// The raw handle for the poller.
    var pollHandle: UnsafeMutableRawPointer? { handle }
}
