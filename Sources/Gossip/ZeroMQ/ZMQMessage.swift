// One ZeroMQ frame, owned by Swift. Receiving into a message and reading it in place
// copies nothing: the bytes stay in libzmq's buffer until the message is released.

import Foundation
import CZeroMQ

/// Owns a `zmq_msg_t`. Not thread-safe; pass it to another thread only by handing it over.
public final class ZMQMessage: @unchecked Sendable {
    let msg: UnsafeMutablePointer<zmq_msg_t>

    /// An empty message, ready to receive into (`zmq_msg_init`).
    public init() {
        msg = .allocate(capacity: 1)
        zmq_msg_init(msg)
    }

    /// A message of `count` bytes, filled by `fill` in place (`zmq_msg_init_size`):
    /// the only copy a frame takes on its way out is the one `fill` makes.
    public init(count: Int, fill: (UnsafeMutableRawBufferPointer) throws -> Void) throws {
        msg = .allocate(capacity: 1)
        guard zmq_msg_init_size(msg, count) == 0 else {
            let e = ZMQError.last("zmq_msg_init_size")
            msg.deallocate()
            throw e
        }
        try fill(UnsafeMutableRawBufferPointer(start: zmq_msg_data(msg), count: count))
    }

    /// A message holding a copy of `bytes`.
    public init(bytes: some ContiguousBytes) throws(ZMQError) {
        msg = .allocate(capacity: 1)
        let rc = bytes.withUnsafeBytes { src -> Int32 in
            guard zmq_msg_init_size(msg, src.count) == 0 else { return -1 }
            if src.count > 0 { zmq_msg_data(msg).copyMemory(from: src.baseAddress!, byteCount: src.count) }
            return 0
        }
        guard rc == 0 else {
            let e = ZMQError.last("zmq_msg_init_size")
            msg.deallocate()
            throw e
        }
    }

    /// A message sharing this one's buffer (`zmq_msg_copy`): large buffers are reference
    /// counted, not copied, so one payload can be queued to many sockets. Neither message
    /// may be modified afterwards.
    public func copy() throws(ZMQError) -> ZMQMessage {
        let m = ZMQMessage()
        guard zmq_msg_copy(m.msg, msg) == 0 else { throw .last("zmq_msg_copy") }
        return m
    }

    deinit {
        zmq_msg_close(msg)
        msg.deallocate()
    }

    /// Size in bytes (`zmq_msg_size`).
    public var count: Int { zmq_msg_size(msg) }

    /// Whether another frame of the same multipart message follows (`zmq_msg_more`).
    public var hasMore: Bool { zmq_msg_more(msg) != 0 }

    /// Reads the bytes in place, without copying.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: zmq_msg_data(msg), count: zmq_msg_size(msg)))
    }

    /// A copy of the bytes.
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    /// A metadata property of a received message, e.g. "User-Id" set by ZAP or
    /// "Peer-Address" (`zmq_msg_gets`).
    public func property(_ name: String) -> String? {
        guard let p = zmq_msg_gets(msg, name) else { return nil }
        return String(cString: p)
    }
}
