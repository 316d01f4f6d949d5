import Foundation
import Testing

@testable import Node

@Suite(.serialized) struct RoundPhasesTests {
    @Test func theThreadCPUClockCountsWorkAndNotSleep() {
        let t0 = threadCPUSeconds()
        Thread.sleep(forTimeInterval: 0.2)
        let slept = threadCPUSeconds() - t0
        #expect(slept >= 0 && slept < 0.1, "\(slept) s of CPU while asleep")

        let t1 = threadCPUSeconds(), wall = ContinuousClock.now
        var x = 1.0
        while (ContinuousClock.now - wall).seconds < 0.2 { x = x * 1.000001 + 1e-9 }
        let busy = threadCPUSeconds() - t1
        #expect(x > 0)
        // Busy on a possibly shared core: at least some of the 0.2 s, never more than it.
        #expect(busy > 0.01 && busy <= (ContinuousClock.now - wall).seconds + 1e-3, "\(busy) s of CPU")
    }

    @Test func phasesAddUpAndNestedPartsStayInsideTheirPhase() {
        let phases = RoundPhases()
        Thread.sleep(forTimeInterval: 0.05)
        phases.end("a")
        phases.timing("part") { Thread.sleep(forTimeInterval: 0.03) }
        Thread.sleep(forTimeInterval: 0.02)
        phases.end("b")
        phases.end("a")
        let s = phases.seconds
        #expect(Set(s.keys) == ["a", "b", "part"])
        #expect(s["a"]! >= 0.05 && s["b"]! >= 0.05 && s["part"]! >= 0.03 && s["part"]! <= s["b"]!)
        // The consecutive phases cover the whole round; a noted part is not counted twice.
        #expect(abs(s["a"]! + s["b"]! - phases.elapsed) < 0.01)
        #expect(phases.cpuSeconds.values.allSatisfy { $0 >= 0 && $0 < 0.05 })
    }

