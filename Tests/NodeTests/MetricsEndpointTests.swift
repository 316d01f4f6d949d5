import Foundation
import Gossip
import Testing

@testable import Node

#if canImport(Glibc)
    import Glibc
#endif

/// One HTTP/1.0 request to 127.0.0.1:`port`; the status line and the body, or nil when
/// nothing listens.
func httpGet(port: Int, path: String) -> (status: String, body: String)? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var timeout = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var sa = sockaddr_in()
    sa.sin_family = sa_family_t(AF_INET)
    sa.sin_port = in_port_t(UInt16(port).bigEndian)
    sa.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &sa) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { return nil }
    let request = Array("GET \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".utf8)
    guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == request.count else { return nil }
    var reply: [UInt8] = [], chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        reply += chunk[0..<n]
    }
    let text = String(decoding: reply, as: UTF8.self)
    guard let split = text.range(of: "\r\n\r\n") else { return nil }
    let head = text[..<split.lowerBound]
    return (String(head[..<(head.range(of: "\r\n")?.lowerBound ?? head.endIndex)]), String(text[split.upperBound...]))
}

/// Prometheus text exposition, read back: the type of each metric family and every
/// sample as (name, labels, value).
struct Exposition {
    var types: [String: String] = [:]
    var samples: [(name: String, labels: [String: String], value: Double)] = []

    init(_ text: String) throws {
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                try #require(parts.count == 4, "TYPE line \(line)")
                types[String(parts[2])] = String(parts[3])
                continue
            }
            if line.hasPrefix("#") { continue }
            let match = try #require(
                line.wholeMatch(of: /([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)/), "not a sample: \(line)")
            var labels: [String: String] = [:]
            for pair in (match.2.map(String.init) ?? "").matches(of: /([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"/) {
                labels[String(pair.1)] = String(pair.2)
            }
            samples.append((String(match.1), labels, try #require(Double(String(match.3)), "value of \(line)")))
        }
    }

    /// The value of the one sample of `name` whose labels include `labels`.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        let hits = samples.filter { s in s.name == name && labels.allSatisfy { s.labels[$0.key] == $0.value } }
        return hits.count == 1 ? hits[0].value : nil
    }
}

@Suite(.serialized) struct MetricsEndpointTests {
    @Test func metricsAddressIsCheckedWithItsLine() {
        let text = """
            name = "m"
            [defaults]
            metrics = "127.0.0.1:9464"
            [[nodes]]
            name = "a"
            endpoint = "tcp://127.0.0.1:7101"
            metrics = "localhost:9464"
            [[nodes]]
            name = "b"
            endpoint = "tcp://127.0.0.1:7102"
            metrics = "127.0.0.1:70000"
            [[nodes]]
            name = "c"
            endpoint = "tcp://127.0.0.1:7103"
            """
        let (_, d) = TopologyParser.parse(text: text, path: "m.toml")
        #expect(d.map(\.line) == [7, 11])
        #expect(d.first?.message == "nodes[0].metrics: \"localhost\" is not an IPv4 address such as 127.0.0.1")
        #expect(d.last?.message == "nodes[1].metrics: port \"70000\" must be a number from 1 to 65535")
        let (ok, none) = TopologyParser.parse(text: text.replacingOccurrences(of: "localhost", with: "0.0.0.0")
            .replacingOccurrences(of: "70000", with: "9465"), path: "m.toml")
        #expect(none == [])
        #expect(ok?.nodes.map { $0.settings.metrics?.description } == ["0.0.0.0:9464", "127.0.0.1:9465", "127.0.0.1:9464"])
    }

