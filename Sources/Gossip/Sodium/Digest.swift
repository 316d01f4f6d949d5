// BLAKE2b digests (libsodium `crypto_generichash`), one-shot and streaming.

import Foundation
import CSodium

/// BLAKE2b with a chosen output length (default 32 bytes, BLAKE2b-256).
public struct BLAKE2b: ~Copyable {
    /// The default output length in bytes.
    public static let defaultLength = 32

    // crypto_generichash_state is 64-byte aligned, which Swift does not import as a
    // type; the state is kept as raw aligned memory of `crypto_generichash_statebytes()`.
    private let stateBytes: UnsafeMutableRawPointer
    private var state: OpaquePointer { OpaquePointer(stateBytes) }
    private let outputLength: Int
    private var finished = false

    /// Starts a streaming digest of `outputLength` bytes (16...64) (`crypto_generichash_init`).
    public init(outputLength: Int = BLAKE2b.defaultLength) throws(SodiumError) {
        try Sodium.ensureInitialized()
        guard outputLength >= Int(crypto_generichash_BYTES_MIN), outputLength <= Int(crypto_generichash_BYTES_MAX)
        else {
            throw .wrongLength(
                what: "BLAKE2b output", expected: Int(crypto_generichash_BYTES), actual: outputLength)
        }
        stateBytes = .allocate(byteCount: crypto_generichash_statebytes(), alignment: 64)
        self.outputLength = outputLength
        crypto_generichash_init(state, nil, 0, outputLength)
    }

    deinit {
        Sodium.secureZero(UnsafeMutableRawBufferPointer(start: stateBytes, count: crypto_generichash_statebytes()))
        stateBytes.deallocate()
    }

    /// Feeds more bytes (`crypto_generichash_update`).
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        precondition(!finished, "BLAKE2b.update after finalize")
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        crypto_generichash_update(state, base.assumingMemoryBound(to: UInt8.self), UInt64(bytes.count))
    }

    /// Feeds more bytes from any contiguous collection.
    public mutating func update(_ bytes: some ContiguousBytes) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Ends the digest and returns it (`crypto_generichash_final`).
    public consuming func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: outputLength)
        _ = out.withUnsafeMutableBufferPointer { crypto_generichash_final(state, $0.baseAddress!, outputLength) }
        finished = true
        return out
    }

    /// One-shot digest of `bytes` (`crypto_generichash`).
    public static func hash(_ bytes: UnsafeRawBufferPointer, outputLength: Int = defaultLength) throws(SodiumError) -> [UInt8] {
        try Sodium.ensureInitialized()
        guard outputLength >= Int(crypto_generichash_BYTES_MIN), outputLength <= Int(crypto_generichash_BYTES_MAX)
        else {
            throw .wrongLength(
                what: "BLAKE2b output", expected: Int(crypto_generichash_BYTES), actual: outputLength)
        }
        var out = [UInt8](repeating: 0, count: outputLength)
        let rc = out.withUnsafeMutableBufferPointer { o in
            crypto_generichash(
                o.baseAddress!, outputLength, Sodium.bytePointer(bytes),
                UInt64(bytes.count), nil, 0)
        }
        guard rc == 0 else { throw .operationFailed("crypto_generichash") }
        return out
    }

    /// One-shot digest of any contiguous bytes.
    public static func hash(_ bytes: some ContiguousBytes, outputLength: Int = defaultLength) throws(SodiumError) -> [UInt8] {
        try bytes.withUnsafeBytes { b in
            Result { () throws(SodiumError) in try hash(b, outputLength: outputLength) }
        }.get()
    }
}