    /// Each phase's end records the process's peak resident set (which never falls), so
    /// a phase that holds a large buffer ends with a mark at least the resident set it
    /// reached; a phase closed twice keeps the larger mark.
    @Test func phasesRecordThePeakResidentSetAtTheirEnd() throws {
        let phases = RoundPhases()
        phases.end("before")
        let first = try #require(phases.peakResidentMiB["before"])
        let mib = 64
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: mib << 20)
        defer { buffer.deallocate() }
        for i in stride(from: 0, to: mib << 20, by: 4096) { buffer[i] = UInt8(truncatingIfNeeded: i >> 12) }
        let holding = try #require(PeakResidentMemory.currentMebibytes())
        phases.end("touched")
        phases.end("before")
        let peaks = phases.peakResidentMiB
        // The kernel's counters lag by a few pages per thread: 1 MiB of slack.
        #expect(peaks["touched"]! >= holding - 1, "peak \(peaks["touched"]!) MiB while \(holding) MiB resident")
        #expect(peaks["touched"]! >= first - 1 && peaks["before"]! >= first)
        var metrics = RoundMetrics(round: 1, trainLoss: 1, testLoss: nil, aggregated: false, candidates: 0, seconds: 1,
                                   trainingSeconds: 1, waitingSeconds: 0, trustSeconds: 0)
        metrics.measure(phases, trainingCPUSeconds: 0)
        #expect(metrics.phasePeakResidentMiB == peaks)
    }

    /// A trim hands back the heap pages freed blocks leave in its middle: blocks below
    /// the mmap threshold, freed beneath one still held, stay resident until it runs.
    @Test func aTrimReturnsTheFreedMiddleOfTheHeap() throws {
        let blocks = (0..<2048).map { _ in UnsafeMutablePointer<UInt8>.allocate(capacity: 64 << 10) }  // 128 MiB
        for block in blocks { for i in stride(from: 0, to: 64 << 10, by: 4096) { block[i] = 1 } }
        let pin = UnsafeMutablePointer<UInt8>.allocate(capacity: 64 << 10)
        pin[0] = 1
        defer { pin.deallocate() }
        let holding = try #require(PeakResidentMemory.currentMebibytes())
        for block in blocks { block.deallocate() }
        HeapReturn.trim()
        let after = try #require(PeakResidentMemory.currentMebibytes())
        // Other tests of this process may allocate meanwhile: at least half comes back.
        #expect(holding - after >= 64, "resident \(holding) MiB holding the blocks, \(after) MiB after the trim")
    }

    @Test func metricsWrittenBeforePhasesWereKeptStillRead() throws {
        let line = #"{"aggregated":true,"candidates":2,"round":3,"seconds":1.5,"testLoss":1.25,"trainLoss":2,"trainingSeconds":1,"trustSeconds":0.25,"waitingSeconds":0.125}"#
        let m = try JSONDecoder().decode(RoundMetrics.self, from: Data(line.utf8))
        #expect(m.seconds == 1.5 && m.trainingSeconds == 1)
        #expect(m.phaseSeconds == nil && m.phaseCPUSeconds == nil && m.cpuSeconds == nil && m.trainingCPUSeconds == nil)
        var timed = m
        timed.phaseSeconds = ["training": 1, "evaluation": 0.5]
        timed.phaseCPUSeconds = ["training": 0.75, "evaluation": 0.25]
        timed.cpuSeconds = 1
        timed.trainingCPUSeconds = 0.75
        #expect(try JSONDecoder().decode(RoundMetrics.self, from: JSONEncoder().encode(timed)) == timed)
    }

    @Test func everyRoundRecordsItsPhasesOnBothClocks() throws {
        let t = try preparedTopology("""
            name = "phases"
            sources = ["prose"]
            [defaults]
            trust = "validation"
            rounds = 3
            warmup_rounds = 1
            local_steps = 4
            batch_size = 4
            sequence_length = 32
            round_timeout_ms = 20000
            curve = false
            [[nodes]]
            name = "a"
            endpoint = "inproc://unused-a"
            [[nodes]]
            name = "b"
            endpoint = "inproc://unused-b"
            [edges]
            shape = "full"
            """)
        defer { try? FileManager.default.removeItem(atPath: t.baseDirectory) }
        for o in try runInProcess(t) { #expect(try o.get() == .finished(round: 3)) }
        for i in t.nodes.indices {
            let metrics = try StateDirectory(path: t.stateDirectory(of: i)).metrics()
            #expect(metrics.count == 3)
            for m in metrics {
                let wall = try #require(m.phaseSeconds), cpu = try #require(m.phaseCPUSeconds)
                let expected: Set<String> = m.aggregated
                    ? ["training", "publish", "wait", "candidates", "screening", "trust", "aggregation", "evaluation"]
                    : ["training", "evaluation"]
                // Prescoring runs only while the wait goes on; the first round has no commit before it.
                let optional: Set<String> = ["prescoring", "previous_commit"]
                #expect(Set(wall.keys).subtracting(optional) == expected, "round \(m.round): \(wall.keys.sorted())")
                #expect(Set(cpu.keys) == Set(wall.keys))
                #expect((wall["previous_commit"] != nil) == (m.round > 1))
                // The consecutive phases are the round's wall time; the training phase is trainingSeconds.
                let consecutive = wall.filter { !optional.contains($0.key) }.values.reduce(0, +)
                // Between two phases' clocks the thread may wait for a core: 10 ms and 2 % slack.
                #expect(abs(consecutive - m.seconds) < 0.01 + 0.02 * m.seconds, "phases \(consecutive) s, round \(m.seconds) s")
                #expect(abs(wall["training"]! - m.trainingSeconds) < 0.01)
                // waitingSeconds is the exchange: publishing, the wait, the candidate list.
                let exchange = ["publish", "wait", "candidates"].reduce(0) { $0 + wall[$1, default: 0] }
                if m.aggregated {
                    #expect(abs(m.waitingSeconds - exchange) < 1e-9 && m.waitingSeconds >= wall["wait"]!, "waiting \(m.waitingSeconds) s, exchange \(exchange) s")
                } else {
                    #expect(m.waitingSeconds == 0)
                }
                #expect((wall["prescoring"] ?? 0) <= wall["wait", default: 0] + 1e-6)
                let cpuSeconds = try #require(m.cpuSeconds), trainingCPU = try #require(m.trainingCPUSeconds)
                #expect(trainingCPU > 0 && trainingCPU <= cpuSeconds && cpuSeconds <= m.seconds + 0.01)
                #expect(abs(cpu["training"]! - trainingCPU) < 1e-9)
                for (phase, c) in cpu { #expect(c >= 0 && c <= wall[phase]! + 0.01, "\(phase): cpu \(c) s, wall \(wall[phase]!) s") }
            }
        }
    }
}
