import Foundation
import Gossip
import Testing

@testable import Node

@Suite struct ControlEndpointTests {
    @Test func answersRequestsWithHandlerReply() throws {
        let ctx = try ZMQContext()
        let server = try ControlServer(context: ctx) { request in
            Data(#"{"echo":"\#(request.command)"}"#.utf8)
        }
        defer { server.stop() }
        #expect(server.endpoint.hasPrefix("tcp://127.0.0.1:"))
        for command in ["status", "trust", "history"] {
            let reply = try #require(try ControlClient.ask(.init(command: command), endpoint: server.endpoint, context: ctx))
            #expect(String(decoding: reply, as: UTF8.self) == #"{"echo":"\#(command)"}"#)
        }
    }

    @Test func malformedRequestGetsAnErrorReply() throws {
        let ctx = try ZMQContext()
        let server = try ControlServer(context: ctx) { _ in Data("{}".utf8) }
        defer { server.stop() }
        let s = try ZMQSocket(ctx, type: .req)
        defer { s.close() }
        try s.set(.receiveTimeoutMilliseconds, 2000)
        try s.connect(server.endpoint)
        try s.send(Array("not json".utf8))
        let reply = try #require(try s.receiveMultipart()?.last?.bytes)
        #expect(String(decoding: reply, as: UTF8.self).hasPrefix(#"{"error":"expected a JSON object"#))
    }

    @Test func askingAStoppedNodeTimesOutWithNil() throws {
        let ctx = try ZMQContext()
        let server = try ControlServer(context: ctx) { _ in Data("{}".utf8) }
        let endpoint = server.endpoint
        server.stop()
        let start = Date()
        #expect(try ControlClient.ask(.init(command: "status"), endpoint: endpoint, context: ctx, timeoutMilliseconds: 200) == nil)
        #expect(Date().timeIntervalSince(start) < 5)
    }
}