    @Test func aRunningNodeServesPrometheusTextAndCountsABadMessage() throws {
        let context = try ZMQContext()
        let ports = try (0..<3).map { _ -> Int in
            let s = try ZMQSocket(context, type: .router)
            defer { s.close() }
            try s.bind("tcp://127.0.0.1:*")
            return Int(try s.lastEndpoint.split(separator: ":").last!)!
        }
        // Node a runs; its neighbour b never starts, so a goes on alone once b is gone.
        let t = try preparedTopology("""
            name = "scraped"
            sources = ["prose", "code"]
            [defaults]
            rounds = 40
            warmup_rounds = 1
            local_steps = 2
            batch_size = 2
            sequence_length = 16
            round_timeout_ms = 300
            heartbeat_ms = 50
            liveness = 2
            curve = false
            [[nodes]]
            name = "a"
            endpoint = "tcp://127.0.0.1:\(ports[0])"
            metrics = "127.0.0.1:\(ports[2])"
            [[nodes]]
            name = "b"
            endpoint = "tcp://127.0.0.1:\(ports[1])"
            """)
        let runtime = try NodeRuntime(topology: t, index: 0, context: context)
        let stop = StopRequest(), done = DispatchGroup()
        done.enter()
        let thread = Thread {
            _ = try? runtime.run(stop: stop)
            done.leave()
        }
        thread.stackSize = 8 << 20
        thread.start()
        defer {
            stop.request()
            _ = done.wait(timeout: .now() + 60)
        }

        func scrape() throws -> Exposition? {
            guard let (status, body) = httpGet(port: ports[2], path: "/metrics") else { return nil }
            #expect(status == "HTTP/1.0 200 OK")
            return try Exposition(body)
        }
        // Bounded: the endpoint answers, then two aggregation rounds complete.
        var first: Exposition?
        for _ in 0..<600 {
            if let e = try scrape(), (e.value("starling_round", ["node": "a"]) ?? 0) >= 3 {
                first = e
                break
            }
            usleep(100_000)
        }
        let e = try #require(first, "no round completed within a minute")
        #expect(e.types["starling_round"] == "gauge")
        #expect(e.types["starling_test_perplexity"] == "gauge")
        #expect(e.types["starling_rejections_total"] == "counter")
        #expect(e.types["starling_round_phase_seconds"] == "histogram")
        #expect(e.value("starling_rounds", ["node": "a"]) == 40)
        let ppl = try #require(e.value("starling_test_perplexity", ["node": "a"]))
        let loss = try #require(e.value("starling_test_loss", ["node": "a"]))
        #expect(ppl > 1 && abs(log(ppl) - loss) < 1e-9)
        // Alone, a keeps all its trust: self-weight 1, entropy 0.
        #expect(e.value("starling_trust_self_weight", ["node": "a"]) == 1)
        #expect(e.value("starling_trust_row_entropy", ["node": "a"]) == 0)
        // b was never heard from, so it is gone after the liveness window: one gauge per
        // state, 1 for the state it is in.
        #expect(e.value("starling_peer_state", ["node": "a", "peer": "b", "state": "gone"]) == 1)
        #expect(e.value("starling_peer_state", ["node": "a", "peer": "b", "state": "connecting"]) == 0)
        #expect(e.value("starling_peer_state", ["node": "a", "peer": "b", "state": "alive"]) == 0)
        #expect((e.value("starling_round_phase_seconds_count", ["node": "a", "phase": "training"]) ?? 0) >= 3)
        let reasons = e.samples.filter { $0.name == "starling_rejections_total" }
        #expect(reasons.count == RejectionReason.allCases.count && reasons.allSatisfy { $0.value == 0 })
        #expect(try #require(e.value("starling_phase", ["node": "a", "phase": "finished"])) == 0)

        // A stranger's DEALER sends a header too short to be one: counted as truncated.
        let dealer = try ZMQSocket(context, type: .dealer)
        defer { dealer.close() }
        try dealer.connect("tcp://127.0.0.1:\(ports[0])")
        try dealer.send(multipart: [[1, 2, 3], [4]])
        var after: Exposition?
        for _ in 0..<100 {
            if let e = try scrape(), e.value("starling_rejections_total", ["node": "a", "reason": "truncated"]) == 1 {
                after = e
                break
            }
            usleep(100_000)
        }
        let moved = try #require(after, "the rejection counter did not move")
        #expect(moved.samples.filter { $0.name == "starling_rejections_total" }.map(\.value).reduce(0, +) == 1)
        #expect(moved.types["starling_messages_in_total"] == "counter" && moved.types["starling_bytes_in_total"] == "counter")
        #expect((moved.value("starling_messages_in_total", ["node": "a", "peer": "?"]) ?? 0) >= 1)
        #expect((moved.value("starling_bytes_in_total", ["node": "a", "peer": "?"]) ?? 0) >= 4)

        #expect(httpGet(port: ports[2], path: "/other")?.status == "HTTP/1.0 404 Not Found")
        stop.request()
        #expect(done.wait(timeout: .now() + 60) == .success)
        // Stopped with its node: nothing listens any more.
        #expect(httpGet(port: ports[2], path: "/metrics") == nil)
    }
}
