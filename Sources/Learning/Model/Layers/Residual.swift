// Residual: the skip connection of every block.

/// out (N) = a (N) + b (N).
func residualForward(out: UnsafeMutablePointer<Float>, a: UnsafePointer<Float>, b: UnsafePointer<Float>, N: Int) {
    Parallel.forRanges(N, costPerItem: 1) { range in
        for i in range { out[i] = a[i] + b[i] }
    }
}

/// da (N) += dout and db (N) += dout.
func residualBackward(da: UnsafeMutablePointer<Float>, db: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, N: Int) {
    Parallel.forRanges(N, costPerItem: 2) { range in
        for i in range {
            da[i] += dout[i]
            db[i] += dout[i]
        }
    }
}
