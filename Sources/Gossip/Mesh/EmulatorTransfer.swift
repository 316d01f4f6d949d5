// EmulatorTransfer: a large file (FedBiOT's emulator) sent by one named member to the
// others in chunks that each fit one mesh payload, and put back together on arrival.
//
// Each chunk carries its own Ed25519 signature by the sender and, in the signed part,
// the BLAKE2b-256 of the whole file, so a receiver can refuse a chunk the moment it
// arrives (not from the aligner, not signed, not matching the other chunks of its
// version) and still checks the assembled whole against the digest before anything
// uses it. Chunks are kept on disk as they come, so a receiver restarted in the middle
// of a transfer keeps what it has and needs only the rest.
//
// Chunk layout (little-endian), signed bytes first:
//
//   0   4  magic "SEMU"
//   4   1  format version (1)
//   5   8  file version (the aligner's round)
//   13  4  chunk index
//   17  4  chunk count
//   21  8  file bytes
//   29 32  BLAKE2b-256 of the whole file
//   61 32  the sender's Ed25519 public key
//   93  4  n, this chunk's byte count
//   97  n  the chunk's bytes
//   97+n 64 Ed25519 signature of bytes 0 ..< 97+n

import Foundation

/// Why a chunk was refused; each is counted.
public enum ChunkRefusal: String, Error, Sendable, CaseIterable, Codable, CustomStringConvertible {
    /// Too short, wrong magic or version, lengths that do not add up.
    case malformed
    /// The sender is not the member named as the emulator's publisher.
    case notAligner
    /// The signature does not verify.
    case badSignature
    /// The chunk disagrees with the other chunks of its version (count, size, digest).
    case inconsistent
    /// The assembled file's digest is not the one the chunks announced.
    case digestMismatch
    /// A version older than the newest one complete.
    case stale

    public var description: String { rawValue }
}

/// One decoded chunk.
public struct EmulatorChunk: Sendable, Equatable {
    public static let magic: [UInt8] = Array("SEMU".utf8)
    public static let formatVersion: UInt8 = 1
    /// Bytes of everything but the chunk's own bytes.
    public static let overheadByteCount = 97 + SigningKeyPair.signatureByteCount

    public var version: UInt64
    public var index: Int
    public var count: Int
    public var fileBytes: Int
    public var digest: [UInt8]
    public var sender: PublicKey
    public var bytes: [UInt8]

    /// Splits `file` into chunks of at most `maxPayloadBytes` each (overhead included),
    /// signed by `keys`.
    public static func split(_ file: [UInt8], version: UInt64, maxPayloadBytes: Int, keys: SigningKeyPair) throws -> [[UInt8]] {
        let room = maxPayloadBytes - overheadByteCount
        precondition(room > 0, "a payload of \(maxPayloadBytes) bytes cannot hold a chunk")
        let digest = try BLAKE2b.hash(file)
        let count = max(1, (file.count + room - 1) / room)
        return (0..<count).map { i in
            let piece = Array(file[(i * room)..<min(file.count, (i + 1) * room)])
            return encode(EmulatorChunk(version: version, index: i, count: count, fileBytes: file.count, digest: digest,
                                        sender: keys.publicKey, bytes: piece), keys: keys)
        }
    }

    /// The signed wire form of `chunk`.
    static func encode(_ chunk: EmulatorChunk, keys: SigningKeyPair) -> [UInt8] {
        var out = magic
        out.append(formatVersion)
        func put<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { out += $0 } }
        put(chunk.version)
        put(UInt32(chunk.index))
        put(UInt32(chunk.count))
        put(UInt64(chunk.fileBytes))
        out += chunk.digest
        out += chunk.sender.bytes
        put(UInt32(chunk.bytes.count))
        out += chunk.bytes
        out += keys.sign(out)
        return out
    }

    /// Reads and verifies a chunk: its layout, then its signature by the key it names.
    public init(decoding data: [UInt8]) throws(ChunkRefusal) {
        guard data.count >= Self.overheadByteCount, Array(data[0..<4]) == Self.magic, data[4] == Self.formatVersion else { throw .malformed }
        func read<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
            var value: T = 0
            withUnsafeMutableBytes(of: &value) { $0.copyBytes(from: data[offset..<(offset + MemoryLayout<T>.size)]) }
            return T(littleEndian: value)
        }
        let n = Int(read(93, UInt32.self))
        guard data.count == Self.overheadByteCount + n else { throw .malformed }
        version = read(5, UInt64.self)
        index = Int(read(13, UInt32.self))
        count = Int(read(17, UInt32.self))
        fileBytes = Int(read(21, UInt64.self))
        digest = Array(data[29..<61])
        guard index < count, fileBytes <= Int(UInt32.max) * count else { throw .malformed }
        do { sender = try PublicKey(bytes: Array(data[61..<93])) } catch { throw .malformed }
        bytes = Array(data[97..<(97 + n)])
        let signature = Array(data[(97 + n)...]), signed = Array(data[0..<(97 + n)])
        guard sender.verify(signature: signature, of: signed) else { throw .badSignature }
    }

    init(version: UInt64, index: Int, count: Int, fileBytes: Int, digest: [UInt8], sender: PublicKey, bytes: [UInt8]) {
        self.version = version
        self.index = index
        self.count = count
        self.fileBytes = fileBytes
        self.digest = digest
        self.sender = sender
        self.bytes = bytes
    }
}

