import Foundation
import Testing

@testable import Gossip

/// A unique ipc:// path under the temporary folder (short: Unix socket paths are limited).
func temporaryIPCEndpoint() -> String {
    "ipc:///tmp/starling-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
}

@Suite struct ZeroMQRoundTripTests {
    /// DEALER sends [payload]; ROUTER gets [identity, payload] and replies; DEALER gets the reply.
    func roundTrip(endpoint: String) throws {
        let ctx = try ZMQContext()
        let router = try ZMQSocket(ctx, type: .router)
        defer { router.close() }
        try router.set(.receiveTimeoutMilliseconds, 5000)
        try router.bind(endpoint)
        let bound = try router.lastEndpoint
        let dealer = try ZMQSocket(ctx, type: .dealer)
        defer { dealer.close() }
        try dealer.set(.receiveTimeoutMilliseconds, 5000)
        try dealer.set(.routingID, Array("dealer-1".utf8))
        try dealer.connect(bound)

        let big = [UInt8]((0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        try dealer.send(multipart: [Array("hello".utf8), big])
        let got = try #require(try router.receiveMultipart())
        #expect(got.count == 3)
        #expect(got[0].bytes == Array("dealer-1".utf8))
        #expect(got[1].bytes == Array("hello".utf8))
        #expect(got[2].count == big.count)
        #expect(got[2].withUnsafeBytes { $0.elementsEqual(big) })

        try router.send(multipart: [got[0].bytes, Array("reply".utf8)])
        let reply = try #require(try dealer.receiveMultipart())
        #expect(reply.map(\.bytes) == [Array("reply".utf8)])
    }

    @Test func routerDealerOverTCP() throws {
        try roundTrip(endpoint: "tcp://127.0.0.1:*")
    }

    @Test func routerDealerOverIPC() throws {
        try roundTrip(endpoint: temporaryIPCEndpoint())
    }

    @Test func routerDealerOverInproc() throws {
        try roundTrip(endpoint: "inproc://round-trip-\(UUID())")
    }

    @Test func nonBlockingReceiveOnEmptySocketReturnsNil() throws {
        let ctx = try ZMQContext()
        let s = try ZMQSocket(ctx, type: .dealer)
        defer { s.close() }
        try s.bind("inproc://empty-\(UUID())")
        #expect(try s.receiveMultipart(flags: .dontWait) == nil)
    }

    @Test func bindingToAnInvalidEndpointThrowsTypedError() throws {
        let ctx = try ZMQContext()
        let s = try ZMQSocket(ctx, type: .router)
        defer { s.close() }
        #expect(throws: ZMQError(function: "zmq_bind", code: EPROTONOSUPPORT)) {
            try s.bind("nosuch://x")
        }
        let closed = try ZMQSocket(ctx, type: .router)
        closed.close()
        #expect(throws: ZMQError(function: "zmq_bind", code: ENOTSOCK)) { try closed.bind("inproc://x") }
    }

    @Test func pollerReportsReadableSocket() throws {
        let ctx = try ZMQContext()
        let a = try ZMQSocket(ctx, type: .pair)
        let b = try ZMQSocket(ctx, type: .pair)
        defer { a.close(); b.close() }
        let ep = "inproc://poll-\(UUID())"
        try a.bind(ep)
        try b.connect(ep)
        var poller = ZMQPoller()
        poller.add(a)
        #expect(try poller.poll(timeoutMilliseconds: 10) == [])
        try b.send(Array("x".utf8))
        #expect(try poller.poll(timeoutMilliseconds: 5000) == [0])
        #expect(try a.receiveMessage()?.bytes == Array("x".utf8))
    }

    @Test func maxMessageSizeDropsOversizedFrames() throws {
        let ctx = try ZMQContext()
        let router = try ZMQSocket(ctx, type: .router)
        defer { router.close() }
        try router.set(.maxMessageSize, 1024)
        #expect(try router.get(.maxMessageSize) == 1024)
        try router.set(.receiveTimeoutMilliseconds, 300)
        try router.bind("tcp://127.0.0.1:*")
        let dealer = try ZMQSocket(ctx, type: .dealer)
        defer { dealer.close() }
        try dealer.connect(try router.lastEndpoint)
        try dealer.send([UInt8](repeating: 1, count: 4096))
        #expect(try router.receiveMultipart() == nil)
    }
}

@Suite struct CurveTests {
    /// A ROUTER CURVE server and a DEALER CURVE client whose keys derive from Ed25519
    /// identities; the client expects `expectedServer`'s key.
    func exchange(server: SigningKeyPair, expectedServer: SigningKeyPair) throws -> [UInt8]? {
        #expect(ZMQContext.hasCurve)
        let ctx = try ZMQContext()
        let router = try ZMQSocket(ctx, type: .router)
        defer { router.close() }
        try router.setCurveServer(try server.curveKeyPair())
        try router.set(.receiveTimeoutMilliseconds, 1500)
        try router.bind("tcp://127.0.0.1:*")

        let client = try SigningKeyPair()
        let dealer = try ZMQSocket(ctx, type: .dealer)
        defer { dealer.close() }
        try dealer.setCurveClient(try client.curveKeyPair(), serverPublicKey: try expectedServer.publicKey.curvePublicKey())
        try dealer.set(.sendTimeoutMilliseconds, 200)
        try dealer.connect(try router.lastEndpoint)
        // A DEALER queues until the handshake completes; with a wrong key it never does.
        _ = try dealer.send(Array("secret".utf8), flags: .dontWait)
        return try router.receiveMultipart()?.last?.bytes
    }

    @Test func convertedKeysCompleteACurveHandshake() throws {
        let server = try SigningKeyPair()
        #expect(try exchange(server: server, expectedServer: server) == Array("secret".utf8))
    }

    @Test func clientWithWrongServerKeyGetsNoMessageThrough() throws {
        let start = Date()
        #expect(try exchange(server: try SigningKeyPair(), expectedServer: try SigningKeyPair()) == nil)
        #expect(Date().timeIntervalSince(start) < 10)
    }
}
