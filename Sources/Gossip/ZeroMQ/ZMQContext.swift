// A ZeroMQ context: the I/O threads shared by every socket made from it.

import CZeroMQ

/// Owns a `zmq_ctx`. Thread-safe, as the C context is. Sockets made from a context
/// must be closed before it is released; `deinit` terminates it (`zmq_ctx_term`).
public final class ZMQContext: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer

    /// A new context with `ioThreads` I/O threads (`zmq_ctx_new`, `ZMQ_IO_THREADS`).
    /// Two I/O threads roughly double CURVE throughput.
    public init(ioThreads: Int32 = 1) throws(ZMQError) {
        guard let h = zmq_ctx_new() else { throw .last("zmq_ctx_new") }
        handle = h
        if ioThreads != 1 {
            guard zmq_ctx_set(h, ZMQ_IO_THREADS, ioThreads) == 0 else {
                let e = ZMQError.last("zmq_ctx_set")
                zmq_ctx_term(h)
                throw e
            }
        }
    }

    /// Makes blocking calls on every socket of this context return `ETERM`
    /// (`zmq_ctx_shutdown`); sockets must still be closed.
    public func shutdown() { zmq_ctx_shutdown(handle) }

    deinit {
        while zmq_ctx_term(handle) != 0 && zmq_errno() == EINTR {}
    }

    /// The library version as (major, minor, patch) (`zmq_version`).
    public static var version: (major: Int32, minor: Int32, patch: Int32) {
        var a: Int32 = 0, b: Int32 = 0, c: Int32 = 0
        zmq_version(&a, &b, &c)
        return (a, b, c)
    }

    /// Whether the library was built with CURVE support (`zmq_has("curve")`).
    public static var hasCurve: Bool { zmq_has("curve") != 0 }
}
