// Waiting on several sockets at once (`zmq_poll`).

import CZeroMQ

/// A set of sockets to wait on. Poll from the thread that owns the sockets.
public struct ZMQPoller {
    private var sockets: [ZMQSocket] = []
    private var items: [zmq_pollitem_t] = []

    public init() {}

    /// Adds `socket`, watched for input (and output when `writable`). Returns its index.
    @discardableResult
    public mutating func add(_ socket: ZMQSocket, readable: Bool = true, writable: Bool = false) -> Int {
        var events: Int16 = 0
        if readable { events |= Int16(ZMQ_POLLIN) }
        if writable { events |= Int16(ZMQ_POLLOUT) }
        sockets.append(socket)
        items.append(zmq_pollitem_t(socket: socket.pollHandle, fd: 0, events: events, revents: 0))
        return sockets.count - 1
    }

    /// Removes every socket.
    public mutating func removeAll() {
        sockets.removeAll()
        items.removeAll()
    }

    /// The number of sockets watched.
    public var count: Int { sockets.count }

    /// Waits up to `timeoutMilliseconds` (-1 forever) and returns the indices of the
    /// sockets that can be read (`zmq_poll`). An interrupted wait returns no index.
    public mutating func poll(timeoutMilliseconds: Int) throws(ZMQError) -> [Int] {
        let rc = items.withUnsafeMutableBufferPointer {
            zmq_poll($0.baseAddress, Int32($0.count), timeoutMilliseconds)
        }
        if rc < 0 {
            let e = ZMQError.last("zmq_poll")
            if e.isInterrupted { return [] }
            throw e
        }
        var ready: [Int] = []
        for (i, item) in items.enumerated() where item.revents & Int16(ZMQ_POLLIN) != 0 {
            ready.append(i)
        }
        return ready
    }
}
