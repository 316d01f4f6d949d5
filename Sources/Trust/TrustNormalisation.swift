// From affinities to a row of weights: the variant's scale, ranking, its selection, and a
// softmax that neither overflows nor depends on the order of equal values.

import Foundation

enum TrustNormalisation {
    /// softmax(x / τ) computed stably: exp((x_j − max x) / τ) / Σ_k exp((x_k − max x) / τ).
    /// The largest term is exp(0) = 1, so the sum is at least 1 and never overflows. The
    /// terms are summed smallest first, an order that does not depend on the candidates'
    /// order, so permuting the input permutes the output exactly.
    static func softmax(_ x: [Double], temperature: Double = 1) -> [Double] {
        precondition(!x.isEmpty && temperature > 0)
        let top = x.max()!
        let e = x.map { exp(($0 - top) / temperature) }
        let sum = e.sorted().reduce(0, +)
        return e.map { $0 / sum }
    }

    /// Indices of `affinities` from best to worst: larger affinity first, equal
    /// affinities by smaller index first.
    static func ranking(_ affinities: [Double]) -> [Int] {
        affinities.indices.sorted { a, b in
            affinities[a] != affinities[b] ? affinities[a] > affinities[b] : a < b
        }
    }

    /// The affinities −g_j / m, with g_j = max a − a_j and m the `scale`'s statistic of
    /// the positive gaps (their smallest, or their median: the middle one, or the mean of
    /// the two middle ones). All zeros when no gap is positive.
    static func scaled(_ affinities: [Double], by scale: TrustScale) -> [Double] {
        precondition(!affinities.isEmpty)
        let best = affinities.max()!
        let gaps = affinities.map { best - $0 }
        let positive = gaps.filter { $0 > 0 }.sorted()
        guard !positive.isEmpty else { return gaps.map { _ in 0 } }
        let m: Double
        switch scale {
        case .nearest: m = positive[0]
        case .median: m = AdapterNorm.median(positive)!
        }
        return gaps.map { -$0 / m }
    }

    /// The row for one learned strategy: `affinities` of the usable candidates (in
    /// candidate order) to weights summing to 1, after the variant's scale, threshold and
    /// top-k (see `TrustVariant`). Dropped candidates get exactly 0.
    static func weights(affinities raw: [Double], variant: TrustVariant) -> [Double] {
        let affinities = variant.scale.map { scaled(raw, by: $0) } ?? raw
        let order = ranking(affinities)
        var kept = [Bool](repeating: true, count: affinities.count)
        if let threshold = variant.threshold {
            let bestTwo = Set(order.prefix(2))
            for j in affinities.indices where affinities[j] <= threshold && !bestTwo.contains(j) {
                kept[j] = false
            }
        }
        if let k = variant.topK {
            var remaining = k
            for j in order where kept[j] {
                if remaining > 0 { remaining -= 1 } else { kept[j] = false }
            }
        }
        let keptIndices = affinities.indices.filter { kept[$0] }
        let keptWeights = softmax(keptIndices.map { affinities[$0] }, temperature: variant.temperature)
        var row = [Double](repeating: 0, count: affinities.count)
        for (j, w) in zip(keptIndices, keptWeights) { row[j] = w }
        return row
    }
}