/// Collects the chunks of the aligner's files in a folder, refusing (and counting)
/// any that do not belong, and hands back a file once all of it is in and its digest
/// checks out.
public final class EmulatorAssembler {
    /// What taking in one chunk came to.
    public enum Outcome: Sendable, Equatable {
        /// Kept; `missing` chunks of its version are still to come.
        case stored(version: UInt64, missing: Int)
        /// Already held.
        case duplicate
        /// The last chunk of a version: the whole file, its digest verified.
        case complete(version: UInt64, file: [UInt8])
        case refused(ChunkRefusal)
    }

    public let directory: String
    /// The only member whose chunks are taken.
    public let aligner: PublicKey
    /// Refusals so far, by reason.
    public private(set) var refusals: [ChunkRefusal: Int] = [:]
    /// The newest version assembled.
    public private(set) var completeVersion: UInt64?

    /// Uses (and creates) `directory`; chunks already there from an earlier run count.
    public init(directory: String, aligner: PublicKey) throws {
        self.directory = directory
        self.aligner = aligner
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if let text = try? String(contentsOfFile: path("complete"), encoding: .utf8), let v = UInt64(text) { completeVersion = v }
    }

    private func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
    private func chunkPath(_ version: UInt64, _ index: Int) -> String { path("\(version).\(index).chunk") }

    /// The chunk indices of `version` held on disk.
    public func held(version: UInt64) -> Set<Int> {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return Set(names.compactMap { name -> Int? in
            let parts = name.split(separator: ".")
            guard parts.count == 3, parts[2] == "chunk", UInt64(parts[0]) == version else { return nil }
            return Int(parts[1])
        })
    }

    /// Takes one received chunk in.
    public func receive(_ data: [UInt8]) -> Outcome {
        let chunk: EmulatorChunk
        do { chunk = try EmulatorChunk(decoding: data) } catch { return refuse(error) }
        guard chunk.sender == aligner else { return refuse(.notAligner) }
        if let done = completeVersion, chunk.version <= done { return chunk.version == done ? .duplicate : refuse(.stale) }
        let held = held(version: chunk.version)
        if let other = held.first, let first = try? EmulatorChunk(decoding: Array(FileManager.default.contents(atPath: chunkPath(chunk.version, other)) ?? Data())) {
            guard first.count == chunk.count, first.fileBytes == chunk.fileBytes, first.digest == chunk.digest else { return refuse(.inconsistent) }
        }
        if held.contains(chunk.index) { return .duplicate }
        // Written under a temporary name and renamed: a crash leaves a whole chunk or none.
        let target = chunkPath(chunk.version, chunk.index), temporary = target + ".partial"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(data)),
            (try? FileManager.default.moveItem(atPath: temporary, toPath: target)) != nil
        else { return .stored(version: chunk.version, missing: chunk.count - held.count) }
        let have = held.count + 1
        guard have == chunk.count else { return .stored(version: chunk.version, missing: chunk.count - have) }
        return assemble(version: chunk.version, count: chunk.count, digest: chunk.digest)
    }

    /// Joins every chunk of `version` and checks the whole against `digest`.
    private func assemble(version: UInt64, count: Int, digest: [UInt8]) -> Outcome {
        var file: [UInt8] = []
        for i in 0..<count {
            guard let data = FileManager.default.contents(atPath: chunkPath(version, i)),
                let chunk = try? EmulatorChunk(decoding: Array(data))
            else { return refuse(.malformed) }
            file += chunk.bytes
        }
        guard (try? BLAKE2b.hash(file)) == digest else {
            discard(version: version)
            return refuse(.digestMismatch)
        }
        completeVersion = version
        try? String(version).write(toFile: path("complete"), atomically: true, encoding: .utf8)
        for v in versionsOnDisk() where v <= version { discard(version: v) }
        return .complete(version: version, file: file)
    }

    private func versionsOnDisk() -> Set<UInt64> {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return Set(names.compactMap { name in name.hasSuffix(".chunk") ? name.split(separator: ".").first.flatMap { UInt64($0) } : nil })
    }

    private func discard(version: UInt64) {
        for i in held(version: version) { try? FileManager.default.removeItem(atPath: chunkPath(version, i)) }
    }

    private func refuse(_ reason: ChunkRefusal) -> Outcome {
        refusals[reason, default: 0] += 1
        return .refused(reason)
    }
}
