// TransformerModel+ForwardOnly: the forward pass of evaluation and trust scoring.
//
// It runs the training forward's kernels in the same order, so its logits and losses
// are the training path's bit for bit, but keeps nothing for a backward: every block
// reuses one block's buffers, and the logits are made a bounded run of rows at a time
// (50,257 floats a row at GPT-2's vocabulary) and handed on before the next run
// overwrites them.
//
// Candidates for one slot are scored together by stacking their copies of a batch along
// the rows: every base product (the frozen weight shared) covers all candidates' rows
// at once, and each candidate's slot values are applied to its own rows only. Stacked
// and one-by-one scores agree to the last bits OpenBLAS may order differently in a
// product of another height (see the tests for the tolerance).

/// Candidates' values of one slot, stacked along the rows of a forward-only pass:
/// group g of the rows carries `values(g)` in the slot's layout.
struct CandidateRows {
    let slot: String
    let groups: Int
    /// Values per candidate.
    let count: Int
    let buffer: FloatBuffer

    func values(_ g: Int) -> UnsafeMutablePointer<Float> { buffer.pointer + g * count }
}

extension TransformerModel {
    /// Rows of logits a scoring pass holds at most at once: 256, fewer where 256 rows
    /// would pass 2²² floats (16 MiB): 80 rows at GPT-2's vocabulary.
    public static let scoringLogitRows = 256

    /// Rows of logits a scoring pass of this model holds at once.
    public var scoringLogitRows: Int { max(16, min(Self.scoringLogitRows, logitFloatBudget / config.vocabularySize / 16 * 16)) }

    /// Rows a stacked scoring pass may run at once: as many as keep its buffers within
    /// a sixteenth of the base or 2²² floats, whichever is more (482 rows of 64 tokens
    /// at GPT-2 124M, so its candidates of 256 rows run one per pass; thousands at the
    /// tiny shape, where `stackedRows` decides).
    func stackedRowBudget(sequenceLength T: Int) -> Int {
        let perRow = Activations.blockFloats(config: config, B: 1, T: T) / T + 2 * config.channels
        return max(parameterLayout.count / 16, 1 << 22) / perRow
    }

    /// Checks a batch of `inputs` (B,T) and optional `targets` (B,T) against the model.
    func checkBatch(inputs: [Int32], targets: [Int32]?, batchSize B: Int, sequenceLength T: Int) {
        let V = config.vocabularySize, N = B * T
        precondition(B > 0 && T > 0 && T <= config.maxSequenceLength, "sequence length \(T) outside 1...\(config.maxSequenceLength)")
        precondition(inputs.count == N, "inputs hold \(inputs.count) ids, expected B·T = \(N)")
        precondition(inputs.allSatisfy { $0 >= 0 && Int($0) < V }, "an input id is outside the vocabulary 0..<\(V)")
        if let targets {
            precondition(targets.count == N, "targets hold \(targets.count) ids, expected B·T = \(N)")
            precondition(targets.allSatisfy { Int($0) < V }, "a target id is outside the vocabulary 0..<\(V)")
        }
    }

    /// The forward-only buffers for B sequences of T tokens holding `logitRows` rows of
    /// logits; buffers made for more sequences serve fewer.
    private func forwardOnlyActivations(B: Int, T: Int, logitRows: Int) -> Activations {
        // A forward-only pass ends what backward could use: the training buffers go
        // before any new allocation, so the two never take memory at once.
        activations = nil
        lastActivations = nil
        if let acts = forwardOnlyActivations, acts.T == T, acts.capacity >= B, acts.logitRows >= min(logitRows, B * T) {
            acts.B = B
            return acts
        }
        forwardOnlyActivations = nil  // free the old buffers before allocating new ones
        let acts = Activations(config: config, slots: slots.map(\.layout), ranks: slots.map(\.lora.rank), B: B, T: T,
                               keepsActivations: false, logitRows: logitRows)
        forwardOnlyActivations = acts
        return acts
    }

    /// As `forward(inputs:targets:batchSize:sequenceLength:training: false)`, with the
    /// same logits and loss bit for bit, keeping nothing for `backward()`; the logits
    /// stay readable through `withLogits` until the next forward.
    @discardableResult
    public func forwardOnly(inputs: [Int32], targets: [Int32]?, batchSize B: Int, sequenceLength T: Int) -> Float? {
        checkBatch(inputs: inputs, targets: targets, batchSize: B, sequenceLength: T)
        let N = B * T, acts = forwardOnlyActivations(B: B, T: T, logitRows: N)
        run(acts: acts, inputs: inputs, targets: targets, groupRows: N) { _ in }
        guard let targets else {
            targetCount = 0
            return nil
        }
        return meanLoss(acts[acts.losses], targets: targets)
    }

