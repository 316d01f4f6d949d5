// Ed25519 identities: key pairs, detached signatures, key files, and the X25519 keys
// that CURVE transport encryption derives from them.

import CSodium
import Foundation

/// An Ed25519 public key: a node's identity in the topology and on the wire.
public struct PublicKey: Hashable, Sendable, CustomStringConvertible, Comparable {
    /// The key's length in bytes.
    public static let byteCount = 32
    /// The 32 key bytes.
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) throws(SodiumError) {
        guard bytes.count == Self.byteCount else {
            throw .wrongLength(what: "Ed25519 public key", expected: Self.byteCount, actual: bytes.count)
        }
        self.bytes = bytes
    }

    /// Parses the text form: 64 hexadecimal digits (as `description` prints).
    public init?(text: some StringProtocol) {
        guard let b = Hex.decode(text.trimmingCharacters(in: .whitespacesAndNewlines)),
            b.count == Self.byteCount
        else { return nil }
        bytes = b
    }

    /// The text form used by key files and topology files: 64 lower-case hex digits.
    public var description: String { Hex.encode(bytes) }

    /// A short prefix of the text form for logs and tables.
    public var shortDescription: String { String(description.prefix(8)) }

    public static func < (a: PublicKey, b: PublicKey) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }

    /// Checks a detached signature of `message` by this key (`crypto_sign_verify_detached`).
    public func verify(signature: some ContiguousBytes, of message: some ContiguousBytes) -> Bool {
        signature.withUnsafeBytes { s in
            message.withUnsafeBytes { m in verify(signature: s, of: m) }
        }
    }

    /// Checks a detached signature over raw buffers (`crypto_sign_verify_detached`).
    public func verify(signature: UnsafeRawBufferPointer, of message: UnsafeRawBufferPointer) -> Bool {
        guard (try? Sodium.ensureInitialized()) != nil, signature.count == SigningKeyPair.signatureByteCount
        else { return false }
        return bytes.withUnsafeBufferPointer { pk in
            crypto_sign_verify_detached(
                signature.baseAddress!.assumingMemoryBound(to: UInt8.self),
                Sodium.bytePointer(message), UInt64(message.count),
                pk.baseAddress!) == 0
        }
    }

    /// The X25519 public key for CURVE (`crypto_sign_ed25519_pk_to_curve25519`).
    public func curvePublicKey() throws(SodiumError) -> [UInt8] {
        try Sodium.ensureInitialized()
        var out = [UInt8](repeating: 0, count: Int(crypto_scalarmult_curve25519_BYTES))
        let rc = out.withUnsafeMutableBufferPointer { o in
            bytes.withUnsafeBufferPointer { crypto_sign_ed25519_pk_to_curve25519(o.baseAddress!, $0.baseAddress!) }
        }
        guard rc == 0 else { throw .operationFailed("crypto_sign_ed25519_pk_to_curve25519 (not a valid Ed25519 point)") }
        return out
    }
}

/// An Ed25519 signing key pair. The secret half is zeroed when the value is destroyed.
public final class SigningKeyPair: @unchecked Sendable {
    /// Detached signature length in bytes.
    public static let signatureByteCount = Int(crypto_sign_BYTES)
    /// Seed length in bytes: the secret from which the key pair is derived.
    public static let seedByteCount = Int(crypto_sign_SEEDBYTES)

    /// The public half.
    public let publicKey: PublicKey
    // libsodium's 64-byte secret key: seed followed by the public key. Immutable after
    // init, so sharing the pair between threads is safe.
    private var secretKey: [UInt8]

    /// A fresh random key pair (`crypto_sign_keypair`).
    public convenience init() throws(SodiumError) {
        try self.init(seed: Sodium.randomBytes(SigningKeyPair.seedByteCount))
    }

    /// The key pair derived from a 32-byte seed (`crypto_sign_seed_keypair`).
    public init(seed: [UInt8]) throws(SodiumError) {
        try Sodium.ensureInitialized()
        guard seed.count == Self.seedByteCount else {
            throw .wrongLength(what: "Ed25519 seed", expected: Self.seedByteCount, actual: seed.count)
        }
        var pk = [UInt8](repeating: 0, count: PublicKey.byteCount)
        var sk = [UInt8](repeating: 0, count: Int(crypto_sign_SECRETKEYBYTES))
        let rc = pk.withUnsafeMutableBufferPointer { p in
            sk.withUnsafeMutableBufferPointer { s in
                seed.withUnsafeBufferPointer { crypto_sign_seed_keypair(p.baseAddress!, s.baseAddress!, $0.baseAddress!) }
            }
        }
        guard rc == 0 else { throw .operationFailed("crypto_sign_seed_keypair") }
        publicKey = try PublicKey(bytes: pk)
        secretKey = sk
    }

    deinit { Sodium.secureZero(&secretKey) }

    /// The 32-byte seed: the whole secret. Handle with care and zero it after use.
    public var seed: [UInt8] { Array(secretKey[0..<Self.seedByteCount]) }

