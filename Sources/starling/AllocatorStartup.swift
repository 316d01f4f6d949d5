// AllocatorStartup: large buffers go back to the system when freed.
//
// glibc serves a request of 128 KiB or more with its own mmap, but raises that threshold
// to the size of every such block freed (up to 32 MiB). After the first free of an
// adapter-sized buffer (2.4 MB at GPT-2 124M) the next ones come from the heap, where
// freed space stays resident and fragments between rounds. A fixed threshold of 128 KiB
// (glibc's starting value) keeps every update, scoring buffer and large tensor in its own
// mapping, returned when freed: nine linked GPT-2 124M nodes with 8 candidates each
// peaked at 621–639 MiB per node with a fixed 1 MiB against 660–687 MiB with the sliding
// threshold, and at 605–625 MiB with 128 KiB, a trim after each round and the scoring
// changes made with them (`tools/bench-memory --nodes 9`).

#if canImport(Glibc)
import Glibc
#endif
import Foundation

enum AllocatorStartup {
    /// The fixed mmap threshold: 128 KiB.
    static let mmapThreshold: Int32 = 128 << 10
    /// glibc's `M_MMAP_THRESHOLD` (malloc.h, which the Glibc module does not bring in).
    static let mmapThresholdOption: Int32 = -3

    /// Sets the threshold unless the environment already chose one (`GLIBC_TUNABLES`
    /// naming `malloc.mmap_threshold`, or `MALLOC_MMAP_THRESHOLD_`).
    static func returnLargeBuffersWhenFreed() {
        #if canImport(Glibc)
        let environment = ProcessInfo.processInfo.environment
        if environment["MALLOC_MMAP_THRESHOLD_"] != nil { return }
        if environment["GLIBC_TUNABLES"]?.contains("malloc.mmap_threshold") == true { return }
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        _ = unsafeBitCast(symbol, to: Mallopt.self)(mmapThresholdOption, mmapThreshold)
        #endif
    }
}
