// Sodium: the one place Starling calls libsodium. Every wrapper in this folder routes
// its C calls through here, after `Sodium.ensureInitialized()` has run once.

import CSodium
import Foundation

/// An error from libsodium or from the key files built on it.
public enum SodiumError: Error, Equatable, CustomStringConvertible {
    /// `sodium_init` returned -1: the library cannot be used.
    case initializationFailed
    /// A key or signature had the wrong number of bytes.
    case wrongLength(what: String, expected: Int, actual: Int)
    /// A libsodium function returned failure.
    case operationFailed(String)
    /// A key file could not be read or written.
    case keyFile(path: String, reason: String)
    /// A key file is readable or writable by group or others (mode shown in octal).
    case insecureKeyFile(path: String, mode: String)
    /// A key file holds text that is not a key.
    case malformedKey(path: String, reason: String)

    public var description: String {
        switch self {
        case .initializationFailed:
            return "libsodium could not be initialised"
        case .wrongLength(let what, let expected, let actual):
            return "\(what) must be \(expected) bytes, got \(actual)"
        case .operationFailed(let what):
            return "libsodium: \(what) failed"
        case .keyFile(let path, let reason):
            return "key file \(path): \(reason)"
        case .insecureKeyFile(let path, let mode):
            return "key file \(path) has mode \(mode) and is accessible by other users; "
                + "run `chmod 600 \(path)` if it is still secret, or make a new key"
        case .malformedKey(let path, let reason):
            return "key file \(path) is not a Starling key: \(reason)"
        }
    }
}

/// Process-wide libsodium state.
public enum Sodium {
    private static let initialized: Bool = sodium_init() >= 0

    /// Runs `sodium_init` once per process (later calls are free); throws if it failed.
    public static func ensureInitialized() throws(SodiumError) {
        guard initialized else { throw .initializationFailed }
    }

    /// `bytes` fresh random bytes from the operating system (`randombytes_buf`).
    public static func randomBytes(_ count: Int) -> [UInt8] {
        precondition(initialized, "libsodium failed to initialise")
        var out = [UInt8](repeating: 0, count: count)
        if count > 0 { out.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, $0.count) } }
        return out
    }

    /// Compares two byte strings in time that depends only on their length
    /// (`sodium_memcmp`). Different lengths compare unequal.
    public static func constantTimeEqual(_ a: some ContiguousBytes, _ b: some ContiguousBytes) -> Bool {
        a.withUnsafeBytes { pa in
            b.withUnsafeBytes { pb in
                guard pa.count == pb.count else { return false }
                if pa.count == 0 { return true }
                return sodium_memcmp(pa.baseAddress, pb.baseAddress, pa.count) == 0
            }
        }
    }

    /// Overwrites `bytes` with zeros in a way the compiler may not remove (`sodium_memzero`).
    public static func secureZero(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { secureZero($0) }
    }

    /// Overwrites a raw buffer with zeros (`sodium_memzero`).
    public static func secureZero(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        sodium_memzero(base, buffer.count)
    }

    /// A byte pointer for a C call that wants a non-null pointer even for zero bytes.
    static func bytePointer(_ buffer: UnsafeRawBufferPointer) -> UnsafePointer<UInt8> {
        guard let base = buffer.baseAddress else { return UnsafePointer(emptyByte) }
        return base.assumingMemoryBound(to: UInt8.self)
    }

    nonisolated(unsafe) private static let emptyByte = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
}

// MARK: - Hex text

/// Lower-case hexadecimal, the text form of keys in key and topology files.
public enum Hex {
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes hexadecimal text (either case); nil when the text is not hex.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var i = 0
        while i < utf8.count {
            guard let hi = nibble(utf8[i]), let lo = nibble(utf8[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}
