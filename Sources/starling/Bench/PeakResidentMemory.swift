// PeakResidentMemory: the process's peak resident set, resettable, from Linux's /proc.

import Foundation

/// The peak resident set size of this process (`VmHWM`), which Linux lets a process set
/// back to its current resident size (writing 5 to `/proc/self/clear_refs`), so that
/// one run of a benchmark can measure the peak of each of its parts.
enum PeakResidentMemory {
    /// Sets the peak back to the current resident size; does nothing where /proc lacks it.
    static func reset() {
        try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
    }

    /// The peak since the last reset (or the process's start), in MiB; nil without /proc.
    static func mebibytes() -> Double? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 2, let kibibytes = Double(fields[1]) else { return nil }
            return kibibytes / 1024
        }
        return nil
    }
}
