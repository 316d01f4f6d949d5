// ZAPAuthenticator: admission at the transport. libzmq asks the ZAP handler bound at
// inproc://zeromq.zap.01 of a context whether each CURVE client may connect (ZAP 1.0,
// RFC 27). A context has one handler, and many nodes may share a context (inproc
// experiments), so each node's ROUTER sets its own ZAP domain and the handler admits a
// client only if its CURVE key belongs to a member of that domain's topology. The
// User-Id it returns is the member's Ed25519 key in hex, which the ROUTER then reads
// from every frame to know who sent it.

import Foundation
import Logging

final class ZAPAuthenticator: @unchecked Sendable {
    static let endpoint = "inproc://zeromq.zap.01"

    // Handlers per context, created by the first node registering on a context and
    // stopped when the last one leaves (a live socket would hang zmq_ctx_term).
    nonisolated(unsafe) private static var handlers: [ObjectIdentifier: ZAPAuthenticator] = [:]
    private static let registryLock = NSLock()

    private let context: ZMQContext
    private let lock = NSLock()
    /// domain → (X25519 client key → Ed25519 key hex)
    private var domains: [String: [[UInt8]: String]] = [:]
    /// domain → refusals counted for it
    private var refusals: [String: Int] = [:]
    private var loggedRefusals = Set<[UInt8]>()
    private var stopping = false
    private var thread: Thread?
    private let done = DispatchSemaphore(value: 0)
    private let log = Logger(label: "starling.gossip.zap")

    private init(context: ZMQContext) { self.context = context }

    /// Admits, for `domain`, the CURVE clients whose keys derive from `members`. Starts the
    /// context's handler if none runs yet.
    static func register(domain: String, members: [PublicKey], in context: ZMQContext) throws {
        var admitted: [[UInt8]: String] = [:]
        for m in members { admitted[try m.curvePublicKey()] = m.description }
        registryLock.lock()
        defer { registryLock.unlock() }
        let id = ObjectIdentifier(context)
        let handler: ZAPAuthenticator
        if let h = handlers[id] {
            handler = h
        } else {
            handler = ZAPAuthenticator(context: context)
            try handler.start()
            handlers[id] = handler
        }
        handler.lock.lock()
        handler.domains[domain] = admitted
        handler.lock.unlock()
    }

    /// Stops admitting for `domain`; the last domain of a context stops its handler.
    static func unregister(domain: String, in context: ZMQContext) {
        registryLock.lock()
        defer { registryLock.unlock() }
        let id = ObjectIdentifier(context)
        guard let handler = handlers[id] else { return }
        handler.lock.lock()
        handler.domains[domain] = nil
        handler.refusals[domain] = nil
        let empty = handler.domains.isEmpty
        handler.lock.unlock()
        if empty {
            handler.stop()
            handlers[id] = nil
        }
    }

    /// Connections refused so far for `domain`.
    static func refusals(domain: String, in context: ZMQContext) -> Int {
        registryLock.lock()
        let handler = handlers[ObjectIdentifier(context)]
        registryLock.unlock()
        guard let handler else { return 0 }
        handler.lock.lock()
        defer { handler.lock.unlock() }
        return handler.refusals[domain] ?? 0
    }

    private func start() throws {
        // Bind before any ROUTER of this context accepts a connection: a CURVE server
        // with a ZAP domain and no handler would refuse every client.
        let socket = try ZMQSocket(context, type: .rep)
        try socket.set(.receiveTimeoutMilliseconds, 50)
        do { try socket.bind(Self.endpoint) } catch {
            socket.close()
            throw error
        }
        let t = Thread { [self] in
            serve(socket)
            socket.close()
            done.signal()
        }
        t.name = "starling.zap"
        thread = t
        t.start()
    }

    private func stop() {
        lock.lock()
        stopping = true
        lock.unlock()
        done.wait()
    }

    private func serve(_ socket: ZMQSocket) {
        while true {
            lock.lock()
            let quit = stopping
            lock.unlock()
            if quit { return }
            guard let request = try? socket.receiveMultipart() else { continue }
            let reply = answer(request.map(\.bytes))
            _ = try? socket.send(multipart: reply)
        }
    }

    /// ZAP 1.0 request: version, request id, domain, address, routing id, mechanism,
    /// credentials. Reply: version, request id, status code, status text, user id, metadata.
    private func answer(_ f: [[UInt8]]) -> [[UInt8]] {
        let version = Array("1.0".utf8)
        guard f.count >= 6, f[0] == version else {
            return [version, f.count > 1 ? f[1] : [], Array("500".utf8), Array("bad request".utf8), [], []]
        }
        let domain = String(decoding: f[2], as: UTF8.self)
        let mechanism = String(decoding: f[5], as: UTF8.self)
        lock.lock()
        defer { lock.unlock() }
        if mechanism == "CURVE", f.count == 7, let member = domains[domain]?[f[6]] {
            return [version, f[1], Array("200".utf8), Array("OK".utf8), Array(member.utf8), []]
        }
        refusals[domain, default: 0] += 1
        let key = f.count == 7 ? f[6] : []
        if loggedRefusals.insert(key).inserted {
            log.warning(
                "refused a connection",
                metadata: [
                    "domain": "\(domain)", "mechanism": "\(mechanism)",
                    "address": "\(String(decoding: f[3], as: UTF8.self))", "curveKey": "\(Hex.encode(key))",
                ])
        }
        return [version, f[1], Array("400".utf8), Array("not a member".utf8), [], []]
    }
}
