// GossipNode: one member of the signed gossip mesh. The public face is thread-safe;
// every socket lives on the node's own mesh thread (see MeshLoop), which callers reach
// through a locked command queue and an inproc PAIR wake-up socket. Nothing here ever
// blocks the Swift concurrency pool on zmq_poll.

import Foundation
import Logging

/// What the mesh thread reports as it happens (called on the mesh thread: keep it short).
public enum MeshEvent: Sendable {
    /// An update from another origin was accepted; `via` names the member it came from.
    case update(VerifiedUpdate, via: String?)
    /// A neighbour changed state.
    case peer(name: String, state: PeerState)
}

/// An error starting or using a node.
public enum GossipError: Error, Equatable, CustomStringConvertible {
    case zeroMQ(ZMQError)
    case sodium(SodiumError)
    case invalidConfig(String)
    /// A payload to publish is larger than the configured maximum every receiver enforces.
    case payloadTooLarge(bytes: Int, limit: Int)
    case stopped

    public var description: String {
        switch self {
        case .zeroMQ(let e): return "\(e)"
        case .sodium(let e): return "\(e)"
        case .invalidConfig(let why): return "invalid mesh configuration: \(why)"
        case .payloadTooLarge(let bytes, let limit): return "payload of \(bytes) bytes exceeds the maximum of \(limit)"
        case .stopped: return "the gossip node is stopped"
        }
    }
}

/// A node of the gossip mesh: binds its ROUTER, dials its neighbours, and runs until `stop()`.
public final class GossipNode: @unchecked Sendable {
    public let config: MeshConfig
    /// The endpoint the ROUTER actually bound (a tcp port `*` resolved), sent in HELLO.
    public let endpoint: String
    /// The context every socket of this node belongs to.
    public let context: ZMQContext

    let shared: MeshShared
    private let wakeSender: ZMQSocket
    private let finished = DispatchSemaphore(value: 0)

    /// Starts a node. Without `context` the node makes its own, with two I/O threads when
    /// CURVE is on. `observer` hears every accepted update and peer state change.
    public init(config: MeshConfig, context: ZMQContext? = nil, observer: (@Sendable (MeshEvent) -> Void)? = nil) throws(GossipError) {
        self.config = config
        if let context {
            self.context = context
        } else {
            do { self.context = try ZMQContext(ioThreads: config.curve ? 2 : 1) } catch { throw .zeroMQ(error) }
        }
        shared = MeshShared()
        let wakeEndpoint = "inproc://starling-mesh-wake-\(UUID().uuidString)"
        let loop = try MeshLoop(config: config, context: self.context, shared: shared, wakeEndpoint: wakeEndpoint, observer: observer)
        endpoint = loop.boundEndpoint
        do {
            wakeSender = try ZMQSocket(self.context, type: .pair)
            try wakeSender.set(.sendHighWaterMark, 4)
            try wakeSender.connect(wakeEndpoint)
        } catch {
            loop.close()
            throw .zeroMQ(error)
        }
        let done = finished
        let thread = Thread {
            loop.run()
            done.signal()
        }
        thread.name = "starling.mesh"
        thread.start()
    }

    deinit { stop() }

