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
    /// When HELLO and SYNC were last sent as a greeting (not the backoff re-HELLOs).
    var lastGreeted: UInt64?
    /// A SYNC is owed to this neighbour; it leaves once the last one is a window old.
    var syncPending = false
    var lastSyncSent: UInt64?
    /// The publisher's chunks still to send again to this neighbour (it came back),
    /// sent as the link's queue drains.
    var chunkBacklog: [VerifiedUpdate] = []
    /// When the chunks were last queued again for it.
    var lastChunkResend: UInt64?

    init(member: Member, backoff: UInt64) {
        self.member = member
        endpoint = member.endpoint
        helloBackoff = backoff
    }

    var name: String { member.name }
}

final class MeshLoop: @unchecked Sendable {
    static func zapDomain(for key: PublicKey) -> String { "starling/" + key.description }
    /// Random bytes after the key in each DEALER's routing id.
    static let routingNonceByteCount = 16

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
    /// The latest update per origin the payload validator refused: the same one again,
    /// by another path or a SYNC answer, is `replayed` and costs no second reading.
    private var refused: [PublicKey: HeldVersion] = [:]
    /// The chunks this node published since its last `replacing` publish: sent again to
    /// a neighbour that greets it anew.
    private var ownChunks: [VerifiedUpdate] = []
    /// Digests of the chunks accepted lately (a relayed or resent copy is dropped).
    private var seenChunks = Set<[UInt8]>()
    private var seenChunkOrder: [[UInt8]] = []
    static let seenChunkLimit = 1 << 16
    /// What a CURVE MESSAGE command adds to a frame on the wire (command name, nonce,
    /// flags, MAC: 33 bytes), rounded up.
    static let curveBoxBytes = 64
    /// When a SYNC of each origin was last answered.
    private var syncAnswered: [PublicKey: UInt64] = [:]
    /// Peers whose traffic is dropped both ways (fault injection), as last read.
    private var blocked = Set<PublicKey>()
    /// When the loop started: a neighbour never heard from is silent since then.
    private var startedAt: UInt64 = monotonicMilliseconds()
    /// The liveness window in milliseconds: silence that makes a peer gone, and the
    /// least time between two SYNCs of one peer that are answered.
    private var window: UInt64 { UInt64(config.livenessIntervals) * UInt64(config.heartbeatMilliseconds) }
    /// The least time between two greetings this node sends one neighbour: a heartbeat
    /// more than the window, so that jitter never makes the receiver's limit refuse one.
    private var greetSpacing: UInt64 { window + UInt64(config.heartbeatMilliseconds) }
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
            // A peer that reconnects with its routing id takes it over. Starling's DEALERs
            // end their routing id with a nonce of their own (see `connect`), which no other
            // member learns, so no second connection can take a live link's id over.
            try router.set(.routerHandover, 1)
            // ZMTP heartbeats drop the connection of a peer that vanished within one
            // liveness window, rather than holding it until TCP gives up.
            let window = Int32(clamping: config.livenessIntervals * config.heartbeatMilliseconds)
            try router.set(.heartbeatIntervalMilliseconds, Int32(clamping: config.heartbeatMilliseconds))
            try router.set(.heartbeatTimeoutMilliseconds, window)
            // libzmq measures a CURVE message as it travels, boxed: the largest payload
            // must fit with the box around it (a longer payload is refused as oversized
            // by the declared length before it is read).
            try router.set(.maxMessageSize, Int64(config.maxPayloadBytes + (config.curve ? Self.curveBoxBytes : 0)))
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
        startedAt = nextTick
        for l in links.values where l.dealer != nil { greet(l) }
        var poller = ZMQPoller()
        poller.add(router)
        poller.add(wake)
        loop: while true {
            let now = monotonicMilliseconds()
            let untilTick = nextTick > now ? Int(nextTick - now) : 0
            let backlog = links.values.contains { !$0.queue.isEmpty || !$0.chunkBacklog.isEmpty }
            _ = try? poller.poll(timeoutMilliseconds: backlog ? min(1, untilTick) : untilTick)
            // Drain input in bounded batches so timers and commands keep their turn.
            for _ in 0..<64 {
                guard let frames = try? router.receiveMultipart(flags: .dontWait) else { break }
                receive(frames)
            }
            while (try? wake.receiveMessage(flags: .dontWait)) != nil {}
            blocked = shared.locked { $0.blocked }
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
            case .publishChunk(let chunk, let replacing):
                if replacing { ownChunks.removeAll() }
                ownChunks.append(chunk)
                shared.locked { $0.pendingPublishes -= 1 }
                for l in links.values where l.state != .gone {
                    sendUpdate(chunk, ttl: config.ttl, to: l)
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
        var claimsAnotherLink = false
        if config.curve && !inproc {
            // The ROUTER's routing-id frame carries no metadata; the peer's frames do.
            senderKey = frames.last?.property("User-Id").flatMap { PublicKey(text: $0) }
            // The routing id must start with the authenticated key: anything else is a
            // link posing as another member's.
            if let k = senderKey, frames.first.map({ MeshLoop.claimedKey(routingID: $0.bytes) != k }) ?? true {
                claimsAnotherLink = true
            }
        } else if let id = frames.first {
            senderKey = MeshLoop.claimedKey(routingID: id.bytes)
        }
        if let k = senderKey, members[k] == nil { senderKey = nil }
        if let k = senderKey, blocked.contains(k) {
            shared.locked { $0.counters.blockedDrops += 1 }
            return
        }
        let senderName = senderKey.flatMap { members[$0]?.name } ?? "?"
        shared.locked {
            $0.counters.peers[senderName, default: PeerCounters()].messagesIn += 1
            $0.counters.peers[senderName, default: PeerCounters()].bytesIn += bytes
        }
        if claimsAnotherLink { return reject(.linkMismatch, from: senderName) }
        do {
            try accept(frames, from: senderKey, named: senderName)
        } catch {
            reject(error, from: senderName)
        }
    }

    /// The key a routing id claims: its first 32 bytes, when it is 32 to 64 bytes long
    /// (a key, then the connection's nonce if the peer adds one).
    static func claimedKey(routingID id: [UInt8]) -> PublicKey? {
        guard id.count >= PublicKey.byteCount, id.count <= 2 * PublicKey.byteCount else { return nil }
        return try? PublicKey(bytes: Array(id.prefix(PublicKey.byteCount)))
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
        // A copy of the held version with more TTL left: it came by a shorter path than the
        // first copy, which arrived by a longer one and stopped short of the nodes within
        // the origin's reach. Relay it as far as it can still go.
        var raisesTTL = false
        switch envelope.kind {
        case .chunk:
            guard envelope.origin == config.chunkPublisher else { throw .notPublisher }
        case .update:
            if let h = held[envelope.origin], !h.version.isOlder(thanRound: envelope.round, sequence: envelope.sequence) {
                guard h.round == envelope.round, h.sequence == envelope.sequence, h.digest == envelope.payloadDigest,
                      envelope.ttl > h.envelope.ttl
                else { throw .replayed }
                raisesTTL = true
            }
            if let r = refused[envelope.origin], !r.isOlder(thanRound: envelope.round, sequence: envelope.sequence) {
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
            let now = monotonicMilliseconds()
            if let last = syncAnswered[envelope.origin], now - min(now, last) < window { throw .rateLimited }
            controlSequence[envelope.origin] = envelope.sequence
            if let l = links[envelope.origin] {
                syncAnswered[envelope.origin] = now
                answerSync(entries, to: l)
            }
        case .update where raisesTTL:
            relayFurther(envelope, from: senderKey)
        case .update:
            if let validate = config.payloadValidator, let why = payload.withUnsafeBytes({ validate($0) }) {
                let name = members[envelope.origin]?.name ?? "?"
                refused[envelope.origin] = HeldVersion(origin: envelope.origin, round: envelope.round, sequence: envelope.sequence)
                shared.locked {
                    let count = ($0.counters.payloadRefusals[name]?.count ?? 0) + 1
                    $0.counters.payloadRefusals[name] = PayloadRefusal(count: count, round: envelope.round, reason: why)
                }
                if logged.insert("\(name)|payload|\(why)").inserted {
                    log.warning("refused an unreadable payload", metadata: ["origin": "\(name)", "round": "\(envelope.round)", "why": "\(why)"])
                }
                throw .unreadablePayload
            }
            let update = VerifiedUpdate(
                origin: envelope.origin, round: envelope.round, sequence: envelope.sequence,
                digest: envelope.payloadDigest, payload: Payload(payload), envelope: envelope)
            store(update, via: senderKey, named: senderName)
        case .chunk:
            guard envelope.origin != me, seenChunks.insert(envelope.payloadDigest).inserted else {
                shared.locked { $0.counters.chunkDuplicates += 1 }
                return
            }
            seenChunkOrder.append(envelope.payloadDigest)
            if seenChunkOrder.count > Self.seenChunkLimit { seenChunks.remove(seenChunkOrder.removeFirst()) }
            let chunk = VerifiedUpdate(
                origin: envelope.origin, round: envelope.round, sequence: envelope.sequence,
                digest: envelope.payloadDigest, payload: Payload(payload), envelope: envelope)
            shared.locked {
                $0.chunks.append(chunk)
                $0.counters.chunksAccepted += 1
            }
            let ttl = envelope.ttl
            guard ttl > 0 else { return }
            for l in links.values where l.state != .gone && l.member.publicKey != senderKey && l.member.publicKey != envelope.origin {
                sendUpdate(chunk, ttl: ttl - 1, to: l)
            }
        }
    }

    /// Queues this node's chunks again for `l`, at most once per liveness window: it
    /// greeted us anew, so it may have lost what it had (a restart).
    private func resendChunks(to l: Link) {
        guard !ownChunks.isEmpty else { return }
        let now = monotonicMilliseconds()
        if let last = l.lastChunkResend, now - min(now, last) < window { return }
        l.lastChunkResend = now
        l.chunkBacklog = ownChunks
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

    /// Keeps the held update with the TTL of `envelope` (the same version, with more left
    /// to go) and relays it on, as its first arrival would have with this TTL. Each node
    /// raises an update's TTL only upwards, so this ends.
    private func relayFurther(_ envelope: SignedEnvelope, from senderKey: PublicKey?) {
        guard let h = held[envelope.origin] else { return }
        let update = VerifiedUpdate(
            origin: h.origin, round: h.round, sequence: h.sequence, digest: h.digest, payload: h.payload, envelope: envelope)
        held[update.origin] = update
        shared.locked { $0.latest[update.origin] = update }
        guard envelope.ttl > 0 else { return }
        for l in links.values where l.state != .gone && l.member.publicKey != senderKey && l.member.publicKey != update.origin {
            sendUpdate(update, ttl: envelope.ttl - 1, to: l)
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
            greet(link, force: true)
            resendChunks(to: link)
        } else {
            // It greets us although we hear it: it may have taken us for gone. Greet back
            // (spaced), so that it learns we are here and we learn what we missed.
            greet(link)
        }
    }

    /// Every held update `entries` shows the asker lacks, with TTL 0: it was missed by
    /// the asker alone. Newest rounds first, within `syncAnswerBudgetBytes`.
    private func answerSync(_ entries: [HeldVersion], to link: Link) {
        let has = Dictionary(entries.map { ($0.origin, $0) }, uniquingKeysWith: { a, _ in a })
        let lacking = held.values.filter { u in
            guard u.origin != link.member.publicKey else { return false }
            // Only what relay would have brought the asker: an update that arrived here
            // with no TTL left stops here, or SYNC would carry it a hop past its TTL.
            guard u.origin == me || u.envelope.ttl > 0 else { return false }
            if let h = has[u.origin], !h.isOlder(thanRound: u.round, sequence: u.sequence) { return false }
            return true
        }.sorted { ($0.round, $0.sequence) > ($1.round, $1.sequence) }
        var budget = config.syncAnswerBudgetBytes
        var trimmed = false
        for update in lacking {
            guard update.payload.count <= budget else {
                trimmed = true
                continue
            }
            budget -= update.payload.count
            sendUpdate(update, ttl: 0, to: link)
            shared.locked { $0.counters.updatesRelayed += 1 }
        }
        if trimmed { shared.locked { $0.counters.syncAnswersTrimmed += 1 } }
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
            resendChunks(to: l)
        }
    }

    private func heartbeat() {
        let now = monotonicMilliseconds()
        let hb = UInt64(config.heartbeatMilliseconds)
        for l in links.values {
            // A neighbour never heard from has been silent since the node started: after
            // one window it is gone, and nobody waits for it any longer.
            let heard = l.lastHeard ?? startedAt
            let missed = (now - min(now, heard)) / hb
            var s: PeerState = missed >= UInt64(config.livenessIntervals) ? .gone : missed >= 2 ? .suspect : .alive
            if l.lastHeard == nil && s != .gone { s = .connecting }
            if s != l.state { setState(l, s) }
            if s == .gone {
                l.queue.removeAll()
                l.chunkBacklog.removeAll()
            }
            guard l.dealer != nil else { continue }
            sendPendingSync(l, now: now)
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
            // The key says who claims the link; the nonce makes this connection's routing id
            // one nobody else can claim, so the ROUTER's handover never hands a live
            // link to another connection (under CURVE the key is also checked).
            try d.set(.routingID, me.bytes + Sodium.randomBytes(MeshLoop.routingNonceByteCount))
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

    /// HELLO then SYNC: our endpoint, and what we hold, so it sends what we lack. At
    /// most once per `greetSpacing` unless `force` (a new DEALER must introduce itself);
    /// the SYNC itself always keeps that spacing, and waits for it if need be.
    private func greet(_ l: Link, force: Bool = false) {
        let now = monotonicMilliseconds()
        if !force, let g = l.lastGreeted, now - min(now, g) < greetSpacing { return }
        l.lastGreeted = now
        sendControl(.hello, payload: HelloPayload.encode(endpoint: boundEndpoint), to: l)
        l.syncPending = true
        sendPendingSync(l, now: now)
    }

    private func sendPendingSync(_ l: Link, now: UInt64) {
        guard l.syncPending else { return }
        if let s = l.lastSyncSent, now - min(now, s) < greetSpacing { return }
        l.syncPending = false
        l.lastSyncSent = now
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
        if blocked.contains(l.member.publicKey) {
            shared.locked { $0.counters.blockedDrops += 1 }
            return
        }
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
        // Chunks sent again go out as the link keeps up, never overflowing its queue.
        for l in links.values where !l.chunkBacklog.isEmpty && l.state != .gone && l.queue.count < 2 {
            while !l.chunkBacklog.isEmpty && l.queue.count < 2 {
                sendUpdate(l.chunkBacklog.removeFirst(), ttl: 0, to: l)
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
