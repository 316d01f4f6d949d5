// HeapReturn: the heap pages a round freed go back to the system before the next round.
//
// Blocks below the allocator's mmap threshold (every tensor of a decoded adapter, most
// of a round's small buffers) come from glibc's heaps, which hand back only their free
// top: what a round frees beneath a block still held stays resident and is reused only
// for blocks that fit it. A trim after each round hands every free page back, so the
// next round's training starts from what the node holds rather than the most it held.

#if canImport(Glibc)
import Glibc
#endif

enum HeapReturn {
    #if canImport(Glibc)
    private typealias MallocTrim = @convention(c) (Int) -> Int32
    /// glibc's `malloc_trim` (malloc.h, which the Glibc module does not bring in).
    private static let mallocTrim: MallocTrim? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim")
        .map { unsafeBitCast($0, to: MallocTrim.self) }
    #endif

    /// Hands every free page of the allocator's heaps back to the system (off glibc,
    /// nothing).
    static func trim() {
        #if canImport(Glibc)
        _ = mallocTrim?(0)
        #endif
    }
}