    /// Signs and sends an update for `round` to every neighbour; returns it as stored.
    /// Waits (up to `config.publishTimeoutSeconds`) while earlier updates have not yet
    /// left for a live neighbour: publishing is paced by the slowest live link. The wait
    /// blocks the calling thread, so call it from a thread of your own, not from the
    /// Swift concurrency pool (the same holds for `waitForUpdates` and `waitForPeers`).
    @discardableResult
    public func publish(round: UInt64, payload: some ContiguousBytes) throws(GossipError) -> VerifiedUpdate {
        let count = payload.withUnsafeBytes { $0.count }
        guard count <= config.maxPayloadBytes else { throw .payloadTooLarge(bytes: count, limit: config.maxPayloadBytes) }
        // One pass: each 64 KiB chunk is copied into the outgoing frame and hashed while
        // still in cache, so the copy costs next to nothing beside the hash.
        var hasher: BLAKE2b
        do { hasher = try BLAKE2b() } catch { throw .sodium(error) }
        let message: ZMQMessage
        do {
            message = try payload.withUnsafeBytes { src in
                try ZMQMessage(count: src.count) { dst in
                    var offset = 0
                    while offset < src.count {
                        let n = min(1 << 16, src.count - offset)
                        let to = UnsafeMutableRawBufferPointer(rebasing: dst[offset..<(offset + n)])
                        to.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[offset..<(offset + n)]))
                        hasher.update(UnsafeRawBufferPointer(to))
                        offset += n
                    }
                }
            }
        } catch let e as ZMQError { throw .zeroMQ(e) } catch { throw .invalidConfig("\(error)") }
        let body = Payload(message)
        let sequence = shared.nextSequence()
        let envelope = SignedEnvelope.sign(
            kind: .update, round: round, sequence: sequence, ttl: config.ttl, payloadLength: UInt64(body.count),
            payloadDigest: hasher.finalize(), by: config.keys)
        let update = VerifiedUpdate(
            origin: config.keys.publicKey, round: round, sequence: sequence, digest: envelope.payloadDigest,
            payload: body, envelope: envelope)
        try submit(.publish(update), waitForRoom: true)
        return update
    }

    /// Signs and sends one chunk of a file to every neighbour (paced as `publish` is).
    /// The mesh keeps the chunks sent since the last `replacing` call and sends them
    /// again to a neighbour that comes back, so a restarted member gets what it lacks.
    public func publishChunk(round: UInt64, payload: [UInt8], replacing: Bool) throws(GossipError) {
        guard payload.count <= config.maxPayloadBytes else { throw .payloadTooLarge(bytes: payload.count, limit: config.maxPayloadBytes) }
        let envelope: SignedEnvelope
        let body: Payload
        do {
            envelope = try SignedEnvelope.sign(kind: .chunk, round: round, sequence: shared.nextSequence(), ttl: config.ttl, payload: payload, by: config.keys)
            body = try Payload(copying: payload)
        } catch let e as ZMQError { throw .zeroMQ(e) } catch { throw .invalidConfig("\(error)") }
        let chunk = VerifiedUpdate(origin: config.keys.publicKey, round: round, sequence: envelope.sequence, digest: envelope.payloadDigest,
                                   payload: body, envelope: envelope)
        try submit(.publishChunk(chunk, replacing: replacing), waitForRoom: true)
    }

    /// The chunks accepted since the last call, oldest first (each once).
    public func takeChunks() -> [[UInt8]] {
        shared.locked { s in
            defer { s.chunks.removeAll() }
            return s.chunks.map(\.payload.bytes)
        }
    }

    /// The latest verified update of every origin held (this node's own included).
    public func latestUpdates() -> [PublicKey: VerifiedUpdate] {
        shared.locked { $0.latest }
    }

    /// The latest verified update of `origin`, if any.
    public func latestUpdate(from origin: PublicKey) -> VerifiedUpdate? {
        shared.locked { $0.latest[origin] }
    }

    /// Waits up to `timeoutSeconds` until every origin in `origins` has an update of
    /// round `round` or later; returns those held by then (possibly fewer than asked).
    public func waitForUpdates(round: UInt64, from origins: Set<PublicKey>, timeoutSeconds: Double) -> [PublicKey: VerifiedUpdate] {
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        return shared.wait(until: deadline) { s in
            let got = s.latest.filter { origins.contains($0.key) && $0.value.round >= round }
            return (got.count == origins.count, got)
        }
    }

    /// Waits up to `timeoutSeconds` until each named neighbour is in `state`.
    public func waitForPeers(_ names: Set<String>, state: PeerState, timeoutSeconds: Double) -> Bool {
        shared.wait(until: Date().addingTimeInterval(timeoutSeconds)) { s in
            let ok = names.allSatisfy { s.peers[$0]?.state == state }
            return (ok, ok)
        }
    }

    /// Every neighbour's state, sorted by name.
    public func peers() -> [PeerStatus] {
        shared.locked { $0.peers.values.sorted { $0.name < $1.name } }
    }

    /// A snapshot of every counter.
    public func counters() -> MeshCounters {
        let c = shared.locked { $0.counters }
        var out = c
        if config.curve {
            out.admissionsRefused = ZAPAuthenticator.refusals(domain: MeshLoop.zapDomain(for: config.keys.publicKey), in: context)
        }
        return out
    }

    /// Fault injection: drops every message to and from the named members, as a network
    /// cut would, until called again with another set (empty heals). Names that are not
    /// members are ignored. The mesh thread applies it within a quarter heartbeat.
    public func setBlockedPeers(_ names: Set<String>) {
        let keys = Set(config.members.filter { names.contains($0.name) }.map(\.publicKey))
        shared.locked { $0.blocked = keys }
    }

    /// The members whose traffic is being dropped (`setBlockedPeers`), by name.
    public func blockedPeers() -> Set<String> {
        let keys = shared.locked { $0.blocked }
        return Set(config.members.filter { keys.contains($0.publicKey) }.map(\.name))
    }

    /// Stops the mesh thread, closes every socket, and waits for it. Later calls do nothing.
    public func stop() {
        let first = shared.locked { s -> Bool in
            defer { s.stopping = true }
            return !s.stopping
        }
        guard first else { return }
        shared.push(.stop, wake: wakeSender)
        finished.wait()
        wakeSender.close()
    }

    private func submit(_ command: MeshCommand, waitForRoom: Bool) throws(GossipError) {
        if waitForRoom {
            let deadline = Date().addingTimeInterval(config.publishTimeoutSeconds)
            _ = shared.wait(until: deadline) { s in
                let room = s.stopping || s.pendingPublishes < config.maxPendingPublishes
                return (room, room)
            }
        }
        guard shared.push(command, wake: wakeSender) else { throw .stopped }
    }
}

