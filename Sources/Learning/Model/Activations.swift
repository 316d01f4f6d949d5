// Activations: the forward pass's tensors, kept for backward, and the backward's
// scratch, carved from one allocation sized for (B,T). A forward-only pass (evaluation,
// trust scoring) keeps nothing for a backward: every block shares one block's tensors,
// there is no backward scratch, and the logits cover a bounded run of rows at a time,
// in the floats the blocks used.
// A training pass that recomputes its blocks keeps only each block's output (N,C) and
// shares one block's other tensors, which backward fills again block by block.

/// Offsets into one flat buffer of everything a forward and backward pass at batch
/// size B and sequence length T needs.
final class Activations {
    struct Block {
        var ln1 = 0, ln1Mean = 0, ln1Rstd = 0  // (N,C), (N), (N); Llama: no mean
        var qkv = 0  // (N,3C) for GPT-2; Llama: q (N,C), then k and v (N,KC) each, q and k rotated
        var atty = 0  // (N,C) attention output before the projection
        var att = 0  // (B,NH,T,T) attention probabilities
        var attentionProjection = 0  // (N,C)
        var residual2 = 0  // (N,C)
        var ln2 = 0, ln2Mean = 0, ln2Rstd = 0  // (N,C), (N), (N)
        var fch = 0  // (N,H) MLP hidden before GELU, H = MLP width; Llama: the gate
        var fchGelu = 0  // (N,H); Llama: silu(gate) · up
        var up = 0  // (N,H) Llama's up projection
        var fcProjection = 0  // (N,C)
        var residual3 = 0  // (N,C) block output
        /// LoRA h = xd · Aᵀ (N,r) of slot k on projection p at loraH[k][p], -1 where
        /// the slot has no adapter.
        var loraH: [[Int]] = []
    }

    /// Sequences in use (at most `capacity`; a forward-only pass may use fewer) and their length.
    var B: Int
    let T: Int
    /// Sequences the buffers are sized for.
    let capacity: Int
    /// Whether the pass is kept for a backward (training) rather than forward only.
    let keepsActivations: Bool
    /// Whether the blocks share one block's tensors except their outputs, so backward
    /// recomputes a block's forward before going back through it.
    let recomputesBlocks: Bool
    /// Rows the logits buffer holds (all N unless `logitRows` said fewer): a training
    /// pass that holds fewer remakes them run by run in backward.
    let logitRows: Int
    let buffer: FloatBuffer
    let blocks: [Block]
    let encoded: Int  // (N,C)
    let lnf: Int, lnfMean: Int, lnfRstd: Int  // (N,C), (N), (N)
    let logits: Int  // (N,V); backward overwrites them with their gradient
    let logsumexp: Int  // (N)
    let losses: Int  // (N)

    // Backward scratch, one block's worth, reused layer after layer.
    let dStream: Int, dStream2: Int, dBranch: Int, dLN: Int, dAtty: Int  // (N,C) each
    let dQKV: Int  // (N,3C); Llama: dq (N,C), dk and dv (N,KC)
    let dFCH: Int  // (N,H)
    let dUp: Int  // (N,H), Llama only
    let loraXD: Int  // (N,max(C,H)) dropped-out LoRA input
    let loraDH: Int  // (N,r) for the largest rank
    /// Whether the backward scratch after dStream and dLN lives in the logits' floats.
    let backwardScratchInLogits: Bool

