/* Training's recurrence for one instruction set: every step of a minibatch's forward or backward
 * through time in one call, the steps' products split over the cores. stepper_kernels.h includes
 * this file with its LANES, NAME, KERNEL, INLINE and vector types defined.
 *
 * A step is a (B×h)·(h×h) product with its epilogue; the next step needs all of it, so the cores
 * share each step and wait for each other between steps. Each core owns a run of TILE_COLS-wide
 * column panels of the weight, packed once per call so a panel streams through memory in order and,
 * at d2l's shape on two cores (h = 512: 512 KB each), stays in that core's L2 for all the steps. Within
 * a panel, TILE_ROWS rows of the product accumulate in registers: 2·TILE_ROWS vectors, with room left
 * for the two weight vectors (AVX-512 has 32 registers, AVX2 and SSE2 16).
 */
#define TILE_COLS (2 * LANES)
#if LANES >= 16
#define TILE_ROWS 8
#elif LANES == 8
#define TILE_ROWS 6
#else
#define TILE_ROWS 4
#endif

/* out[r][0:TILE_COLS] = A[r, 0:k]·panel for r < rows; panel (k, TILE_COLS); A's rows lda apart */
INLINE void NAME(tile)(const float *restrict A, Py_ssize_t lda, const float *restrict panel, Py_ssize_t k,
                       int rows, float *restrict out)
{
    floats acc[TILE_ROWS][2];
    for (int r = 0; r < TILE_ROWS; r++)
        acc[r][0] = acc[r][1] = (floats){0};
    for (Py_ssize_t i = 0; i < k; i++) {
        floats w0 = *(const floats *)(panel + i * TILE_COLS), w1 = *(const floats *)(panel + i * TILE_COLS + LANES);
        for (int r = 0; r < rows; r++) {
            float a = A[r * lda + i];
            acc[r][0] += a * w0;
            acc[r][1] += a * w1;
        }
    }
    for (int r = 0; r < rows; r++) {
        *(floats *)(out + r * TILE_COLS) = acc[r][0];
        *(floats *)(out + r * TILE_COLS + LANES) = acc[r][1];
    }
}

/* the tile with a constant row count, so its accumulators stay in registers */
KERNEL void NAME(tile_rows)(const float *A, Py_ssize_t lda, const float *panel, Py_ssize_t k, int rows, float *out)
{
    switch (rows) {
#if TILE_ROWS >= 8
    case 8: NAME(tile)(A, lda, panel, k, 8, out); break;
    case 7: NAME(tile)(A, lda, panel, k, 7, out); break;
#endif
#if TILE_ROWS >= 6
    case 6: NAME(tile)(A, lda, panel, k, 6, out); break;
    case 5: NAME(tile)(A, lda, panel, k, 5, out); break;
#endif
    case 4: NAME(tile)(A, lda, panel, k, 4, out); break;
    case 3: NAME(tile)(A, lda, panel, k, 3, out); break;
    case 2: NAME(tile)(A, lda, panel, k, 2, out); break;
    default: NAME(tile)(A, lda, panel, k, 1, out); break;
    }
}

/* panels [first, last) of W (forward) or Wᵀ (backward), (h, TILE_COLS) each, zeros past column h */
KERNEL void NAME(pack_panels)(const recurrence_t *job, Py_ssize_t first, Py_ssize_t last)
{
    Py_ssize_t h = job->hidden;
    for (Py_ssize_t p = first; p < last; p++) {
        float *panel = job->packed + p * h * TILE_COLS;
        for (Py_ssize_t c = 0; c < TILE_COLS; c++) {
            Py_ssize_t column = p * TILE_COLS + c;
            for (Py_ssize_t i = 0; i < h; i++)
                panel[i * TILE_COLS + c] = column >= h ? 0.0f : job->backward ? job->W[column * h + i]
                                                                             : job->W[i * h + column];
        }
    }
}

/* one thread's share of every step: its panels' columns of each step's output */
KERNEL void NAME(recurrence_share)(const recurrence_t *job, int thread, int threads)
{
    Py_ssize_t h = job->hidden, batch = job->batch, block = batch * h;
    Py_ssize_t panels = (h + TILE_COLS - 1) / TILE_COLS;
    Py_ssize_t first = panels * thread / threads, last = panels * (thread + 1) / threads;
    float out[TILE_ROWS * TILE_COLS] __attribute__((aligned(64)));
    NAME(pack_panels)(job, first, last);
    Py_ssize_t count = job->backward ? job->steps - 1 : job->steps;
    for (Py_ssize_t s = 0; s < count; s++) {
        /* forward: H_{s+1} = φ(H_{s+1} + H_s·W), the states holding X W_xh + b_h before;
           backward, t from T-2 down: g_t += (g_{t+1}·Wᵀ) ⊙ φ'_t */
        Py_ssize_t t = job->backward ? job->steps - 2 - s : s + 1;
        const float *in = job->seq + (job->backward ? t + 1 : t - 1) * block;
        float *dst = job->seq + t * block;
        const float *slope = job->backward ? job->slope + t * block : NULL;
        for (Py_ssize_t p = first; p < last; p++) {
            Py_ssize_t c0 = p * TILE_COLS, cols = h - c0 < TILE_COLS ? h - c0 : TILE_COLS;
            for (Py_ssize_t r0 = 0; r0 < batch; r0 += TILE_ROWS) {
                int rows = batch - r0 < TILE_ROWS ? (int)(batch - r0) : TILE_ROWS;
                NAME(tile_rows)(in + r0 * h, h, job->packed + p * h * TILE_COLS, h, rows, out);
                for (int r = 0; r < rows; r++) {
                    float *o = out + r * TILE_COLS, *y = dst + (r0 + r) * h + c0;
                    if (job->backward) {
                        const float *d = slope + (r0 + r) * h + c0;
                        for (Py_ssize_t c = 0; c < cols; c++)
                            y[c] += o[c] * d[c];
                    } else {
                        for (Py_ssize_t c = 0; c < cols; c++)
                            o[c] += y[c];
                        NAME(activate)(o, TILE_COLS, job->relu);
                        memcpy(y, o, (size_t)cols * sizeof(float));
                    }
                }
            }
        }
#ifdef _OPENMP
        if (s + 1 < count) {
#pragma omp barrier
        }
#endif
    }
}

KERNEL void NAME(recurrence_steps)(const recurrence_t *job)
{
#ifdef _OPENMP
    /* torch's own OpenMP runtime when torch is loaded first (one libgomp.so.1 in the process): its
       threads are the ones torch just used, and no second pool spins against them */
#pragma omp parallel num_threads(job->threads)
    NAME(recurrence_share)(job, omp_get_thread_num(), omp_get_num_threads());
#else
    NAME(recurrence_share)(job, 0, 1);
#endif
}

#undef TILE_COLS
#undef TILE_ROWS
