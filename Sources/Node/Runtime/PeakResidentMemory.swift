// PeakResidentMemory: the process's resident set and its peak, from Linux's /proc.

import Foundation

/// The peak resident set size of this process (`VmHWM`), which Linux lets a process set
/// back to its current resident size (writing 5 to `/proc/self/clear_refs`), so that
/// one run of a benchmark can measure the peak of each of its parts.
public enum PeakResidentMemory {
    /// Sets the peak back to the current resident size; does nothing where /proc lacks it.
    public static func reset() {
        try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
    }

    /// The peak since the last reset (or the process's start), in MiB; nil without /proc.
    public static func mebibytes() -> Double? { read("VmHWM:") }

    /// The resident set now, in MiB; nil without /proc.
    public static func currentMebibytes() -> Double? { read("VmRSS:") }

    /// A `/proc/self/status` line's kibibytes, in MiB.
    private static func read(_ field: String) -> Double? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix(field) {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 2, let kibibytes = Double(fields[1]) else { return nil }
            return kibibytes / 1024
        }
        return nil
    }
}
