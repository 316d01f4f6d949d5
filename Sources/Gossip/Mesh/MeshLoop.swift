// MeshLoop: the mesh thread. It owns every socket of a node: one ROUTER bound for all
// input, one DEALER per neighbour for output (zguide chapter 8), the PAIR that wakes it
// for commands. It validates every received message before storing or relaying it,
// keeps the latest update per origin, relays while TTL lasts, answers SYNC, and moves
// neighbours between alive, suspect and gone.

import Dispatch
import Foundation
import Logging

/// Milliseconds on a clock that never goes back.
func monotonicMilliseconds() -> UInt64 { DispatchTime.now().uptimeNanoseconds / 1_000_000 }

/// The state of the link with one neighbour.
final class Link {
    let member: Member
    var endpoint: String?
    var dealer: ZMQSocket?
    var state: PeerState = .connecting
    var lastHeard: UInt64?
    var lastSent: UInt64 = 0
    /// Messages waiting because the DEALER's queue was full, oldest first.
    var queue: [[ZMQMessage]] = []
    var helloBackoff: UInt64
    var nextHello: UInt64 = 0

    init(member: Member, backoff: UInt64) {
        self.member = member
        endpoint = member.endpoint
        helloBackoff = backoff
    }

    var name: String { member.name }
}

final class MeshLoop: @unchecked Sendable {
    static func zapDomain(for key: PublicKey) -> String { "starling/" + key.description }

    let boundEndpoint: String
    private let config: MeshConfig
    private let context: ZMQContext
    private let shared: MeshShared
    private let observer: (@Sendable (MeshEvent) -> Void)?
    private let router: ZMQSocket
    private let wake: ZMQSocket
    private let me: PublicKey
    private let members: [PublicKey: Member]
    private var links: [PublicKey: Link] = [:]
    /// The latest accepted update per origin (own included), held for relay and SYNC.
    private var held: [PublicKey: VerifiedUpdate] = [:]
    /// The highest control-message sequence accepted per origin.
    private var controlSequence: [PublicKey: UInt64] = [:]
    private var logged = Set<String>()
    private let log = Logger(label: "starling.gossip.mesh")
    private var closed = false
    /// Whether the ROUTER listens on inproc://, where libzmq applies no CURVE.
    private var inproc: Bool { boundEndpoint.hasPrefix("inproc://") }

