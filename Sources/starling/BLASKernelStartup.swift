// BLASKernelStartup: the first thing `starling` does, before any matrix product — run
// again under the OpenBLAS kernel the CPU's features call for when the library fell
// back to a weaker one (it reads OPENBLAS_CORETYPE only while it loads).

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Learning

enum BLASKernelStartup {
    /// Sets OPENBLAS_CORETYPE (and the marker that says this program set it) and execs
    /// /proc/self/exe with the same arguments when `BLASKernel.coreToChoose` names a
    /// core; otherwise returns at once. Returns too when the exec fails: the process then
    /// runs on with the library's kernel, and the marker is cleared so `--version` tells
    /// the truth.
    static func runUnderTheBestKernel() {
        #if os(Linux)
        let environment = ProcessInfo.processInfo.environment
        guard let core = BLASKernel.coreToChoose(
            features: CPUFeatures.current, runningCore: BLASKernel.runningCore, environment: environment)
        else { return }
        setenv(BLASKernel.environmentVariable, core, 1)
        setenv(BLASKernel.chosenMarker, core, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        let reason = String(cString: strerror(errno))
        unsetenv(BLASKernel.environmentVariable)
        unsetenv(BLASKernel.chosenMarker)
        FileHandle.standardError.write(Data("starling: could not run again under the \(core) kernel (\(reason)); keeping \(BLASKernel.runningCore)\n".utf8))
        #endif
    }
}
