import Foundation
import Testing

/// Runs the built `starling` binary with `arguments`; returns (status, stdout, stderr).
func runStarling(_ arguments: [String], timeoutSeconds: Double = 60) throws -> (status: Int32, out: String, err: String) {
    let process = Process()
    process.executableURL = starlingExecutable()
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let deadline = Date().addingTimeInterval(timeoutSeconds)
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    while process.isRunning && Date() < deadline { usleep(10_000) }
    if process.isRunning {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        Issue.record("starling \(arguments) timed out")
    }
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
}

/// The `starling` binary built beside the test bundle.
func starlingExecutable() -> URL {
    var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    // On Linux the test runner is <build>/debug/<Package>PackageTests.xctest; on macOS
    // it sits inside a bundle, so walk up until the binary appears.
    for _ in 0..<4 {
        let candidate = dir.appendingPathComponent("starling")
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        dir.deleteLastPathComponent()
    }
    return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("starling")
}

@Suite struct KeygenCommandTests {
    @Test func keygenWritesKeyPairAndPrintsPublicKey() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("starling-keygen-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try runStarling(["keygen", "--out", dir])
        #expect(r.status == 0, "\(r.err)")
        let printed = r.out.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(printed.count == 64 && printed.allSatisfy(\.isHexDigit))
        let pub = try String(contentsOfFile: dir + "/node.pub", encoding: .utf8)
        #expect(pub.trimmingCharacters(in: .whitespacesAndNewlines) == printed)
        let attrs = try FileManager.default.attributesOfItem(atPath: dir + "/node.key")
        #expect((attrs[.posixPermissions] as! NSNumber).intValue == 0o600)
    }

    @Test func secondKeygenRefusesAndKeepsFirstKey() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("starling-keygen-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try runStarling(["keygen", "--out", dir])
        #expect(first.status == 0)
        let secretBefore = try Data(contentsOf: URL(fileURLWithPath: dir + "/node.key"))
        let second = try runStarling(["keygen", "--out", dir])
        #expect(second.status != 0)
        #expect(second.err.contains("already exists"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/node.key")) == secretBefore)
        let forced = try runStarling(["keygen", "--out", dir, "--force"])
        #expect(forced.status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/node.key")) != secretBefore)
        #expect(forced.out != first.out)
    }

    @Test func versionAndHelpArePrinted() throws {
        let v = try runStarling(["--version"])
        // The version, then the OpenBLAS kernel that runs.
        let lines = v.out.split(separator: "\n")
        #expect(v.status == 0 && lines.first == "0.1.0")
        #expect(lines.count == 2 && lines.last?.contains("OpenBLAS") == true && lines.last?.contains("kernel ") == true, "\(v.out)")
        let h = try runStarling(["keygen", "--help"])
        #expect(h.status == 0 && h.out.contains("Example:") && h.out.contains("--force"))
    }
}
