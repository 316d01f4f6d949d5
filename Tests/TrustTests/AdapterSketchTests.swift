// The copy screen's sketches of earlier adapters: equal adapters read as 0 apart, other
// pairs within a few percent of their true distance, ‖Sx‖² unbiased over keys, and the
// same few kilobytes whatever the adapter's size.

import Learning
import Testing

@testable import Trust

@Suite struct AdapterSketchTests {
    /// 4 blocks of width 64, rank 4 on the four projections: 16,384 values, four per bucket.
    func adapter(seed: UInt64, scale: Float = 1) -> LoRAAdapter {
        gpt2Adapter(layers: 4, width: 64, rank: 4) { scale * noise($0, seed: seed) }
    }

    func shifted(_ a: LoRAAdapter, by delta: (Int) -> Float) -> LoRAAdapter {
        var out = a
        var next = 0
        for t in out.tensors.indices {
            out.tensors[t].values = out.tensors[t].values.map { x in
                defer { next += 1 }
                return x + delta(next)
            }
        }
        return out
    }

    @Test func equalAdaptersAreZeroApartAndTheNormIsExact() {
        let a = adapter(seed: 1)
        #expect(a.parameterCount == 16_384)
        let key = AdapterSketch.Key(seed: 7)
        let (s, t) = (AdapterSketch(a, key: key), AdapterSketch(a, key: key))
        #expect(s == t)
        #expect(s.distance(to: t) == 0)
        #expect(s.norm == AdapterNorm.norm(a))
        #expect(s.hasSameLayout(as: a))
        #expect(!s.hasSameLayout(as: taggedAdapter(1)))
        // Another key places the values elsewhere.
        #expect(AdapterSketch(a, key: AdapterSketch.Key(seed: 8)).buckets != s.buckets)
    }

    @Test func theDistanceReadFromTwoSketchesIsWithinAFewPercentOfTheTrueOne() {
        let a = adapter(seed: 2)
        let changes: [(String, (Int) -> Float)] = [
            ("dense 1e-6", { 1e-6 * noise($0, seed: 3) }),
            ("dense 1e-3", { 1e-3 * noise($0, seed: 4) }),
            ("dense 1", { noise($0, seed: 5) }),
            ("one shift", { _ in 2e-4 }),
            ("ten values", { $0 % 1_637 == 0 ? 0.01 : 0 }),
        ]
        for seed in [UInt64(11), 12, 13] {
            let key = AdapterSketch.Key(seed: seed)
            for (name, delta) in changes {
                let b = shifted(a, by: delta)
                let truth = AdapterNorm.distance(a, b)
                let read = AdapterSketch(a, key: key).distance(to: AdapterSketch(b, key: key))
                #expect(abs(read / truth - 1) < 0.06, "\(name), key \(seed): \(read) against \(truth)")
            }
        }
    }

    @Test func theSquaredDistanceIsUnbiasedOverKeys() {
        let (a, b) = (adapter(seed: 21), adapter(seed: 22))
        let truth = AdapterNorm.distance(a, b)
        let ratios = (1...64).map { seed -> Double in
            let key = AdapterSketch.Key(seed: UInt64(seed))
            let read = AdapterSketch(a, key: key).distance(to: AdapterSketch(b, key: key))
            return read * read / (truth * truth)
        }
        // One key's ‖Sx‖²/‖x‖² has a standard deviation of about √(2/4096) ≈ 0.022; the
        // mean of 64, about 0.003.
        let mean = ratios.reduce(0, +) / Double(ratios.count)
        #expect(abs(mean - 1) < 0.01, "mean \(mean)")
        #expect(ratios.allSatisfy { abs($0 - 1) < 0.1 }, "\(ratios)")
    }

    @Test func aSketchIsTheSameSizeWhateverTheAdapter() {
        let key = AdapterSketch.Key(seed: 1)
        #expect(AdapterSketch(taggedAdapter(1), key: key).buckets.count == 4096)
        #expect(AdapterSketch(adapter(seed: 1), key: key).buckets.count == 4096)
        #expect(AdapterSketch.Key(seed: 1, width: 3000).width == 4096)
        #expect(AdapterSketch.Key(seed: 1, width: 0).width == 1)
        // What a node keeps of an earlier adapter larger than a sketch (16,384 values, 64
        // KiB, against 32 KiB) is the sketch under its own key; of a smaller one, the adapter.
        var held = HeldUpdates(rounds: 2, key: key)
        held.note([TrustCandidate(id: "own", adapter: adapter(seed: 1)), TrustCandidate(id: "a", adapter: taggedAdapter(2))], round: 1)
        #expect(held.entries.map { $0.sketch?.buckets.count } == [4096, nil])
        #expect(held.entries.map { $0.adapter == nil } == [true, false])
        #expect(held.entries[0].sketch?.key == key)
        #expect(held.heldSince([TrustCandidate(id: "own", adapter: adapter(seed: 1)), TrustCandidate(id: "a", adapter: taggedAdapter(2))])
            == ["own": 1, "a": 1])
        #expect(held.heldSince([TrustCandidate(id: "own", adapter: adapter(seed: 1, scale: 1.0001))]).isEmpty)
    }

    @Test func aLateCopyWithALittleNoiseIsCaughtAndAnHonestStepIsNot() {
        let own = TrustCandidate(id: "own", adapter: adapter(seed: 31))
        let original = adapter(seed: 32)
        var held = HeldUpdates(rounds: 2)
        held.note([own, TrustCandidate(id: "g", adapter: original)], round: 5)
        let moved = TrustCandidate(id: "g", adapter: shifted(original) { 0.05 * noise($0, seed: 33) })
        // 10⁻⁶ of noise on g's round-5 adapter is far within 10⁻³ of its norm; 10⁻² of
        // noise, about 1.7·10⁻² of it, is not.
        let copy = TrustCandidate(id: "f", adapter: shifted(original) { 1e-6 * noise($0, seed: 34) })
        let own2 = TrustCandidate(id: "h", adapter: shifted(original) { 1e-2 * noise($0, seed: 35) })
        let s = PeerScreen.screen(own: own, peers: [moved, copy, own2], held: held)
        #expect(s.kept.map(\.id) == ["g", "h"])
        #expect(s.exclusions.map(\.candidate) == ["f"])
        #expect(s.exclusions.first?.detail.hasPrefix("copy of g as held since round 5 (relative distance ") == true)
    }
}