    /// Sized for `config` at (B,T) with adapter slots of these layouts and ranks. With
    /// `keepsActivations` false, for a forward pass only: one block's tensors reused by
    /// every block (a block reads its input from the previous block's residual3 before
    /// it overwrites it), no backward scratch. Either kind holds logits for `logitRows`
    /// rows (all N when nil).
    ///
    /// With `recomputesBlocks` (training only), every block but the first shares the
    /// first block's tensors and LoRA h, keeping only its own residual3.
    init(config: ModelConfig, slots: [LoRALayout], ranks: [Int], B: Int, T: Int, keepsActivations: Bool = true, logitRows: Int? = nil,
         recomputesBlocks: Bool = false) {
        precondition(keepsActivations || !recomputesBlocks, "a forward-only pass has no backward to recompute for")
        let C = config.channels, V = config.vocabularySize, NH = config.heads, N = B * T, H = config.mlpWidth
        let projections = config.projections.count
        let llama = config.family == .llama
        // q, k and v side by side: 3C for GPT-2, C + 2·KC with grouped-query heads.
        let QKV = C + 2 * config.kvChannels
        let maxRank = ranks.max() ?? 0
        var offset = 0
        func take(_ count: Int) -> Int {
            defer { offset += Self.padded(count) }
            return offset
        }
        encoded = take(N * C)
        var blocks: [Block] = []
        for l in 0..<config.layers {
            if !keepsActivations && l > 0 {
                blocks.append(blocks[0])
                continue
            }
            if recomputesBlocks && l > 0 {
                var block = blocks[0]
                block.residual3 = take(N * C)  // the next block's input, kept
                blocks.append(block)
                continue
            }
            var block = Block()
            block.ln1 = take(N * C)
            block.ln1Mean = llama ? 0 : take(N)
            block.ln1Rstd = take(N)
            block.qkv = take(N * QKV)
            block.atty = take(N * C)
            block.att = take(B * NH * T * T)
            block.attentionProjection = take(N * C)
            block.residual2 = take(N * C)
            block.ln2 = take(N * C)
            block.ln2Mean = llama ? 0 : take(N)
            block.ln2Rstd = take(N)
            block.fch = take(N * H)
            block.fchGelu = take(N * H)
            block.up = llama ? take(N * H) : 0
            block.fcProjection = take(N * C)
            block.residual3 = take(N * C)
            blocks.append(block)
        }
        for (k, layout) in slots.enumerated() {
            // Forward only, h is scratch: one (N,r) per slot serves every projection.
            let shared = keepsActivations ? -1 : take(N * ranks[k])
            for l in blocks.indices {
                if recomputesBlocks && l > 0 {
                    blocks[l].loraH.append(blocks[0].loraH[k])
                    continue
                }
                blocks[l].loraH.append((0..<projections).map { p in
                    layout.slot(layer: l, projection: p) == nil ? -1 : keepsActivations ? take(N * ranks[k]) : shared
                })
            }
        }
        self.blocks = blocks
        let logitRows = min(N, logitRows ?? N)
        // A forward-only pass is done with its embeddings, its one block's tensors and its
        // LoRA h once the final norm has read the last block's output, and nothing reads
        // them again: its logits take those floats (at GPT-2 124M, 256 rows and runs of 80
        // of them: 3.93 M of the 4.02 M floats of logits, 16 MB not allocated).
        if !keepsActivations { offset = max(offset, Self.padded(logitRows * V)) }
        lnf = take(N * C)
        lnfMean = llama ? 0 : take(N)
        lnfRstd = take(N)
        logits = keepsActivations ? take(logitRows * V) : 0
        logsumexp = take(N)
        losses = take(N)
        self.B = B
        self.T = T
        capacity = B
        self.keepsActivations = keepsActivations
        self.recomputesBlocks = recomputesBlocks
        self.logitRows = logitRows
        guard keepsActivations else {
            (dStream, dStream2, dBranch, dLN, dAtty, dQKV, dFCH, dUp, loraXD, loraDH) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            backwardScratchInLogits = false
            buffer = FloatBuffer(count: offset)
            return
        }
        // dStream and dLN take the output layer's gradient while the logits hold theirs.
        dStream = take(N * C)
        dLN = take(N * C)
        // The rest of the scratch serves the blocks' backward (and LoRA's dropout in the
        // forward, before any logits are made). A pass that recomputes its blocks is done
        // with its logits before the first block's backward, and nothing reads them
        // again: when they fit, these live in the logits' floats (at GPT-2 124M, batch
        // 4 × 64: 2.75 M of its 4.02 M floats of logits, 80 rows' worth; 11 MB not allocated).
        // dStream2, dBranch, dAtty, dQKV, dFCH, dUp, loraXD, loraDH; a tensor the pass
        // lacks has size 0 and offset 0.
        let scratch = [N * C, N * C, N * C, N * QKV, N * H, llama ? N * H : 0, maxRank > 0 ? N * max(C, H) : 0,
                       maxRank > 0 ? N * maxRank : 0]
        let sharesLogits = recomputesBlocks && scratch.reduce(0) { $0 + Self.padded($1) } <= logitRows * V
        var shared = logits
        let placed = scratch.map { count -> Int in
            if count == 0 { return 0 }
            guard sharesLogits else { return take(count) }
            defer { shared += Self.padded(count) }
            return shared
        }
        (dStream2, dBranch, dAtty, dQKV, dFCH, dUp, loraXD, loraDH) =
            (placed[0], placed[1], placed[2], placed[3], placed[4], placed[5], placed[6], placed[7])
        backwardScratchInLogits = sharesLogits
        buffer = FloatBuffer(count: offset)
    }

    /// Floats of one block's tensors at (B,T), each rounded up to 16 as `init` lays them
    /// out (LoRA h not included).
    static func blockFloats(config: ModelConfig, B: Int, T: Int) -> Int {
        let C = config.channels, N = B * T, H = config.mlpWidth, llama = config.family == .llama
        let sizes = [N * C, llama ? 0 : N, N, N * (C + 2 * config.kvChannels), N * C, B * config.heads * T * T, N * C, N * C,
                     N * C, llama ? 0 : N, N, N * H, N * H, llama ? N * H : 0, N * C, N * C]
        return sizes.reduce(0) { $0 + padded($1) }
    }

    /// `count` floats rounded up to a multiple of 16, so every tensor stays 64-byte aligned.
    static func padded(_ count: Int) -> Int { (count + 15) & ~15 }

    /// Floats of the one allocation.
    var floatCount: Int { buffer.count }

    @inline(__always) subscript(offset: Int) -> UnsafeMutablePointer<Float> { buffer.pointer + offset }

    /// Offset of slot k's h on projection p of block `layer`.
    func loraH(slot k: Int, layer: Int, projection p: Int) -> Int { blocks[layer].loraH[k][p] }
}
