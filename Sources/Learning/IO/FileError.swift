// FileError: the one error type for reading and writing files in Learning, carrying the
// path, the system call that failed and its errno.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file operation failed.
public struct FileError: Error, Equatable, CustomStringConvertible {
    /// The file or folder the operation was about.
    public var path: String
    /// The system call or step that failed (`open`, `write`, `fsync`, `rename`, ...).
    public var operation: String
    /// The errno value, or 0 when the failure is not a system error.
    public var code: Int32
    /// A sentence for failures without an errno.
    public var reason: String?

    public init(path: String, operation: String, code: Int32 = 0, reason: String? = nil) {
        self.path = path
        self.operation = operation
        self.code = code
        self.reason = reason
    }

    /// The failure of `operation` on `path`, with the current errno.
    static func fromErrno(_ operation: String, _ path: String) -> FileError {
        FileError(path: path, operation: operation, code: errno)
    }

    public var description: String {
        if let reason { return "\(path): \(operation): \(reason)" }
        return "\(path): \(operation) failed: \(String(cString: strerror(code))) (errno \(code))"
    }
}
