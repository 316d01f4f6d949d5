// Encoder: token embedding plus learned position embedding (GPT-2), or the token
// embedding alone (Llama).

/// out (B,T,C) = wte[tokens[b,t]] (C) + wpe[t] (C).
/// tokens is (B,T); wte is (V,C); wpe is (maxT,C).
func encoderForward(
    out: UnsafeMutablePointer<Float>, tokens: UnsafePointer<Int32>,
    wte: UnsafePointer<Float>, wpe: UnsafePointer<Float>, B: Int, T: Int, C: Int
) {
    Parallel.forRanges(B * T, costPerItem: C) { rows in
        for row in rows {
            let t = row % T
            let token = wte + Int(tokens[row]) * C, position = wpe + t * C, o = out + row * C
            for c in 0..<C { o[c] = token[c] + position[c] }
        }
    }
}

/// dwte (V,C) += scatter of dout rows by token; dwpe (maxT,C) += dout summed over batches.
/// dout is (B,T,C). Sequential: different rows may hit the same token.
func encoderBackward(
    dwte: UnsafeMutablePointer<Float>, dwpe: UnsafeMutablePointer<Float>,
    dout: UnsafePointer<Float>, tokens: UnsafePointer<Int32>, B: Int, T: Int, C: Int
) {
    for row in 0..<(B * T) {
        let t = row % T
        let d = dout + row * C, token = dwte + Int(tokens[row]) * C, position = dwpe + t * C
        for c in 0..<C {
            token[c] += d[c]
            position[c] += d[c]
        }
    }
}

/// out (N,C) = wte[tokens[n]] (C): Llama's embedding, positions enter as rotations.
func embeddingForward(out: UnsafeMutablePointer<Float>, tokens: UnsafePointer<Int32>, wte: UnsafePointer<Float>, N: Int, C: Int) {
    Parallel.forRanges(N, costPerItem: C) { rows in
        for row in rows { (out + row * C).update(from: wte + Int(tokens[row]) * C, count: C) }
    }
}

/// dwte (V,C) += scatter of dout (N,C) rows by token. Sequential: rows may share a token.
func embeddingBackward(dwte: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, tokens: UnsafePointer<Int32>, N: Int, C: Int) {
    for row in 0..<N {
        let d = dout + row * C, token = dwte + Int(tokens[row]) * C
        for c in 0..<C { token[c] += d[c] }
    }
}
