/* bench_fma_peak: the most single-precision arithmetic this processor does, measured
 * rather than read off a data sheet (a virtual machine's model number and clock say
 * little). Each thread runs twelve independent chains of 256-bit fused multiply-adds
 * (AVX2 + FMA: 8 floats, 2 FLOP each) entirely in registers, enough chains in flight
 * to cover the instruction's latency on every core design of the last decade, so the
 * figure is the FMA units' throughput. Prints one JSON line per thread count: the best
 * of several repetitions in GFLOP/s, so tools/bench_sgemm.c's figures can be read as a
 * share of it.
 *
 *   cc -O2 -mavx2 -mfma -pthread tools/bench_fma_peak.c -o /tmp/bench_fma_peak
 *   /tmp/bench_fma_peak            # 1 and 2 threads
 *   /tmp/bench_fma_peak 4          # 1 to 4 threads
 *
 * Run by hand; the build never compiles it. */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { CHAINS = 12 /* c0 … c11 below */, ITERATIONS = 50 * 1000 * 1000, REPETITIONS = 5 };

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Twelve chains acc_i = acc_i * m + a, ITERATIONS times each; the sum is returned so
 * the compiler must compute every chain. */
static void *chains(void *out) {
    __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f);
    /* Twelve named variables rather than an array, so that every chain lives in a
     * register whatever the optimisation level. */
    __m256 c0 = _mm256_set1_ps(0), c1 = _mm256_set1_ps(1), c2 = _mm256_set1_ps(2), c3 = _mm256_set1_ps(3);
    __m256 c4 = _mm256_set1_ps(4), c5 = _mm256_set1_ps(5), c6 = _mm256_set1_ps(6), c7 = _mm256_set1_ps(7);
    __m256 c8 = _mm256_set1_ps(8), c9 = _mm256_set1_ps(9), c10 = _mm256_set1_ps(10), c11 = _mm256_set1_ps(11);
    for (long n = 0; n < ITERATIONS; n++) {
        c0 = _mm256_fmadd_ps(c0, m, a); c1 = _mm256_fmadd_ps(c1, m, a); c2 = _mm256_fmadd_ps(c2, m, a);
        c3 = _mm256_fmadd_ps(c3, m, a); c4 = _mm256_fmadd_ps(c4, m, a); c5 = _mm256_fmadd_ps(c5, m, a);
        c6 = _mm256_fmadd_ps(c6, m, a); c7 = _mm256_fmadd_ps(c7, m, a); c8 = _mm256_fmadd_ps(c8, m, a);
        c9 = _mm256_fmadd_ps(c9, m, a); c10 = _mm256_fmadd_ps(c10, m, a); c11 = _mm256_fmadd_ps(c11, m, a);
    }
    __m256 sum = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
                               _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)));
    sum = _mm256_add_ps(sum, _mm256_add_ps(_mm256_add_ps(c8, c9), _mm256_add_ps(c10, c11)));
    float lanes[8];
    _mm256_storeu_ps(lanes, sum);
    *(float *)out = lanes[0] + lanes[7];
    return NULL;
}

int main(int argc, char **argv) {
    int most = argc > 1 ? atoi(argv[1]) : 2;
    if (most < 1 || most > 256) {
        fprintf(stderr, "bench_fma_peak: the thread count must be between 1 and 256, got %s\n", argv[1]);
        return 2;
    }
    const double flop_per_thread = (double)ITERATIONS * CHAINS * 8 * 2;
    for (int threads = 1; threads <= most; threads++) {
        double best = 1e300;
        float sink = 0;
        for (int r = 0; r < REPETITIONS; r++) {
            pthread_t ids[256];
            float results[256];
            double start = now();
            for (int t = 0; t < threads; t++) pthread_create(&ids[t], NULL, chains, &results[t]);
            for (int t = 0; t < threads; t++) pthread_join(ids[t], NULL);
            double seconds = now() - start;
            if (seconds < best) best = seconds;
            for (int t = 0; t < threads; t++) sink += results[t];
        }
        printf("{\"threads\": %d, \"seconds\": %.4f, \"gflops\": %.1f, \"gflops_per_thread\": %.1f, \"checksum\": %g}\n",
               threads, best, flop_per_thread * threads / best / 1e9, flop_per_thread / best / 1e9, (double)sink);
    }
    return 0;
}
