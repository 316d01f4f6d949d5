import ArgumentParser
import Foundation
import Learning

/// `starling blas-kernel`: the OpenBLAS kernel this binary runs on this machine.
///
/// Scripts use it to run other programs that load OpenBLAS (the test suite) under the
/// same kernel:
///
/// ```
/// $ starling blas-kernel
/// Cooperlake
/// $ starling blas-kernel --describe
/// OpenBLAS 0.3.21, kernel Cooperlake (chosen from CPU features)
/// ```
struct BLASKernelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blas-kernel",
        abstract: "Print the OpenBLAS kernel (core type) this binary runs.",
        discussion: """
            The kernel is OPENBLAS_CORETYPE when the environment sets it; otherwise the
            library's own match for the processor, or, when the library fell back to a
            weaker kernel than the CPU's features allow, the best one for those features.
            """
    )

    @Flag(help: "Print the library version and where the kernel choice came from too.") var describe = false

    func run() throws {
        print(describe ? BLASKernel.summary(environment: ProcessInfo.processInfo.environment) : BLASKernel.runningCore)
    }
}
