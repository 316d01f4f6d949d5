// RoundPhases: where one round's time goes, phase by phase, on the wall clock and on
// the CPU clock of the thread that runs the round.
//
// The wall clock counts every moment a phase lasts, including time the thread spends
// descheduled while other threads (in-process neighbours, other jobs) run on the same
// cores; the thread's CPU clock counts only the work the phase itself did. With nine
// nodes on two cores the two differ by the whole difference between "this node is
// slow" and "this node is waiting for a core".

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Seconds of CPU time the calling thread has run (`CLOCK_THREAD_CPUTIME_ID`).
func threadCPUSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

/// Times the consecutive phases of one round on the round's thread: `end(_:)` closes
/// the phase running since the previous `end` (or the start) under a name; a name
/// closed twice adds up.
final class RoundPhases {
    private let clock = ContinuousClock()
    private let start: ContinuousClock.Instant
    private let cpuStart: Double
    private var mark: ContinuousClock.Instant
    private var cpuMark: Double
    /// Wall seconds of each phase.
    private(set) var seconds: [String: Double] = [:]
    /// CPU seconds of the round's thread in each phase.
    private(set) var cpuSeconds: [String: Double] = [:]
    /// The process's peak resident set (MiB, `VmHWM`) when each phase ended: the peak never
    /// falls, so the first phase at which it reaches its final value is where it was made.
    private(set) var peakResidentMiB: [String: Double] = [:]

    init() {
        start = clock.now
        mark = start
        cpuStart = threadCPUSeconds()
        cpuMark = cpuStart
    }

    /// Closes the phase running since the last mark as `phase`.
    func end(_ phase: String) {
        let now = clock.now, cpu = threadCPUSeconds()
        seconds[phase, default: 0] += (now - mark).seconds
        cpuSeconds[phase, default: 0] += cpu - cpuMark
        (mark, cpuMark) = (now, cpu)
        notePeak(phase)
    }

    /// Records the process's peak resident set as of now under `phase`.
    func notePeak(_ phase: String, mebibytes: Double? = PeakResidentMemory.mebibytes()) {
        if let mebibytes { peakResidentMiB[phase] = max(peakResidentMiB[phase] ?? 0, mebibytes) }
    }

    /// Adds `wall` and `cpu` seconds to `phase` without moving the mark: a part timed
    /// inside a phase that is closed as a whole (prescoring within the wait).
    func note(_ phase: String, wall: Double, cpu: Double) {
        seconds[phase, default: 0] += wall
        cpuSeconds[phase, default: 0] += cpu
    }

    /// Runs `body` and notes its time under `phase` (inside the current phase).
    func timing<R>(_ phase: String, _ body: () throws -> R) rethrows -> R {
        let t0 = clock.now, c0 = threadCPUSeconds()
        defer { note(phase, wall: (clock.now - t0).seconds, cpu: threadCPUSeconds() - c0) }
        return try body()
    }

    /// Wall seconds since the round began.
    var elapsed: Double { (clock.now - start).seconds }
    /// CPU seconds of the round's thread since the round began.
    var cpuElapsed: Double { threadCPUSeconds() - cpuStart }
}

extension RoundMetrics {
    /// Takes the phases of `phases` and the round thread's CPU time (to now, the end of
    /// the round's `seconds`).
    mutating func measure(_ phases: RoundPhases, trainingCPUSeconds: Double) {
        phaseSeconds = phases.seconds
        phaseCPUSeconds = phases.cpuSeconds
        phasePeakResidentMiB = phases.peakResidentMiB.isEmpty ? nil : phases.peakResidentMiB
        cpuSeconds = phases.cpuElapsed
        self.trainingCPUSeconds = trainingCPUSeconds
    }
}
