// A small stand-in for an adapter the node no longer holds, for the copy screen's
// memory of earlier rounds (`HeldUpdates`). Keeping the earlier adapters themselves costs
// a full adapter per member and round (2.4 MB each at the GPT-2 124M shape); the screen
// only ever asks how far a present adapter is from an earlier one, and a count sketch
// answers that within about a percent in a few kilobytes.
//
// Value i of the flattened adapter goes to bucket h(i) with sign s(i), both drawn from
// a SplitMix64 stream seeded with the node's secret key: bucket j holds Σ_{h(i)=j} s(i)·xᵢ.
// For any x, E‖Sx‖² = ‖x‖² and the variance of ‖Sx‖² is at most 2‖x‖⁴/width, so at
// width 4,096 the distance read from two sketches is within about 1 % of the true one
// (one standard deviation). A member that knew the key could put a small change where
// buckets add it up with one sign, so that the sketch overstates it and a copy passes
// for a member of its own; the key never leaves the node.

import Learning

/// A keyed count sketch of an adapter, with its exact norm and layout.
public struct AdapterSketch: Sendable, Equatable {
    /// The secret that places values in buckets; sketches compare only under one key.
    public struct Key: Sendable, Equatable, Hashable {
        public let seed: UInt64
        public let width: Int

        /// `width` is rounded up to a power of two.
        public init(seed: UInt64, width: Int = 4096) {
            self.seed = seed
            var w = 1
            while w < max(1, width) { w <<= 1 }
            self.width = w
        }

        /// A fresh key from the system's random source.
        public static func random(width: Int = 4096) -> Key {
            var g = SystemRandomNumberGenerator()
            return Key(seed: g.next(), width: width)
        }
    }

    public let key: Key
    /// ‖x‖ of the adapter itself, accumulated in f64 as `AdapterNorm.norm`.
    public let norm: Double
    public let names: [String]
    public let shapes: [[Int]]
    public let buckets: [Double]

    public init(_ adapter: LoRAAdapter, key: Key) {
        var generator = SeededGenerator(seed: key.seed)
        let mask = UInt64(key.width - 1)
        var buckets = [Double](repeating: 0, count: key.width)
        var squares = 0.0
        buckets.withUnsafeMutableBufferPointer { b in
            for t in adapter.tensors {
                for x in t.values {
                    let h = generator.next()
                    let v = Double(x)
                    squares += v * v
                    b[Int(h & mask)] += h >> 63 == 0 ? v : -v
                }
            }
        }
        self.key = key
        self.norm = squares.squareRoot()
        self.names = adapter.tensors.map(\.name)
        self.shapes = adapter.tensors.map(\.shape)
        self.buckets = buckets
    }

    /// Whether `adapter` has the tensor names and shapes this sketch was made from.
    public func hasSameLayout(as adapter: LoRAAdapter) -> Bool {
        names.count == adapter.tensors.count
            && zip(adapter.tensors, zip(names, shapes)).allSatisfy { $0.name == $1.0 && $0.shape == $1.1 }
    }

    /// The estimate of ‖a − b‖ from the two adapters' sketches under one key: exact
    /// (0) for equal adapters, within about 1 % otherwise.
    public func distance(to other: AdapterSketch) -> Double {
        precondition(key == other.key && names == other.names && shapes == other.shapes,
                     "distance between sketches of different keys or layouts")
        var sum = 0.0
        for (x, y) in zip(buckets, other.buckets) {
            let d = x - y
            sum += d * d
        }
        return sum.squareRoot()
    }
}
