// What the model-based strategies ask of the node's model. Trust knows nothing of the
// transformer: the node's model conforms to this protocol.

import Learning

/// Runs the node's own base model with a candidate's LoRA adapter swapped in.
///
/// `validation` calls `meanCrossEntropies(of:)` and `prediction` `topKLogits(of:k:)`
/// once with every usable candidate in candidate order, the node's own adapter first
/// (by default one call per candidate, one after another). An evaluator that swaps adapters in place therefore ends holding the
/// last peer's adapter: the caller sets its own adapter back before training on.
///
/// Requirement: a conforming type evaluates every candidate in the same model buffers —
/// it copies the adapter's A and B values into the model's LoRA slots (e.g. a
/// `setAdapter(_:)`) and runs the forward pass it already has; it never allocates a model,
/// parameters or activations per candidate. Every adapter passed in has the node's own
/// layout (Trust screens the others out first) and only finite values. Evaluation runs
/// without dropout, so the same adapter always gives the same answer.
///
/// The reference code measures the loss on 12 batches of the node's validation data,
/// drawn afresh for every candidate; an evaluator here uses the same trust batches for
/// every candidate, so that their losses differ only by the adapter.
///
/// A node's model conforms along these lines (names illustrative):
/// ```
/// extension NodeModel: CandidateEvaluator {
///     func meanCrossEntropy(of adapter: LoRAAdapter) throws -> Double {
///         model.setAdapter(adapter)                    // copy into the model's LoRA slots
///         return model.meanLoss(over: trustBatches)    // forward only, no dropout
///     }
///     func topKLogits(of adapter: LoRAAdapter, k: Int) throws -> TopKLogits {
///         model.setAdapter(adapter)
///         var indices: [Int32] = [], values: [Float] = []
///         for batch in reference.batches {             // ReferenceBatches, derived once
///             let top = model.withLogits(of: batch.inputs) {   // (B, T, V) activations
///                 TopKLogits(logits: $0, vocabularySize: model.vocabularySize, k: k)
///             }
///             indices += top.indices; values += top.values
///         }
///         return TopKLogits(k: k, indices: indices, values: values)
///     }
/// }
/// ```
public protocol CandidateEvaluator {
    /// The mean cross-entropy, in nats per predicted token, of the model carrying `adapter`
    /// over the node's own trust split (the same batches on every call). Trust turns it
    /// into the perplexity p = exp(loss).
    func meanCrossEntropy(of adapter: LoRAAdapter) throws -> Double

    /// At every position of the shared reference batches (`ReferenceBatches`, in batch,
    /// then sequence, then position order), the `k` largest logits of the model carrying
    /// `adapter` with their token indices, as `TopKLogits(logits:vocabularySize:k:)`
    /// selects them. Every call covers the same positions in the same order.
    func topKLogits(of adapter: LoRAAdapter, k: Int) throws -> TopKLogits

    /// `meanCrossEntropy(of:)` of each adapter, in order. An evaluator may score them
    /// together; the answers are those of one call each, up to float rounding.
    func meanCrossEntropies(of adapters: [LoRAAdapter]) throws -> [Double]

    /// `topKLogits(of:k:)` of each adapter, in order, as `meanCrossEntropies(of:)` is to
    /// `meanCrossEntropy(of:)`.
    func topKLogits(of adapters: [LoRAAdapter], k: Int) throws -> [TopKLogits]
}

extension CandidateEvaluator {
    /// One call of `meanCrossEntropy(of:)` per adapter.
    public func meanCrossEntropies(of adapters: [LoRAAdapter]) throws -> [Double] { try adapters.map(meanCrossEntropy) }

    /// One call of `topKLogits(of:k:)` per adapter.
    public func topKLogits(of adapters: [LoRAAdapter], k: Int) throws -> [TopKLogits] { try adapters.map { try topKLogits(of: $0, k: k) } }
}

/// The k largest logits at each of a run of positions, with their token indices.
///
/// Storage is flat: position p owns entries `p*k ..< (p+1)*k` of `indices` and `values`,
/// sorted by token index ascending (so that two sets can be merged in one pass). Which k
/// are kept is deterministic: larger logit first, and among equal logits the smaller
/// token index. (The reference code keeps every logit ≥ the k-th largest, which can be
/// more than k on ties; with real-valued logits ties have no weight.)
public struct TopKLogits: Sendable, Equatable {
    /// Entries kept per position.
    public let k: Int
    /// Token indices, `positions × k`, ascending within each position.
    public let indices: [Int32]
    /// The logits at `indices`, `positions × k`.
    public let values: [Float]

    /// Number of positions.
    public var positions: Int { indices.count / k }

    /// Wraps already selected entries; each position's entries must be sorted by token
    /// index ascending, without repeats.
    public init(k: Int, indices: [Int32], values: [Float]) {
        precondition(k >= 1 && indices.count == values.count && indices.count % k == 0, "top-k storage must be positions × k")
        self.k = k
        self.indices = indices
        self.values = values
    }