/// A request from a caller's thread to the mesh thread.
enum MeshCommand {
    case publish(VerifiedUpdate)
    case publishChunk(VerifiedUpdate, replacing: Bool)
    case stop
}

/// What the caller threads and the mesh thread share, under one lock.
final class MeshShared: @unchecked Sendable {
    struct State {
        var latest: [PublicKey: VerifiedUpdate] = [:]
        /// Accepted CHUNKs not yet taken by `takeChunks`.
        var chunks: [VerifiedUpdate] = []
        var peers: [String: PeerStatus] = [:]
        var counters = MeshCounters()
        var commands: [MeshCommand] = []
        var pendingPublishes = 0
        var stopping = false
        var lastSequence: UInt64 = 0
        var blocked = Set<PublicKey>()
    }

    private let condition = NSCondition()
    private var state = State()

    func locked<R>(_ body: (inout State) -> R) -> R {
        condition.lock()
        defer {
            condition.broadcast()
            condition.unlock()
        }
        return body(&state)
    }

    /// Waits until `check` says done or `deadline` passes; returns its last value.
    func wait<R>(until deadline: Date, _ check: (State) -> (Bool, R)) -> R {
        condition.lock()
        defer { condition.unlock() }
        while true {
            let (done, value) = check(state)
            if done || !condition.wait(until: deadline) { return done ? value : check(state).1 }
        }
    }

    /// Queues a command and wakes the mesh thread. False once the node has stopped
    /// accepting work (only `.stop` is taken then).
    @discardableResult
    func push(_ command: MeshCommand, wake: ZMQSocket) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        let publishes = switch command {
        case .publish, .publishChunk: true
        case .stop: false
        }
        if state.stopping, publishes { return false }
        state.commands.append(command)
        if publishes { state.pendingPublishes += 1 }
        // A full wake pipe already holds a wake-up; the byte is only a doorbell.
        _ = try? wake.send([UInt8(1)], flags: .dontWait)
        return true
    }

    /// Sequences strictly increase per origin, across restarts: microseconds since
    /// 1970, or one more than the last one when the clock has not moved on.
    func nextSequence() -> UInt64 {
        let now = UInt64(max(0, Date().timeIntervalSince1970 * 1_000_000))
        return locked { s in
            s.lastSequence = max(s.lastSequence + 1, now)
            return s.lastSequence
        }
    }
}
