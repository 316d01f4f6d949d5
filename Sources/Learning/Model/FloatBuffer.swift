// FloatBuffer: one owned, zeroed, 64-byte-aligned allocation of Floats.

/// A flat allocation of Floats that the model carves into tensors by offset.
final class FloatBuffer {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int

    init(count: Int) {
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * MemoryLayout<Float>.stride, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(1, count))
        pointer.initialize(repeating: 0, count: max(1, count))
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }

    /// Sets every value to zero.
    func zero() { pointer.update(repeating: 0, count: count) }

    /// The buffer's values as an array (a copy).
    /// Overwrites the buffer with `values` (same count).
    func copy(from values: [Float]) {
        precondition(values.count == count, "copying \(values.count) values into a buffer of \(count)")
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: count) }
    }

    var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    subscript(offset: Int) -> UnsafeMutablePointer<Float> { pointer + offset }
}
