import Foundation
import Testing

@testable import Gossip

/// The emulator travels in signed chunks that each fit a payload; only the aligner's
/// are taken, the whole is checked by digest, and a restart keeps what arrived.
@Suite struct EmulatorTransferTests {
    static func folder() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("emulator-chunks-\(UUID())").path
    }

    static func file(_ count: Int, seed: UInt8 = 7) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) } }

    @Test func chunksFitThePayloadAndReassembleTheFile() throws {
        let aligner = try SigningKeyPair(), dir = Self.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = Self.file(10_000)
        let chunks = try EmulatorChunk.split(file, version: 3, maxPayloadBytes: 1_000, keys: aligner)
        // 1000 − 161 bytes of overhead = 839 per chunk: ⌈10000 / 839⌉ = 12.
        #expect(chunks.count == 12)
        #expect(chunks.allSatisfy { $0.count <= 1_000 })
        let assembler = try EmulatorAssembler(directory: dir, aligner: aligner.publicKey)
        var outcomes: [EmulatorAssembler.Outcome] = []
        for chunk in chunks.reversed() { outcomes.append(assembler.receive(chunk)) }
        #expect(outcomes.first == .stored(version: 3, missing: 11))
        #expect(outcomes.last == .complete(version: 3, file: file))
        #expect(assembler.completeVersion == 3)
        #expect(assembler.receive(chunks[0]) == .duplicate)
        #expect(assembler.refusals.isEmpty)
    }

    @Test func aChunkFromAnyoneButTheAlignerIsRefusedAndCounted() throws {
        let aligner = try SigningKeyPair(), member = try SigningKeyPair(), dir = Self.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let assembler = try EmulatorAssembler(directory: dir, aligner: aligner.publicKey)
        let forged = try EmulatorChunk.split(Self.file(500), version: 1, maxPayloadBytes: 4_096, keys: member)
        #expect(assembler.receive(forged[0]) == .refused(.notAligner))
        #expect(assembler.refusals == [.notAligner: 1])
        #expect(assembler.held(version: 1).isEmpty)
    }

    @Test func aChunkWhoseBytesWereChangedIsRefused() throws {
        let aligner = try SigningKeyPair(), dir = Self.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let assembler = try EmulatorAssembler(directory: dir, aligner: aligner.publicKey)
        var chunk = try EmulatorChunk.split(Self.file(500), version: 1, maxPayloadBytes: 4_096, keys: aligner)[0]
        chunk[120] ^= 1
        #expect(assembler.receive(chunk) == .refused(.badSignature))
        #expect(assembler.receive(Array(chunk.prefix(50))) == .refused(.malformed))
        #expect(assembler.receive(Array(chunk.dropLast())) == .refused(.malformed))
        #expect(assembler.refusals == [.badSignature: 1, .malformed: 2])
    }

    @Test func chunksThatDisagreeWithTheirVersionAreRefused() throws {
        let aligner = try SigningKeyPair(), dir = Self.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let assembler = try EmulatorAssembler(directory: dir, aligner: aligner.publicKey)
        let one = try EmulatorChunk.split(Self.file(3_000), version: 2, maxPayloadBytes: 1_000, keys: aligner)
        let other = try EmulatorChunk.split(Self.file(3_000, seed: 9), version: 2, maxPayloadBytes: 1_000, keys: aligner)
        #expect(assembler.receive(one[0]) == .stored(version: 2, missing: one.count - 1))
        #expect(assembler.receive(other[1]) == .refused(.inconsistent))
    }

    @Test func aRestartedReceiverKeepsTheChunksItHasAndNeedsOnlyTheRest() throws {
        let aligner = try SigningKeyPair(), dir = Self.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = Self.file(5_000)
        let chunks = try EmulatorChunk.split(file, version: 4, maxPayloadBytes: 1_000, keys: aligner)
        do {
            let first = try EmulatorAssembler(directory: dir, aligner: aligner.publicKey)
            for chunk in chunks.prefix(3) { _ = first.receive(chunk) }
        }
        let again = try EmulatorAssembler(directory: dir, aligner: aligner.publicKey)
        #expect(again.held(version: 4) == [0, 1, 2])
        #expect(again.receive(chunks[1]) == .duplicate)
        var last: EmulatorAssembler.Outcome?
        for chunk in chunks.dropFirst(3) { last = again.receive(chunk) }
        #expect(last == .complete(version: 4, file: file))
        // Once complete, the chunks are gone and the version is remembered.
        #expect(again.held(version: 4).isEmpty)
        #expect(try EmulatorAssembler(directory: dir, aligner: aligner.publicKey).completeVersion == 4)
    }

    @Test func anOlderVersionThanTheOneHeldIsStale() throws {
        let aligner = try SigningKeyPair(), dir = Self.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let assembler = try EmulatorAssembler(directory: dir, aligner: aligner.publicKey)
        let newer = try EmulatorChunk.split(Self.file(100), version: 5, maxPayloadBytes: 4_096, keys: aligner)
        let older = try EmulatorChunk.split(Self.file(100), version: 4, maxPayloadBytes: 4_096, keys: aligner)
        #expect(assembler.receive(newer[0]) == .complete(version: 5, file: Self.file(100)))
        #expect(assembler.receive(older[0]) == .refused(.stale))
    }
}
