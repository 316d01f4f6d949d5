// BLAS: the one place Learning calls OpenBLAS for threading control.

import COpenBLAS

/// Process-wide OpenBLAS settings.
public enum BLAS {
    /// Sets the number of threads OpenBLAS uses for the following calls
    /// (`openblas_set_num_threads`). `OPENBLAS_NUM_THREADS` is only read at load time,
    /// so a process that shares the machine with others sets this explicitly.
    public static func setThreads(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
    }

    /// The number of threads OpenBLAS currently uses (`openblas_get_num_threads`).
    public static var threads: Int { Int(openblas_get_num_threads()) }
}
