import Foundation
import Testing

@testable import Gossip

@Suite struct SigningKeyPairTests {
    let message = Array("round 7: adapter digest".utf8)

    @Test func signatureOfMessageVerifiesWithItsKey() throws {
        let keys = try SigningKeyPair()
        let sig = keys.sign(message)
        #expect(sig.count == 64)
        #expect(keys.publicKey.verify(signature: sig, of: message))
    }

    @Test func flippedBitInMessageFailsVerification() throws {
        let keys = try SigningKeyPair()
        let sig = keys.sign(message)
        for bit in [0, 7, 8 * message.count - 1] {
            var m = message
            m[bit / 8] ^= UInt8(1 << (bit % 8))
            #expect(!keys.publicKey.verify(signature: sig, of: m), "bit \(bit)")
        }
    }

    @Test func flippedBitInSignatureFailsVerification() throws {
        let keys = try SigningKeyPair()
        let sig = keys.sign(message)
        for bit in stride(from: 0, to: 512, by: 37) {
            var s = sig
            s[bit / 8] ^= UInt8(1 << (bit % 8))
            #expect(!keys.publicKey.verify(signature: s, of: message), "bit \(bit)")
        }
    }

    @Test func flippedBitInKeyFailsVerification() throws {
        let keys = try SigningKeyPair()
        let sig = keys.sign(message)
        for bit in stride(from: 0, to: 256, by: 29) {
            var k = keys.publicKey.bytes
            k[bit / 8] ^= UInt8(1 << (bit % 8))
            let other = try PublicKey(bytes: k)
            #expect(!other.verify(signature: sig, of: message), "bit \(bit)")
        }
    }

    @Test func signatureOfWrongLengthIsRejected() throws {
        let keys = try SigningKeyPair()
        let sig = keys.sign(message)
        #expect(!keys.publicKey.verify(signature: Array(sig.dropLast()), of: message))
    }

    @Test func seedDeterminesKeyPair() throws {
        let seed = [UInt8](repeating: 7, count: 32)
        let a = try SigningKeyPair(seed: seed)
        let b = try SigningKeyPair(seed: seed)
        #expect(a.publicKey == b.publicKey)
        #expect(a.sign(message) == b.sign(message))
        #expect(throws: SodiumError.wrongLength(what: "Ed25519 seed", expected: 32, actual: 31)) {
            try SigningKeyPair(seed: Array(seed.dropLast()))
        }
    }

    @Test func publicKeyTextRoundTrips() throws {
        let keys = try SigningKeyPair()
        let text = keys.publicKey.description
        #expect(text.count == 64)
        #expect(PublicKey(text: text) == keys.publicKey)
        #expect(PublicKey(text: text.uppercased()) == keys.publicKey)
        #expect(PublicKey(text: String(text.dropLast())) == nil)
        #expect(PublicKey(text: "zz" + text.dropFirst(2)) == nil)
    }
}

@Suite struct KeyFileTests {
    func temporaryFolder() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("starling-keys-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func mode(_ path: String) throws -> Int {
        let attrs = try FileManager.default.attributesOfItem(atPath: path)
        return (attrs[.posixPermissions] as! NSNumber).intValue
    }

    @Test func savedKeyFileHasMode0600AndLoadsBack() throws {
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/node.key"
        let keys = try SigningKeyPair()
        let oldMask = umask(0)  // the mode must not depend on the caller's umask
        defer { umask(oldMask) }
        try keys.save(to: path)
        #expect(try mode(path) == 0o600)
        let loaded = try SigningKeyPair.load(from: path)
        #expect(loaded.publicKey == keys.publicKey)
    }

    @Test func keyFileReadableByOthersIsRefused() throws {
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/node.key"
        try SigningKeyPair().save(to: path)
        chmod(path, 0o644)
        #expect(throws: SodiumError.insecureKeyFile(path: path, mode: "0644")) {
            try SigningKeyPair.load(from: path)
        }
        #expect(String(describing: SodiumError.insecureKeyFile(path: path, mode: "0644")).contains("chmod 600"))
    }

    @Test func existingKeyFileIsNotReplacedWithoutOverwrite() throws {
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/node.key"
        let first = try SigningKeyPair()
        try first.save(to: path)
        #expect(throws: SodiumError.self) { try SigningKeyPair().save(to: path) }
        #expect(try SigningKeyPair.load(from: path).publicKey == first.publicKey)
        let second = try SigningKeyPair()
        try second.save(to: path, overwrite: true)
        #expect(try SigningKeyPair.load(from: path).publicKey == second.publicKey)
        #expect(try mode(path) == 0o600)
    }

    @Test func malformedKeyFileIsAClearError() throws {
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/node.key"
        _ = FileManager.default.createFile(atPath: path, contents: Data("not a key\n".utf8), attributes: [.posixPermissions: 0o600])
        #expect(throws: SodiumError.malformedKey(path: path, reason: "expected hexadecimal text")) {
            try SigningKeyPair.load(from: path)
        }
        #expect(throws: SodiumError.keyFile(path: dir + "/missing", reason: "No such file or directory")) {
            try SigningKeyPair.load(from: dir + "/missing")
        }
    }
}

@Suite struct SodiumUtilityTests {
    // Reference values from the BLAKE2 specification's test vectors (RFC 7693 appendix
    // gives BLAKE2b-512("abc"); BLAKE2b-256 of the empty string is the well-known value).
    @Test func blake2bMatchesKnownVectors() throws {
        #expect(
            Hex.encode(try BLAKE2b.hash(Array("abc".utf8), outputLength: 64))
                == "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
                + "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923")
        #expect(
            Hex.encode(try BLAKE2b.hash([UInt8]()))
                == "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8")
    }

    @Test func streamingDigestEqualsOneShot() throws {
        let data = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var h = try BLAKE2b()
        h.update(data[0..<1])
        h.update(data[1..<4096].withUnsafeBytes { Array($0) })
        h.update(Array(data[4096...]))
        #expect(h.finalize() == (try BLAKE2b.hash(data)))
    }

    @Test func constantTimeEqualCompares() {
        #expect(Sodium.constantTimeEqual([1, 2, 3] as [UInt8], [1, 2, 3] as [UInt8]))
        #expect(!Sodium.constantTimeEqual([1, 2, 3] as [UInt8], [1, 2, 4] as [UInt8]))
        #expect(!Sodium.constantTimeEqual([1, 2, 3] as [UInt8], [1, 2] as [UInt8]))
    }

    @Test func secureZeroClearsBytes() {
        var secret: [UInt8] = [9, 8, 7, 6]
        Sodium.secureZero(&secret)
        #expect(secret == [0, 0, 0, 0])
    }

    @Test func curveKeysAgreeWithEd25519Identity() throws {
        let keys = try SigningKeyPair()
        let curve = try keys.curveKeyPair()
        #expect(curve.publicKey.count == 32 && curve.secretKey.count == 32)
        #expect(curve.publicKey == (try keys.publicKey.curvePublicKey()))
        #expect(curve.publicKey != keys.publicKey.bytes)
    }
}
