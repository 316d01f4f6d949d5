// HeapReturn: memory a node frees goes back to the system, so its resident set follows
// what it holds rather than the most it ever held.
//
// glibc serves a request of 128 KiB or more with its own mmap, but raises that threshold
// to the size of every such block freed (up to 32 MiB). After the first free of an
// adapter-sized buffer (2.4 MB at GPT-2 124M) the next ones come from the heap, where
// freed space stays resident and fragments between rounds. A fixed threshold of 128 KiB
// (glibc's starting value) keeps every update, scoring buffer and large tensor in its own
// mapping, returned when freed. Blocks below it (every tensor of a decoded adapter, most
// of a round's small buffers) come from the heaps, which hand back only their free top:
// what a round frees beneath a block still held stays resident until a trim, which a
// node runs after each round. Nine linked GPT-2 124M nodes with 8 candidates each peaked
// at 621–639 MiB per node with a fixed 1 MiB threshold against 660–687 MiB with the
// sliding one, and at 605–625 MiB with 128 KiB, the trim and the scoring changes made
// with them (`tools/bench-memory --nodes 9`).

#if canImport(Glibc)
import Glibc
#endif
import Foundation

public enum HeapReturn {
    /// The fixed mmap threshold: 128 KiB.
    static let mmapThreshold: Int32 = 128 << 10

    #if canImport(Glibc)
    private typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
    private typealias MallocTrim = @convention(c) (Int) -> Int32
    /// glibc's `M_MMAP_THRESHOLD`.
    private static let mmapThresholdOption: Int32 = -3
    // glibc's allocator controls (malloc.h, which the Glibc module does not bring in).
    private static let mallopt: Mallopt? = glibc("mallopt")
    private static let mallocTrim: MallocTrim? = glibc("malloc_trim")

    private static func glibc<F>(_ name: String) -> F? {
        dlsym(UnsafeMutableRawPointer(bitPattern: 0), name).map { unsafeBitCast($0, to: F.self) }
    }
    #endif

    /// Fixes the mmap threshold at `mmapThreshold`, unless the environment already chose
    /// one (`GLIBC_TUNABLES` naming `malloc.mmap_threshold`, or `MALLOC_MMAP_THRESHOLD_`).
    public static func returnLargeBuffersWhenFreed() {
        #if canImport(Glibc)
        let environment = ProcessInfo.processInfo.environment
        if environment["MALLOC_MMAP_THRESHOLD_"] != nil { return }
        if environment["GLIBC_TUNABLES"]?.contains("malloc.mmap_threshold") == true { return }
        _ = mallopt?(mmapThresholdOption, mmapThreshold)
        #endif
    }

    /// Hands every free page of the allocator's heaps back to the system (off glibc,
    /// nothing).
    static func trim() {
        #if canImport(Glibc)
        _ = mallocTrim?(0)
        #endif
    }
}