    /// A detached signature of `message` (`crypto_sign_detached`).
    public func sign(_ message: some ContiguousBytes) -> [UInt8] {
        message.withUnsafeBytes { sign($0) }
    }

    /// A detached signature over a raw buffer (`crypto_sign_detached`).
    public func sign(_ message: UnsafeRawBufferPointer) -> [UInt8] {
        var sig = [UInt8](repeating: 0, count: Self.signatureByteCount)
        sig.withUnsafeMutableBufferPointer { s in
            secretKey.withUnsafeBufferPointer { k in
                _ = crypto_sign_detached(
                    s.baseAddress!, nil, Sodium.bytePointer(message),
                    UInt64(message.count), k.baseAddress!)
            }
        }
        return sig
    }

    /// The X25519 key pair for CURVE (`crypto_sign_ed25519_sk_to_curve25519`).
    public func curveKeyPair() throws(SodiumError) -> CurveKeyPair {
        var sk = [UInt8](repeating: 0, count: Int(crypto_scalarmult_curve25519_BYTES))
        let rc = sk.withUnsafeMutableBufferPointer { o in
            secretKey.withUnsafeBufferPointer { crypto_sign_ed25519_sk_to_curve25519(o.baseAddress!, $0.baseAddress!) }
        }
        guard rc == 0 else { throw .operationFailed("crypto_sign_ed25519_sk_to_curve25519") }
        return CurveKeyPair(publicKey: try publicKey.curvePublicKey(), secretKey: sk)
    }

    // MARK: Key files

    /// File name of the secret key inside a key folder.
    public static let secretKeyFileName = "node.key"
    /// File name of the public key inside a key folder.
    public static let publicKeyFileName = "node.pub"

    /// Loads the key pair stored at `path` (hex seed text). Refuses a file that group or
    /// others may read or write, and a file whose stored public key, if any, disagrees.
    public static func load(from path: String) throws(SodiumError) -> SigningKeyPair {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw .keyFile(path: path, reason: String(cString: strerror(errno)))
        }
        let mode = st.st_mode & 0o777
        guard mode & 0o077 == 0 else {
            throw .insecureKeyFile(path: path, mode: "0" + String(mode, radix: 8))
        }
        guard var data = FileManager.default.contents(atPath: path) else {
            throw .keyFile(path: path, reason: "cannot be read")
        }
        defer { data.resetBytes(in: 0..<data.count) }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard var seed = Hex.decode(text) else {
            throw .malformedKey(path: path, reason: "expected hexadecimal text")
        }
        defer { Sodium.secureZero(&seed) }
        guard seed.count == seedByteCount else {
            throw .malformedKey(path: path, reason: "expected \(seedByteCount * 2) hex digits, got \(text.count)")
        }
        return try SigningKeyPair(seed: seed)
    }

    /// Writes the secret key to `path` with mode 0600, atomically (temporary file in
    /// the same folder, fsync, rename). Refuses to replace an existing file unless `overwrite`.
    public func save(to path: String, overwrite: Bool = false) throws(SodiumError) {
        var seedText = Array((Hex.encode(seed) + "\n").utf8)
        defer { Sodium.secureZero(&seedText) }
        try KeyFileWriter.write(seedText, to: path, mode: 0o600, overwrite: overwrite)
    }

    /// Writes the public key text to `path` with mode 0644.
    public func savePublicKey(to path: String, overwrite: Bool = false) throws(SodiumError) {
        try KeyFileWriter.write(Array((publicKey.description + "\n").utf8), to: path, mode: 0o644, overwrite: overwrite)
    }
}

/// An X25519 key pair for ZeroMQ CURVE, derived from an Ed25519 identity.
public struct CurveKeyPair: Sendable {
    public let publicKey: [UInt8]
    public let secretKey: [UInt8]
}

/// Atomic creation of small files with a chosen mode.
enum KeyFileWriter {
    static func write(_ bytes: [UInt8], to path: String, mode: mode_t, overwrite: Bool) throws(SodiumError) {
        if !overwrite && FileManager.default.fileExists(atPath: path) {
            throw .keyFile(path: path, reason: "already exists (use --force to replace it)")
        }
        let tmp = path + ".tmp-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode)
        guard fd >= 0 else { throw .keyFile(path: path, reason: String(cString: strerror(errno))) }
        // The umask may have cleared bits of `mode`; the key's mode is not left to it.
        fchmod(fd, mode)
        let written = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == bytes.count, synced else {
            unlink(tmp)
            throw .keyFile(path: path, reason: "write failed: \(String(cString: strerror(errno)))")
        }
        if !overwrite {
            // link() fails if `path` appeared meanwhile, so a concurrent writer never loses its key.
            guard link(tmp, path) == 0 else {
                let reason = errno == EEXIST ? "already exists (use --force to replace it)" : String(cString: strerror(errno))
                unlink(tmp)
                throw .keyFile(path: path, reason: reason)
            }
            unlink(tmp)
        } else if rename(tmp, path) != 0 {
            unlink(tmp)
            throw .keyFile(path: path, reason: String(cString: strerror(errno)))
        }
        let dir = (path as NSString).deletingLastPathComponent
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }
}