    /// Selects the `k` largest of each position's `vocabularySize` logits. A NaN logit
    /// ranks below every number.
    ///
    /// Where k is a large part of the vocabulary (at most 8 tokens per kept one), each
    /// position finds its k-th largest logit by selection and keeps, in one pass in token
    /// order, what is above it and the first of its ties; otherwise a heap of the best k
    /// seen so far is cheaper, since few tokens beat its worst. Both keep the same entries.
    ///
    /// - Parameter logits: `(positions, vocabularySize)` row-major, e.g. a model's `(B, T, V)`
    ///   output flattened over B and T.
    public init(logits: UnsafeBufferPointer<Float>, vocabularySize: Int, k: Int) {
        precondition(vocabularySize >= 1 && logits.count % vocabularySize == 0)
        precondition(k >= 1 && k <= vocabularySize, "k must be in 1...vocabularySize")
        let positions = logits.count / vocabularySize
        var indices = [Int32](repeating: 0, count: positions * k)
        var values = [Float](repeating: 0, count: positions * k)
        indices.withUnsafeMutableBufferPointer { indices in
            values.withUnsafeMutableBufferPointer { values in
                for p in 0..<positions {
                    let row = UnsafeBufferPointer(rebasing: logits[(p * vocabularySize)..<((p + 1) * vocabularySize)])
                    let out = (indices: UnsafeMutableBufferPointer(rebasing: indices[(p * k)..<((p + 1) * k)]),
                               values: UnsafeMutableBufferPointer(rebasing: values[(p * k)..<((p + 1) * k)]))
                    if vocabularySize <= 8 * k {
                        Self.selectByThreshold(row, k: k, into: out)
                    } else {
                        Self.selectByHeap(row, k: k, into: out)
                    }
                }
            }
        }
        self.init(k: k, indices: indices, values: values)
    }

    /// The order the selection ranks logits by: a NaN below every number.
    @inline(__always) private static func rank(_ v: Float) -> Float { v.isNaN ? -.infinity : v }

    private typealias Selection = (indices: UnsafeMutableBufferPointer<Int32>, values: UnsafeMutableBufferPointer<Float>)

    /// Keeps the entries above the row's k-th largest logit and, of those equal to it, the
    /// ones with the smaller token indices, in token order.
    private static func selectByThreshold(_ row: UnsafeBufferPointer<Float>, k: Int, into out: Selection) {
        let n = row.count
        let threshold = withUnsafeTemporaryAllocation(of: Float.self, capacity: n) { s -> Float in
            for v in 0..<n { s[v] = rank(row[v]) }
            // Quickselect of rank k − 1 in descending order, partitioning three ways
            // (above, equal to, below the pivot) so that runs of ties end it at once.
            var lo = 0, hi = n - 1
            let target = k - 1
            while lo < hi {
                let a = s[lo], b = s[(lo + hi) / 2], c = s[hi]
                let pivot = max(min(a, b), min(max(a, b), c))
                var lt = lo, i = lo, gt = hi
                while i <= gt {
                    if s[i] > pivot {
                        s.swapAt(lt, i); lt += 1; i += 1
                    } else if s[i] < pivot {
                        s.swapAt(i, gt); gt -= 1
                    } else {
                        i += 1
                    }
                }
                if target < lt { hi = lt - 1 } else if target > gt { lo = gt + 1 } else { return pivot }
            }
            return s[target]
        }
        var above = 0
        for v in 0..<n where rank(row[v]) > threshold { above += 1 }
        var ties = k - above, e = 0
        for v in 0..<n {
            let r = rank(row[v])
            guard r > threshold || (r == threshold && ties > 0) else { continue }
            if r == threshold { ties -= 1 }
            out.indices[e] = Int32(v)
            out.values[e] = row[v]
            e += 1
        }
    }

    /// Keeps the best k in a min-heap with the worst at the root, "worse" being the
    /// ranking reversed: smaller logit, or equal logit and larger index.
    private static func selectByHeap(_ row: UnsafeBufferPointer<Float>, k: Int, into out: Selection) {
        withUnsafeTemporaryAllocation(of: Int.self, capacity: k) { hi in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: k) { hv in
                func worse(_ a: Int, _ b: Int) -> Bool { hv[a] != hv[b] ? hv[a] < hv[b] : hi[a] > hi[b] }
                func siftDown(_ start: Int) {
                    var i = start
                    while true {
                        let l = 2 * i + 1, r = l + 1
                        var m = i
                        if l < k && worse(l, m) { m = l }
                        if r < k && worse(r, m) { m = r }
                        if m == i { return }
                        hi.swapAt(i, m)
                        hv.swapAt(i, m)
                        i = m
                    }
                }
                for v in 0..<k {
                    hi[v] = v
                    hv[v] = rank(row[v])
                }
                for i in stride(from: k / 2 - 1, through: 0, by: -1) { siftDown(i) }
                // Later tokens have larger indices, so only a strictly larger logit
                // beats the root.
                var floor = hv[0]
                for v in k..<row.count where rank(row[v]) > floor {
                    hi[0] = v
                    hv[0] = rank(row[v])
                    siftDown(0)
                    floor = hv[0]
                }
                var sorted = hi
                sorted.sort()
                for (e, v) in sorted.enumerated() {
                    out.indices[e] = Int32(v)
                    out.values[e] = row[v]
                }
            }
        }
    }

    /// Selects the `k` largest of each position's `vocabularySize` logits (see above).
    public init(logits: [Float], vocabularySize: Int, k: Int) {
        self = logits.withUnsafeBufferPointer { TopKLogits(logits: $0, vocabularySize: vocabularySize, k: k) }
    }
}
