// KVCache: the keys and values of every block for a batch of sequences, so that each
// new token costs one position of work instead of the whole window.
//
// Layout per block: keys (B, capacity, KC) then values (B, capacity, KC), KC the key
// width (C for GPT-2, NKV·hs for Llama). Keys are stored already rotated (RoPE at their
// own position), so a later query never touches them again. All rows of a batch hold
// the same number of positions.

/// The cached keys and values of `rows` sequences of up to `capacity` positions.
public final class KVCache {
    /// Sequences in the batch.
    public let rows: Int
    /// Positions each sequence can hold (at most the model's context).
    public let capacity: Int
    let layers: Int
    /// Width of one position's key (and value) in one block.
    let width: Int
    let storage: FloatBuffer
    /// Positions filled, the same for every row.
    public internal(set) var length = 0

    init(rows: Int, capacity: Int, layers: Int, width: Int) {
        self.rows = rows
        self.capacity = capacity
        self.layers = layers
        self.width = width
        storage = FloatBuffer(count: layers * 2 * rows * capacity * width)
    }

    /// Forgets every position (the buffers are reused).
    public func reset() { length = 0 }

    /// The key of block `l`, row `b`, position `t` (the value is `rows·capacity·width` further on).
    func key(layer l: Int, row b: Int, position t: Int) -> UnsafeMutablePointer<Float> {
        storage[((l * 2 * rows + b) * capacity + t) * width]
    }

    func value(layer l: Int, row b: Int, position t: Int) -> UnsafeMutablePointer<Float> {
        storage[(((l * 2 + 1) * rows + b) * capacity + t) * width]
    }

    /// Copies row 0's filled positions into every other row: a prompt shared by the
    /// whole group is run once.
    func replicateFirstRow() {
        for l in 0..<layers {
            for b in 1..<max(1, rows) {
                key(layer: l, row: b, position: 0).update(from: key(layer: l, row: 0, position: 0), count: length * width)
                value(layer: l, row: b, position: 0).update(from: value(layer: l, row: 0, position: 0), count: length * width)
            }
        }
    }
}
