// The Euclidean size of an adapter and of the difference of two, over every value of
// every tensor, as the screens before trust measure them.

import Learning

public enum AdapterNorm {
    /// ‖θ‖ = √(Σ x²) over all tensors, accumulated in f64.
    public static func norm(_ a: LoRAAdapter) -> Double {
        var sum = 0.0
        for t in a.tensors {
            for x in t.values { sum += Double(x) * Double(x) }
        }
        return sum.squareRoot()
    }

    /// ‖a − b‖ over all tensors; `a` and `b` must have the same layout.
    public static func distance(_ a: LoRAAdapter, _ b: LoRAAdapter) -> Double {
        precondition(a.hasSameLayout(as: b), "distance between adapters of different layouts")
        var sum = 0.0
        for (s, t) in zip(a.tensors, b.tensors) {
            for (x, y) in zip(s.values, t.values) {
                let d = Double(x) - Double(y)
                sum += d * d
            }
        }
        return sum.squareRoot()
    }

    /// The median of `values` (the mean of the middle two for an even count); nil when empty.
    public static func median(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let v = values.sorted()
        let m = v.count / 2
        return v.count % 2 == 1 ? v[m] : (v[m - 1] + v[m]) / 2
    }
}
