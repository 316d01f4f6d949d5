// CachedGeneration: sampling a group of continuations together through a KV cache.
//
// The same draws as `TextGenerator.continuation(of:count:seed:)` (which reruns the
// whole window for every token and stays as the reference): sample b uses its own
// SeededRandom(seed: seeds[b]) and the same `sample` over its row of logits. While the
// text fits the context each step runs one position per sample; once it is full the
// window slides, every learned or rotary position moves, and the cache is rebuilt
// from the window each step, exactly as the uncached path recomputes it.

extension TextGenerator {
    /// One continuation of `count` tokens of `prompt` per seed, sampled together over
    /// a KV cache: continuation b equals `continuation(of: prompt, count: count, seed: seeds[b])`.
    public func continuations(of prompt: [Int32], count: Int, seeds: [UInt64]) -> [[Int32]] {
        precondition(!prompt.isEmpty, "generation needs at least one prompt token")
        precondition(!seeds.isEmpty, "generation needs at least one seed")
        let G = seeds.count, T = model.config.maxSequenceLength, V = model.config.vocabularySize
        var sequences = [[Int32]](repeating: prompt, count: G)
        guard count > 0 else { return sequences.map { _ in [] } }
        let decoder = IncrementalDecoder(model: model, rows: G, capacity: min(T, prompt.count + count))
        var randoms = seeds.map { SeededRandom(seed: $0) }
        var logits = decoder.prefill(Array(prompt.suffix(T)))
        for step in 0..<count {
            var next: [Int32] = []
            logits.withUnsafeBufferPointer { all in
                for b in 0..<G { next.append(sample(UnsafeBufferPointer(rebasing: all[(b * V)..<((b + 1) * V)]), using: &randoms[b])) }
            }
            for b in 0..<G { sequences[b].append(next[b]) }
            if step == count - 1 { break }
            if decoder.cache.length < decoder.cache.capacity {
                logits = decoder.forward(tokens: next, rows: G)
            } else {
                decoder.cache.reset()
                logits = decoder.forward(tokens: Array(sequences.map { $0.suffix(T) }.joined()), rows: G)
            }
        }
        return sequences.map { Array($0[prompt.count...]) }
    }
}