    /// sum(losses) / (number of targets ≥ 0), summed in row order as `forward` sums.
    private func meanLoss(_ losses: UnsafePointer<Float>, targets: ArraySlice<Int32>) -> Float {
        targetCount = targets.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) }
        var sum: Float = 0
        for i in 0..<targets.count { sum += losses[i] }
        return targetCount > 0 ? sum / Float(targetCount) : 0
    }

    private func meanLoss(_ losses: UnsafePointer<Float>, targets: [Int32]) -> Float { meanLoss(losses, targets: targets[...]) }

    /// Runs `batch` forward only, handing `logits` each run of at most
    /// `scoringLogitRows` rows (the batch rows, their logits (rows,V)) in row order.
    /// - Returns: the mean loss over the batch's target positions, as `forward` gives it.
    @discardableResult
    public func forwardOnly(batch: TokenBatch, logits body: (_ rows: Range<Int>, _ logits: UnsafeBufferPointer<Float>) -> Void) -> Float {
        checkBatch(inputs: batch.inputs, targets: batch.targets, batchSize: batch.batchSize, sequenceLength: batch.sequenceLength)
        let N = batch.batchSize * batch.sequenceLength, V = config.vocabularySize
        let acts = forwardOnlyActivations(B: batch.batchSize, T: batch.sequenceLength, logitRows: scoringLogitRows)
        run(acts: acts, inputs: batch.inputs, targets: batch.targets, groupRows: N) { rows in
            body(rows, UnsafeBufferPointer(start: acts[acts.logits], count: rows.count * V))
        }
        return meanLoss(acts[acts.losses], targets: batch.targets)
    }

    /// The mean loss over every target position of `batches` (forward only, no dropout).
    public func evaluateLoss(batches: [TokenBatch]) -> Float {
        var total: Double = 0
        var count = 0
        for batch in batches {
            let loss = forwardOnly(batch: batch) { _, _ in }
            total += Double(loss) * Double(targetCount)
            count += targetCount
        }
        return count > 0 ? Float(total / Double(count)) : 0
    }

    // MARK: - Candidates stacked along the rows

    /// The values of slot `name` (LoRA or bottleneck) in its layout: what a candidate
    /// for that slot is handed to `forEachCandidate` as.
    /// - Throws: `ModelError.noSlot` when the model has no such slot.
    public func slotValues(named name: String) throws(ModelError) -> [Float] {
        if let slot = slot(named: name) { return slot.values.array }
        if let bottleneck = bottleneck(named: name) { return bottleneck.values.array }
        throw .noSlot(name)
    }

    /// Runs `batch` once for each of `candidates` (values of slot `name` as
    /// `slotValues(named:)` lays them out), the model's other slots as they are, as if
    /// each were put in the slot in turn and run by `forwardOnly`. Up to `stackedRows`
    /// rows (B·T per candidate) go through each base product together.
    ///
    /// `logits` is called with (candidate, the batch rows, those rows' logits (rows,V))
    /// for every run of at most `scoringLogitRows` rows, in row order per candidate.
    /// - Returns: each candidate's mean loss over the batch's target positions.
    /// - Throws: `ModelError.noSlot`, or `.adapterMismatch` when a candidate has the
    ///   wrong number of values.
    @discardableResult
    public func forEachCandidate(
        _ candidates: [[Float]], inSlot name: String, batch: TokenBatch, stackedRows: Int = 2048,
        logits body: (_ candidate: Int, _ rows: Range<Int>, _ logits: UnsafeBufferPointer<Float>) -> Void = { _, _, _ in }
    ) throws -> [Float] {
        try forEachCandidate(count: candidates.count, inSlot: name, batch: batch, stackedRows: stackedRows, values: { candidates[$0] }, logits: body)
    }

    /// `forEachCandidate(_:inSlot:batch:stackedRows:logits:)` over `count` candidates whose
    /// values `values` hands over only when their pass runs, so that no more than one
    /// pass's candidates (and the one being read) are ever held as slot values at once.
    /// - Throws: what `values` throws, `ModelError.noSlot`, or `.adapterMismatch` when
    ///   a candidate has the wrong number of values.
    @discardableResult
    public func forEachCandidate(
        count candidates: Int, inSlot name: String, batch: TokenBatch, stackedRows: Int = 2048,
        values candidate: (_ candidate: Int) throws -> [Float],
        logits body: (_ candidate: Int, _ rows: Range<Int>, _ logits: UnsafeBufferPointer<Float>) -> Void = { _, _, _ in }
    ) throws -> [Float] {
        let count: Int
        if let slot = slot(named: name) {
            count = slot.values.count
        } else if let bottleneck = bottleneck(named: name) {
            count = bottleneck.values.count
        } else {
            throw ModelError.noSlot(name)
        }
        let B = batch.batchSize, T = batch.sequenceLength, n = B * T, V = config.vocabularySize
        checkBatch(inputs: batch.inputs, targets: batch.targets, batchSize: B, sequenceLength: T)
        guard candidates > 0 else { return [] }
        let perPass = max(1, min(candidates, stackedRows / n, stackedRowBudget(sequenceLength: T) / n))
        let values = FloatBuffer(count: perPass * count)
        defer { candidateRows = nil }
        var losses: [Float] = []
        var first = 0
        while first < candidates {
            let groups = min(perPass, candidates - first)
            candidateRows = nil  // `values` may put a candidate in the slot to read it
            for g in 0..<groups {
                let given = try candidate(first + g)
                guard given.count == count else {
                    throw ModelError.adapterMismatch("a candidate for slot \(name) holds \(given.count) values, expected \(count)")
                }
                given.withUnsafeBufferPointer { values[g * count].update(from: $0.baseAddress!, count: count) }
            }
            candidateRows = CandidateRows(slot: name, groups: groups, count: count, buffer: values)
            let acts = forwardOnlyActivations(B: perPass * B, T: T, logitRows: scoringLogitRows)
            acts.B = groups * B
            let inputs = Array([[Int32]](repeating: batch.inputs, count: groups).joined())
            let targets = Array([[Int32]](repeating: batch.targets, count: groups).joined())
            run(acts: acts, inputs: inputs, targets: targets, groupRows: n) { rows in
                let g = rows.lowerBound / n, start = rows.lowerBound - g * n
                body(first + g, start..<(start + rows.count), UnsafeBufferPointer(start: acts[acts.logits], count: rows.count * V))
            }
            for g in 0..<groups {
                losses.append(meanLoss(acts[acts.losses] + g * n, targets: batch.targets))
            }
            first += groups
        }
        return losses
    }
}
