// Parallel: splits the elementwise (non-BLAS) kernels over rows.

import Dispatch
import Synchronization

/// Row-parallel execution for the kernels that OpenBLAS does not run.
///
/// Work is cut into at most `workers` contiguous ranges, each computed entirely by
/// one thread, so every per-row reduction happens in one fixed order: results do not
/// depend on the number of workers.
public enum Parallel {
    private static let workerCount = Atomic<Int>(1)

    /// Number of threads the elementwise kernels use (at least 1; default 1).
    public static var workers: Int {
        get { workerCount.load(ordering: .relaxed) }
        set { workerCount.store(max(1, newValue), ordering: .relaxed) }
    }

    /// Sets the thread count of both OpenBLAS and the elementwise kernels.
    public static func setThreads(_ count: Int) {
        workers = count
        BLAS.setThreads(count)
    }

    /// Calls `body` on disjoint ranges covering `0..<count`, concurrently when the
    /// total work (`count · costPerItem`, roughly in floating-point operations) is large
    /// enough to pay for the dispatch.
    static func forRanges(_ count: Int, costPerItem: Int, _ body: (Range<Int>) -> Void) {
        let workers = min(Parallel.workers, count)
        guard workers > 1, count * max(1, costPerItem) >= 1 << 15 else {
            if count > 0 { body(0..<count) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let shared = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                shared.value(range(of: worker, workers: workers, count: count))
            }
        }
    }

    /// Like `forRanges`, but also passes the worker index (0..<workers), for kernels
    /// that need one scratch buffer per worker.
    static func forRangesWithWorker(_ count: Int, _ body: (Range<Int>, Int) -> Void) {
        let workers = min(Parallel.workers, count)
        guard workers > 1 else {
            if count > 0 { body(0..<count, 0) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let shared = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                shared.value(range(of: worker, workers: workers, count: count), worker)
            }
        }
    }

    private static func range(of worker: Int, workers: Int, count: Int) -> Range<Int> {
        let base = count / workers, extra = count % workers
        let start = worker * base + min(worker, extra)
        return start..<(start + base + (worker < extra ? 1 : 0))
    }
}

/// Hands a kernel's closure to the worker threads. The kernels only write disjoint
/// ranges of their buffers, and `concurrentPerform` returns after every worker ends,
/// so the closure never outlives the call nor races with itself.
private struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
