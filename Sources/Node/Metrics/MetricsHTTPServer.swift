// A very small HTTP/1.0 server for one page: `GET /metrics`. It runs on a thread of its
// own over a blocking POSIX socket, so it never holds a thread of Swift's concurrency
// pool, and it answers one connection at a time, which is all a scraper needs. Every
// socket call of the metrics endpoint is in this file.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import Foundation

/// Why the metrics listener could not start.
public struct MetricsServerError: Error, CustomStringConvertible {
    public var call: String
    public var code: Int32
    public var description: String { "\(call): \(String(cString: strerror(code))) (errno \(code))" }
}

/// Serves `body()` as `text/plain` on `GET /metrics` until `stop()`.
public final class MetricsHTTPServer: @unchecked Sendable {
    /// The address and port bound.
    public let address: MetricsAddress
    private let listener: Int32
    private let body: @Sendable () -> [UInt8]
    private let lock = NSLock()
    private var stopping = false
    private let done = DispatchSemaphore(value: 0)

    /// Listens on `address` and starts answering on its own thread.
    public init(address: MetricsAddress, body: @escaping @Sendable () -> [UInt8]) throws(MetricsServerError) {
        self.address = address
        self.body = body
        #if canImport(Glibc)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
            let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw MetricsServerError(call: "socket", code: errno) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = in_port_t(UInt16(address.port).bigEndian)
        guard inet_pton(AF_INET, address.host, &sa.sin_addr) == 1 else {
            close(fd)
            throw MetricsServerError(call: "inet_pton(\(address.host))", code: EINVAL)
        }
        let bound = withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else {
            let e = errno
            close(fd)
            throw MetricsServerError(call: "bind(\(address))", code: e)
        }
        guard listen(fd, 16) == 0 else {
            let e = errno
            close(fd)
            throw MetricsServerError(call: "listen", code: e)
        }
        listener = fd
        let thread = Thread { [unowned self] in self.serve() }
        thread.name = "starling.metrics"
        thread.start()
    }

    /// Stops listening; returns once the thread has ended. Later calls do nothing.
    public func stop() {
        let first = lock.withLock { () -> Bool in
            defer { stopping = true }
            return !stopping
        }
        guard first else { return }
        done.wait()
    }

    deinit { stop() }

    private var isStopping: Bool { lock.withLock { stopping } }

    private func serve() {
        defer {
            close(listener)
            done.signal()
        }
        while !isStopping {
            // Wake every 100 ms to notice stop().
            var p = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 100) > 0 else { continue }
            let client = accept(listener, nil, nil)
            guard client >= 0 else { continue }
            answer(client)
            close(client)
        }
    }

    /// Reads one request (headers only, at most 8 KiB, for at most two seconds) and
    /// writes one response.
    private func answer(_ client: Int32) {
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var request: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 2048)
        while request.count < 8192, !Self.endsHeaders(request) {
            let n = chunk.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { break }
            request += chunk[0..<n]
        }
        let (status, type, content) = Self.response(to: request, body: body)
        var reply = Array("HTTP/1.0 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(content.count)\r\nConnection: close\r\n\r\n".utf8)
        reply += content
        var sent = 0
        while sent < reply.count {
            let n = reply[sent...].withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { return }
            sent += n
        }
    }

    static func endsHeaders(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 4 && bytes.suffix(4).elementsEqual([13, 10, 13, 10]) || bytes.count >= 2 && bytes.suffix(2).elementsEqual([10, 10])
    }

    /// Status line, content type and body for a raw request: the metrics for
    /// `GET /metrics` (query strings ignored), 404 for other paths, 405 for other methods.
    static func response(to request: [UInt8], body: () -> [UInt8]) -> (String, String, [UInt8]) {
        let line = String(decoding: request.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self).split(separator: " ")
        guard line.count >= 2 else { return ("400 Bad Request", "text/plain", Array("expected GET /metrics\n".utf8)) }
        guard line[0] == "GET" || line[0] == "HEAD" else {
            return ("405 Method Not Allowed", "text/plain", Array("only GET /metrics\n".utf8))
        }
        guard line[1].split(separator: "?").first == "/metrics" else {
            return ("404 Not Found", "text/plain", Array("metrics are at /metrics\n".utf8))
        }
        return ("200 OK", "text/plain; version=0.0.4; charset=utf-8", line[0] == "HEAD" ? [] : body())
    }
}
