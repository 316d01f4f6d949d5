// GEMM: the one place the model calls cblas_sgemm. Every matrix is row-major.

import COpenBLAS

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