    init(
        config: MeshConfig, context: ZMQContext, shared: MeshShared, wakeEndpoint: String,
        observer: (@Sendable (MeshEvent) -> Void)?
    ) throws(GossipError) {
        self.config = config
        self.context = context
        self.shared = shared
        self.observer = observer
        me = config.keys.publicKey
        var byKey: [PublicKey: Member] = [:]
        for m in config.members { byKey[m.publicKey] = m }
        members = byKey
        guard config.heartbeatMilliseconds > 0, config.livenessIntervals >= 2 else {
            throw .invalidConfig("heartbeat must be positive and liveness at least 2 intervals")
        }
        guard config.maxPayloadBytes >= SignedEnvelope.headerFrameByteCount else {
            throw .invalidConfig("maxPayloadBytes must be at least \(SignedEnvelope.headerFrameByteCount)")
        }
        let byName = Dictionary(config.members.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for n in config.neighbours where byName[n] == nil {
            throw .invalidConfig("neighbour \(n) is not a member")
        }
        let domain = Self.zapDomain(for: me)
        do {
            if config.curve {
                guard ZMQContext.hasCurve else { throw GossipError.invalidConfig("libzmq was built without CURVE") }
                try ZAPAuthenticator.register(domain: domain, members: config.members.map(\.publicKey), in: context)
            }
            router = try ZMQSocket(context, type: .router)
            wake = try ZMQSocket(context, type: .pair)
            try router.set(.routerHandover, 1)
            try router.set(.maxMessageSize, Int64(config.maxPayloadBytes))
            try router.set(.receiveHighWaterMark, 64)
            if config.socketBufferBytes > 0 { try router.set(.receiveBufferBytes, config.socketBufferBytes) }
            if config.curve {
                try router.set(.zapDomain, domain)
                try router.setCurveServer(try config.keys.curveKeyPair())
            }
            try router.bind(config.endpoint)
            boundEndpoint = try router.lastEndpoint
            try wake.bind(wakeEndpoint)
        } catch let e as GossipError {
            if config.curve { ZAPAuthenticator.unregister(domain: domain, in: context) }
            throw e
        } catch let e as ZMQError {
            if config.curve { ZAPAuthenticator.unregister(domain: domain, in: context) }
            throw .zeroMQ(e)
        } catch let e as SodiumError {
            if config.curve { ZAPAuthenticator.unregister(domain: domain, in: context) }
            throw .sodium(e)
        } catch {
            if config.curve { ZAPAuthenticator.unregister(domain: domain, in: context) }
            throw .invalidConfig("\(error)")
        }
        for n in config.neighbours {
            let m = byName[n]!
            guard m.publicKey != me else { continue }
            let link = Link(member: m, backoff: UInt64(config.reconnectMilliseconds))
            links[m.publicKey] = link
            if let e = m.endpoint {
                do { try connect(link, to: e) } catch {
                    close()
                    throw .zeroMQ(error)
                }
            }
        }
        publishPeers()
    }

    /// Closes every socket; called once, on the mesh thread at its end (or by init on failure).
    func close() {
        guard !closed else { return }
        closed = true
        for l in links.values { l.dealer?.close() }
        router.close()
        wake.close()
        if config.curve { ZAPAuthenticator.unregister(domain: Self.zapDomain(for: me), in: context) }
    }

    // MARK: The loop

    func run() {
        let hb = UInt64(config.heartbeatMilliseconds)
        let tick = max(1, hb / 4)
        var nextTick = monotonicMilliseconds()
        for l in links.values where l.dealer != nil { greet(l) }
        var poller = ZMQPoller()
        poller.add(router)
        poller.add(wake)
        loop: while true {
            let now = monotonicMilliseconds()
            let untilTick = nextTick > now ? Int(nextTick - now) : 0
            let backlog = links.values.contains { !$0.queue.isEmpty }
            _ = try? poller.poll(timeoutMilliseconds: backlog ? min(1, untilTick) : untilTick)
            // Drain input in bounded batches so timers and commands keep their turn.
            for _ in 0..<64 {
                guard let frames = try? router.receiveMultipart(flags: .dontWait) else { break }
                receive(frames)
            }
            while (try? wake.receiveMessage(flags: .dontWait)) != nil {}
            if !takeCommands() { break loop }
            flushQueues()
            if monotonicMilliseconds() >= nextTick {
                heartbeat()
                nextTick = monotonicMilliseconds() + tick
            }
        }
        close()
    }

    /// Runs queued commands; false on stop. Publishes wait while a live link is backed up.
    private func takeCommands() -> Bool {
        let congested = links.values.contains { $0.state != .gone && $0.queue.count >= 2 }
        let commands = shared.locked { s -> [MeshCommand] in
            if congested {
                // Let only .stop through until the backed-up links drain.
                guard s.commands.contains(where: { if case .stop = $0 { true } else { false } }) else { return [] }
            }
            let c = s.commands
            s.commands.removeAll()
            return c
        }
        for c in commands {
            switch c {
            case .stop:
                shared.locked { $0.pendingPublishes = 0 }
                return false
            case .publish(let update):
                held[me] = update
                shared.locked {
                    $0.latest[me] = update
                    $0.pendingPublishes -= 1
                }
                for l in links.values where l.state != .gone {
                    sendUpdate(update, ttl: config.ttl, to: l)
                }
            }
        }
        return true
    }

    // MARK: Receiving

    /// Validates one message from the ROUTER (README.md "Wire protocol", validation order)
    /// and acts on it.
    private func receive(_ frames: [ZMQMessage]) {
        let bytes = frames.reduce(0) { $0 + $1.count }
        // Who sent it over this link: the member the ZAP handler authenticated (CURVE), or
        // the routing id a member's DEALER sets (no CURVE, so only a claim).
        // libzmq runs no security handshake on inproc://, so an in-process link has no
        // User-Id and is identified by its routing id, like every link without CURVE.
        var senderKey: PublicKey?
        if config.curve && !inproc {
            // The ROUTER's routing-id frame carries no metadata; the peer's frames do.
            senderKey = frames.last?.property("User-Id").flatMap { PublicKey(text: $0) }
        } else if let id = frames.first, id.count == PublicKey.byteCount {
            senderKey = try? PublicKey(bytes: id.bytes)
        }
        if let k = senderKey, members[k] == nil { senderKey = nil }
        let senderName = senderKey.flatMap { members[$0]?.name } ?? "?"
        shared.locked {
            $0.counters.peers[senderName, default: PeerCounters()].messagesIn += 1
            $0.counters.peers[senderName, default: PeerCounters()].bytesIn += bytes
        }
        do {
            try accept(frames, from: senderKey, named: senderName)
        } catch {
            reject(error, from: senderName)
        }
    }

    private func accept(_ frames: [ZMQMessage], from senderKey: PublicKey?, named senderName: String) throws(RejectionReason) {
        guard frames.count == 3 else { throw .wrongFrameCount }
        let header = frames[1], payload = frames[2]
        let envelope = try header.withUnsafeBytes { b in
            Result { () throws(RejectionReason) in try SignedEnvelope.decode(headerFrame: b) }
        }.get()
        guard envelope.payloadLength <= UInt64(config.maxPayloadBytes) else { throw .oversized }
        guard UInt64(payload.count) >= envelope.payloadLength else { throw .truncated }
        guard UInt64(payload.count) == envelope.payloadLength else { throw .oversized }
        guard members[envelope.origin] != nil else { throw .unknownOrigin }
        if envelope.kind.isControl && senderKey != envelope.origin { throw .senderMismatch }
        guard envelope.hasValidSignature else { throw .badSignature }
        // The sender is now known to be a member that relayed or sent a genuine message.
        if let k = senderKey { heard(k) }
        switch envelope.kind {
        case .update:
            if let h = held[envelope.origin], !h.version.isOlder(thanRound: envelope.round, sequence: envelope.sequence) {
                throw .replayed
            }
        default:
            guard envelope.sequence > controlSequence[envelope.origin] ?? 0 else { throw .replayed }
        }
        guard payload.withUnsafeBytes({ envelope.matches(payload: $0) }) else { throw .digestMismatch }
        switch envelope.kind {
        case .hello:
            let endpoint = try payload.withUnsafeBytes { b in Result { () throws(RejectionReason) in try HelloPayload.decode(b) } }.get()
            controlSequence[envelope.origin] = envelope.sequence
            hello(from: envelope.origin, endpoint: endpoint)
        case .ping:
            controlSequence[envelope.origin] = envelope.sequence
            if let l = links[envelope.origin] { sendControl(.pong, payload: [], to: l) }
        case .pong:
            controlSequence[envelope.origin] = envelope.sequence
        case .sync:
            let entries = try payload.withUnsafeBytes { b in Result { () throws(RejectionReason) in try SyncPayload.decode(b) } }.get()
            controlSequence[envelope.origin] = envelope.sequence
            if let l = links[envelope.origin] { answerSync(entries, to: l) }
        case .update:
            let update = VerifiedUpdate(
                origin: envelope.origin, round: envelope.round, sequence: envelope.sequence,
                digest: envelope.payloadDigest, payload: Payload(payload), envelope: envelope)
            store(update, via: senderKey, named: senderName)
        }
    }

    private func reject(_ reason: RejectionReason, from senderName: String) {
        shared.locked { $0.counters.rejections[reason, default: 0] += 1 }
        if logged.insert("\(senderName)|\(reason)").inserted {
            log.warning("refused a message", metadata: ["from": "\(senderName)", "reason": "\(reason)"])
        }
    }

    private func store(_ update: VerifiedUpdate, via senderKey: PublicKey?, named senderName: String) {
        held[update.origin] = update
        shared.locked {
            $0.latest[update.origin] = update
            $0.counters.updatesAccepted += 1
        }
        observer?(.update(update, via: senderKey == nil ? nil : senderName))
        let ttl = update.envelope.ttl
        guard ttl > 0 else { return }
        for l in links.values where l.state != .gone && l.member.publicKey != senderKey && l.member.publicKey != update.origin {
            sendUpdate(update, ttl: ttl - 1, to: l)
            shared.locked { $0.counters.updatesRelayed += 1 }
        }
    }

    private func hello(from origin: PublicKey, endpoint: String) {
        let link: Link
        if let l = links[origin] {
            link = l
        } else {
            // A member that greets us becomes a neighbour: our replies need a DEALER to it.
            link = Link(member: members[origin]!, backoff: UInt64(config.reconnectMilliseconds))
            links[origin] = link
            link.lastHeard = monotonicMilliseconds()
            setState(link, .alive)
        }
        if link.endpoint != endpoint || link.dealer == nil {
            do { try connect(link, to: endpoint) } catch {
                log.error("cannot connect", metadata: ["peer": "\(link.name)", "endpoint": "\(endpoint)", "error": "\(error)"])
                return
            }
            greet(link)
        }
    }

    /// Every held update `entries` shows the asker lacks, with TTL 0: it was missed by
    /// the asker alone.
    private func answerSync(_ entries: [HeldVersion], to link: Link) {
        let has = Dictionary(entries.map { ($0.origin, $0) }, uniquingKeysWith: { a, _ in a })
        for (origin, update) in held where origin != link.member.publicKey {
            if let h = has[origin], !h.isOlder(thanRound: update.round, sequence: update.sequence) { continue }
            sendUpdate(update, ttl: 0, to: link)
            shared.locked { $0.counters.updatesRelayed += 1 }
        }
    }

    // MARK: Liveness

    private func heard(_ key: PublicKey) {
        guard let l = links[key] else { return }
        l.lastHeard = monotonicMilliseconds()
        if l.state != .alive {
            setState(l, .alive)
            l.helloBackoff = UInt64(config.reconnectMilliseconds)
            // It is back (or new): tell it who we are and ask for what we missed.
            greet(l)
        }
    }

    private func heartbeat() {
        let now = monotonicMilliseconds()
        let hb = UInt64(config.heartbeatMilliseconds)
        for l in links.values {
            if let h = l.lastHeard {
                let missed = (now - min(now, h)) / hb
                let s: PeerState = missed >= UInt64(config.livenessIntervals) ? .gone : missed >= 2 ? .suspect : .alive
                if s != l.state { setState(l, s) }
                if s == .gone { l.queue.removeAll() }
            }
            guard l.dealer != nil else { continue }
            if l.state != .alive && now >= l.nextHello {
                // Re-HELLO with backoff until it answers; the DEALER reconnects on its own
                // schedule (ZMQ_RECONNECT_IVL .. ZMQ_RECONNECT_IVL_MAX).
                sendControl(.hello, payload: HelloPayload.encode(endpoint: boundEndpoint), to: l)
                l.nextHello = now + l.helloBackoff
                l.helloBackoff = min(l.helloBackoff * 2, UInt64(config.reconnectMaxMilliseconds))
            } else if now - min(now, l.lastSent) >= hb {
                sendControl(.ping, payload: [], to: l)
            }
        }
    }

    private func setState(_ l: Link, _ s: PeerState) {
        let old = l.state
        l.state = s
        publishPeers()
        if s != old {
            log.info("peer state", metadata: ["peer": "\(l.name)", "from": "\(old)", "to": "\(s)"])
            observer?(.peer(name: l.name, state: s))
        }
    }

    private func publishPeers() {
        let snapshot = Dictionary(
            uniqueKeysWithValues: links.values.map {
                ($0.name, PeerStatus(name: $0.name, publicKey: $0.member.publicKey, endpoint: $0.endpoint, state: $0.state))
            })
        shared.locked { $0.peers = snapshot }
    }

    // MARK: Sending

    private func connect(_ link: Link, to endpoint: String) throws(ZMQError) {
        if let d = link.dealer { d.close() }
        link.dealer = nil
        link.queue.removeAll()
        let d = try ZMQSocket(context, type: .dealer)
        do {
            try d.set(.routingID, me.bytes)
            try d.set(.sendHighWaterMark, 16)
            try d.set(.reconnectIntervalMilliseconds, Int32(config.reconnectMilliseconds))
            try d.set(.reconnectIntervalMaxMilliseconds, Int32(config.reconnectMaxMilliseconds))
            if config.socketBufferBytes > 0 { try d.set(.sendBufferBytes, config.socketBufferBytes) }
            if config.curve {
                do {
                    try d.setCurveClient(try config.keys.curveKeyPair(), serverPublicKey: try link.member.publicKey.curvePublicKey())
                } catch let e as ZMQError { throw e } catch {
                    throw ZMQError(function: "zmq_setsockopt", code: EINVAL)
                }
            }
            try d.connect(endpoint)
        } catch let e as ZMQError {
            d.close()
            throw e
        } catch {
            d.close()
            throw ZMQError(function: "zmq_connect", code: EINVAL)
        }
        link.dealer = d
        link.endpoint = endpoint
        publishPeers()
    }

    /// HELLO then SYNC: our endpoint, and what we hold, so it sends what we lack.
    private func greet(_ l: Link) {
        sendControl(.hello, payload: HelloPayload.encode(endpoint: boundEndpoint), to: l)
        sendControl(.sync, payload: SyncPayload.encode(held.values.map(\.version)), to: l)
    }

    private func sendControl(_ kind: EnvelopeKind, payload: [UInt8], to l: Link) {
        guard
            let envelope = try? SignedEnvelope.sign(
                kind: kind, round: 0, sequence: shared.nextSequence(), ttl: 0, payload: payload, by: config.keys),
            let h = try? ZMQMessage(bytes: envelope.encodeHeaderFrame()),
            let p = try? ZMQMessage(bytes: payload)
        else { return }
        // Control messages are never worth queueing behind a full link: the next
        // heartbeat sends a fresh one.
        send([h, p], to: l, queueIfFull: false)
    }

    private func sendUpdate(_ update: VerifiedUpdate, ttl: UInt8, to l: Link) {
        guard let h = try? ZMQMessage(bytes: update.envelope.relayed(ttl: ttl).encodeHeaderFrame()),
            let p = try? update.payload.frame()
        else { return }
        send([h, p], to: l, queueIfFull: true)
    }

    private func send(_ frames: [ZMQMessage], to l: Link, queueIfFull: Bool) {
        guard let d = l.dealer else { return }
        let bytes = frames.reduce(0) { $0 + $1.count }
        if l.queue.isEmpty, (try? d.send(multipart: frames, flags: .dontWait)) == true {
            sent(bytes, to: l)
            return
        }
        guard queueIfFull else {
            shared.locked { $0.counters.peers[l.name, default: PeerCounters()].dropped += 1 }
            return
        }
        if l.queue.count >= config.maxQueuedPerPeer {
            l.queue.removeFirst()
            shared.locked { $0.counters.peers[l.name, default: PeerCounters()].dropped += 1 }
        }
        l.queue.append(frames)
    }

    private func flushQueues() {
        for l in links.values where !l.queue.isEmpty {
            guard let d = l.dealer else { continue }
            while let frames = l.queue.first {
                guard (try? d.send(multipart: frames, flags: .dontWait)) == true else { break }
                l.queue.removeFirst()
                sent(frames.reduce(0) { $0 + $1.count }, to: l)
            }
        }
    }

    private func sent(_ bytes: Int, to l: Link) {
        l.lastSent = monotonicMilliseconds()
        shared.locked {
            $0.counters.peers[l.name, default: PeerCounters()].messagesOut += 1
            $0.counters.peers[l.name, default: PeerCounters()].bytesOut += bytes
        }
    }
}
