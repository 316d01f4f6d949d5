// The typed error of every ZeroMQ call.

import CZeroMQ

/// A failed ZeroMQ call: the function, `zmq_errno()` and `zmq_strerror` text.
public struct ZMQError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The C function that failed, e.g. "zmq_bind".
    public let function: String
    /// The value of `zmq_errno()` right after the failure.
    public let code: Int32
    /// The library's message for `code`.
    public let message: String

    public init(function: String, code: Int32) {
        self.function = function
        self.code = code
        self.message = String(cString: zmq_strerror(code))
    }

    /// The error of the call that just failed.
    static func last(_ function: String) -> ZMQError { ZMQError(function: function, code: zmq_errno()) }

    /// The call would block (non-blocking send/receive) or timed out.
    public var isWouldBlock: Bool { code == EAGAIN }
    /// The call was interrupted by a signal.
    public var isInterrupted: Bool { code == EINTR }
    /// The context was terminated.
    public var isTerminated: Bool { code == ETERM }

    public var description: String { "\(function): \(message) (errno \(code))" }
}
