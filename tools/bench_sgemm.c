/* bench_sgemm: cblas_sgemm over the matrix products of one GPT-2 124M LoRA training
 * step (batch 4 × sequence 256, row-major, the transposes Starling's layers use), so
 * two CBLAS libraries can be compared on the products that matter. Prints one JSON
 * line: the best-of-repetitions time and GFLOP/s of each product, and the step total
 * (each product times how often a step runs it).
 *
 *   cc -O2 tools/bench_sgemm.c -o /tmp/bench_sgemm_openblas -lopenblas
 *   cc -O2 -I/usr/include/x86_64-linux-gnu/blis-openmp tools/bench_sgemm.c \
 *       -o /tmp/bench_sgemm_blis -L/usr/lib/x86_64-linux-gnu/blis-openmp -lblis
 *   OPENBLAS_NUM_THREADS=2 /tmp/bench_sgemm_openblas openblas
 *   BLIS_NUM_THREADS=2 OMP_NUM_THREADS=2 /tmp/bench_sgemm_blis blis
 *
 * Run by hand; the build never compiles it. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { N = 1024, C = 768, V = 50257, T = 256, HS = 64, LAYERS = 12, HEADS_TIMES_BATCH = 48 };

struct product {
    const char *name;
    int transA, transB, m, n, k;
    int per_step; /* how many times one training step runs it */
};

static const struct product products[] = {
    /* forward, per block: x W with W stored (in, out) */
    {"qkv", 0, 0, N, 3 * C, C, LAYERS},
    {"attn_proj", 0, 0, N, C, C, LAYERS},
    {"fc", 0, 0, N, 4 * C, C, LAYERS},
    {"fc_proj", 0, 0, N, C, 4 * C, LAYERS},
    /* backward, per block: dx = dy Wᵀ (frozen base: no weight gradient) */
    {"qkv_dx", 0, 1, N, C, 3 * C, LAYERS},
    {"attn_proj_dx", 0, 1, N, C, C, LAYERS},
    {"fc_dx", 0, 1, N, C, 4 * C, LAYERS},
    {"fc_proj_dx", 0, 1, N, 4 * C, C, LAYERS},
    /* attention per (batch, head): scores q kᵀ, then att v; backward four of the same size */
    {"att_scores", 0, 1, T, T, HS, 3 * LAYERS * HEADS_TIMES_BATCH},
    {"att_values", 0, 0, T, HS, T, 3 * LAYERS * HEADS_TIMES_BATCH},
    /* the tied lm_head: logits = x wteᵀ, dx = dlogits wte */
    {"lm_head", 0, 1, N, V, C, 1},
    {"lm_head_dx", 0, 0, N, C, V, 1},
};

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static float *filled(size_t count) {
    float *p = malloc(count * sizeof(float));
    for (size_t i = 0; i < count; i++) p[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    return p;
}

int main(int argc, char **argv) {
    const char *library = argc > 1 ? argv[1] : "cblas";
    int repetitions = argc > 2 ? atoi(argv[2]) : 5;
    double step_seconds = 0, step_flops = 0;
    printf("{\"library\":\"%s\",\"products\":{", library);
    for (size_t p = 0; p < sizeof products / sizeof products[0]; p++) {
        const struct product *x = &products[p];
        float *a = filled((size_t)x->m * x->k), *b = filled((size_t)x->k * x->n), *c = filled((size_t)x->m * x->n);
        int lda = x->transA ? x->m : x->k, ldb = x->transB ? x->k : x->n;
        double best = 1e30;
        for (int r = 0; r <= repetitions; r++) { /* the first run warms caches and threads */
            double start = now();
            cblas_sgemm(CblasRowMajor, x->transA ? CblasTrans : CblasNoTrans, x->transB ? CblasTrans : CblasNoTrans,
                        x->m, x->n, x->k, 1.0f, a, lda, b, ldb, 0.0f, c, x->n);
            double seconds = now() - start;
            if (r > 0 && seconds < best) best = seconds;
        }
        double flops = 2.0 * x->m * x->n * x->k;
        step_seconds += best * x->per_step;
        step_flops += flops * x->per_step;
        printf("%s\"%s\":{\"ms\":%.3f,\"gflops\":%.1f}", p ? "," : "", x->name, best * 1e3, flops / best / 1e9);
        free(a); free(b); free(c);
    }
    printf("},\"step_ms\":%.1f,\"step_gflops\":%.1f}\n", step_seconds * 1e3, step_flops / step_seconds / 1e9);
    return 0;
}
