import Foundation
import Testing

@testable import Learning

/// Runs the built `starling` binary with `arguments` under `environment` (this process's
/// environment with the given variables set, or removed where the value is nil).
private func runStarling(_ arguments: [String], environment changes: [String: String?]) throws -> (status: Int32, out: String) {
    let process = Process()
    process.executableURL = starlingExecutable()
    process.arguments = arguments
    var environment = ProcessInfo.processInfo.environment
    for (name, value) in changes { environment[name] = value }
    process.environment = environment
    let out = Pipe()
    process.standardOutput = out
    process.standardError = FileHandle.nullDevice
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

@Suite struct BLASKernelCommandTests {
    static let unset: [String: String?] = ["OPENBLAS_CORETYPE": nil, "STARLING_OPENBLAS_CORETYPE_CHOSEN": nil]

    @Test(arguments: ["Prescott", "Sandybridge"])
    func anExplicitKernelIsNeverOverridden(core: String) throws {
        var environment = Self.unset
        environment["OPENBLAS_CORETYPE"] = core
        let version = try runStarling(["--version"], environment: environment)
        #expect(version.status == 0)
        #expect(version.out.contains("kernel \(core) (set by OPENBLAS_CORETYPE)"), "\(version.out)")
        let kernel = try runStarling(["blas-kernel"], environment: environment)
        #expect(kernel.out == core + "\n")
    }

    @Test func withoutAnExplicitKernelTheBestOneForThisCPURuns() throws {
        let version = try runStarling(["--version"], environment: Self.unset)
        #expect(version.status == 0)
        #expect(version.out.contains("0.1.0"))
        #expect(!version.out.contains("set by OPENBLAS_CORETYPE"), "\(version.out)")
        let kernel = try runStarling(["blas-kernel"], environment: Self.unset).out.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(version.out.contains("kernel \(kernel) ("))
        #if arch(x86_64)
        let best = BLASKernel.bestCore(for: try #require(CPUFeatures.current))
        let running = try #require(BLASKernel.rank(kernel), "unranked kernel \(kernel)")
        #expect(running >= BLASKernel.rank(best)!, "running \(kernel), the CPU allows \(best)")
        #endif
    }

    @Test func benchTrainNamesItsKernel() throws {
        var environment = Self.unset
        environment["OPENBLAS_CORETYPE"] = "Sandybridge"
        let run = try runStarling(["bench", "train", "--layers", "1", "--heads", "2", "--width", "16", "--vocab", "64",
                                   "--seq", "8", "--batch", "2", "--steps", "1", "--warmup", "0", "--threads", "1", "--gemm-size", "64"],
                                  environment: environment)
        #expect(run.status == 0)
        let figures = try #require(try JSONSerialization.jsonObject(with: Data(run.out.utf8)) as? [String: Any])
        #expect(figures["blas_kernel"] as? String == "Sandybridge")
        #expect(figures["blas_kernel_source"] as? String == "set by OPENBLAS_CORETYPE")
    }
}
