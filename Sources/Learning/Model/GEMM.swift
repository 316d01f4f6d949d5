// GEMM: the one place the model calls cblas_sgemm. Every matrix is row-major.

import COpenBLAS
import Dispatch
import Foundation

/// C (m,n) = alpha · op(A) (m,k) · op(B) (k,n) + beta · C, row-major, through OpenBLAS
/// `cblas_sgemm`. `lda`, `ldb`, `ldc` are the row strides of A, B and C as stored.
@inline(__always)
func sgemm(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
    alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    cblas_sgemm(
        CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
        blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
}

/// Measures cblas_sgemm throughput on `size`×`size` square matrices with OpenBLAS's
/// current thread count: the best of `repetitions` timed products, in GFLOP/s
/// (2·size³ floating-point operations each). The reference peak for benchmarks.
public func measureSGEMMThroughput(size: Int = 2048, repetitions: Int = 5) -> Double {
    let a = FloatBuffer(count: size * size), b = FloatBuffer(count: size * size), c = FloatBuffer(count: size * size)
    var random = SeededRandom(seed: 1)
    for i in 0..<(size * size) {
        a.pointer[i] = random.uniform(-1, 1)
        b.pointer[i] = random.uniform(-1, 1)
    }
    var best = Double.infinity
    for _ in 0..<(repetitions + 1) {  // the first call warms caches and threads
        let start = DispatchTime.now().uptimeNanoseconds
        sgemm(transposeA: false, transposeB: false, m: size, n: size, k: size, a: a.pointer, lda: size, b: b.pointer, ldb: size,
              beta: 0, c: c.pointer, ldc: size)
        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
    }
    return 2 * pow(Double(size), 3) / best / 1e9
}
