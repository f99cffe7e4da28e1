/* The C stepper's arithmetic for one instruction set, and training's (native_recurrence_kernels.h);
 * native_rnn.c includes this file once per set.
 *
 * Before each inclusion: LANES (floats per native vector: 16 for AVX-512, 8 for AVX2, 4 for SSE2
 * or NEON), SUFFIX (appended to every name) and TARGET (the function attribute that lets the compiler
 * use that set). The vectors must be the set's own width: a wider one is lowered through memory, which
 * measured 6-10x slower than torch.
 */
#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define NAME(name) CAT(name, SUFFIX)
#define floats NAME(floats)
#define ints NAME(ints)
#define KERNEL static TARGET
#define INLINE static inline __attribute__((always_inline)) TARGET

/* GCC's and clang's vector extensions; aligned(4): loads and stores need no 16- or 64-byte alignment */
typedef float floats __attribute__((vector_size(LANES * 4), aligned(4)));
typedef int32_t ints __attribute__((vector_size(LANES * 4), aligned(4)));

/* lane by lane, mask ? if_true : if_false (a macro: vectors passed to functions draw ABI notes) */
#define BLEND(mask, if_true, if_false) ((floats)(((mask) & (ints)(if_true)) | (~(mask) & (ints)(if_false))))

/* y[j] = init[j] + x[0:k]·W[0:k, j] for j in [first, last); W row-major with row stride n; first,
 * last and n multiples of LANES */
INLINE void NAME(affine_columns)(const float *restrict init, const float *restrict x, const float *restrict W,
                                 Py_ssize_t k, Py_ssize_t n, Py_ssize_t first, Py_ssize_t last, float *restrict y)
{
    Py_ssize_t j = first;
    for (; j + BLOCK_VECTORS * LANES <= last; j += BLOCK_VECTORS * LANES) {
        floats acc[BLOCK_VECTORS];
        for (int q = 0; q < BLOCK_VECTORS; q++)
            acc[q] = *(const floats *)(init + j + q * LANES);
        for (Py_ssize_t i = 0; i < k; i++) {
            const float *row = W + i * n + j;
            float x_i = x[i];
            for (int q = 0; q < BLOCK_VECTORS; q++)
                acc[q] += x_i * *(const floats *)(row + q * LANES);
        }
        for (int q = 0; q < BLOCK_VECTORS; q++)
            *(floats *)(y + j + q * LANES) = acc[q];
    }
    for (; j < last; j += LANES) {
        floats acc = *(const floats *)(init + j);
        for (Py_ssize_t i = 0; i < k; i++)
            acc += x[i] * *(const floats *)(W + i * n + j);
        *(floats *)(y + j) = acc;
    }
}

INLINE void NAME(affine)(const float *restrict init, const float *restrict x, const float *restrict W,
                         Py_ssize_t k, Py_ssize_t n, float *restrict y)
{
    NAME(affine_columns)(init, x, W, k, n, 0, n, y);
}

/* tanh(x) = (e^{2x} − 1) / (e^{2x} + 1), with e^{2x} = 2^k·2^f, k = round(2x·log2 e), |f| ≤ ½.
 * e^{2x} − 1 is formed as (2^k − 1) + 2^k·f·q(f), q(f) = (2^f − 1)/f by its Taylor series, so
 * small x keep their relative precision (no 1 − 2/(e+1) cancellation). Measured against tanh in
 * double: within 4 float32 ulps (tests/test_steppers.py). Beyond |x| = 9 tanh is ±1 in float32. */
INLINE void NAME(tanh_lanes)(float *v)
{
    const floats zero = {0};
    floats x = *(floats *)v;
    x = BLEND(x > 9.0f, zero + 9.0f, BLEND(x < -9.0f, zero - 9.0f, x));
    floats t = x * 2.8853900817779268f;                     /* 2x·log2(e) */
    floats k = (t + 12582912.0f) - 12582912.0f;              /* round to nearest: 1.5·2^23 */
    floats f = t - k;
    floats q = zero + 1.3215486790144305e-06f;
    q = q * f + 1.5252733804059838e-05f;
    q = q * f + 1.5403530393381606e-04f;
    q = q * f + 1.3333558146428441e-03f;
    q = q * f + 9.6181291076284772e-03f;
    q = q * f + 5.5504108664821576e-02f;
    q = q * f + 2.4022650695910071e-01f;
    q = q * f + 6.9314718055994531e-01f;
    floats scale = (floats)((__builtin_convertvector(k, ints) + 127) << 23);  /* 2^k */
    floats expm1 = (scale - 1.0f) + scale * f * q;
    *(floats *)v = expm1 / (expm1 + 2.0f);
}

INLINE void NAME(activate)(float *v, Py_ssize_t n, int relu)
{
    const floats zero = {0};
    for (Py_ssize_t i = 0; i < n; i += LANES) {
        if (relu) {
            floats x = *(floats *)(v + i);
            *(floats *)(v + i) = BLEND(x > zero, x, zero);
        } else {
            NAME(tanh_lanes)(v + i);
        }
    }
}

/* H ← φ(E[token] + H·W_hh) */
INLINE void NAME(advance)(const rnn_t *m, int64_t token)
{
    NAME(affine)(m->E + token * m->hidden_padded, m->H, m->W_hh, m->hidden, m->hidden_padded, m->scratch);
    NAME(activate)(m->scratch, m->hidden_padded, m->relu);
    memcpy(m->H, m->scratch, (size_t)m->hidden_padded * sizeof(float));
}

KERNEL void NAME(output_share)(const rnn_t *m, int thread, int threads)
{
    Py_ssize_t vectors = m->vocab_padded / LANES;
    NAME(affine_columns)(m->b_q, m->H, m->W_hq, m->hidden, m->vocab_padded, vectors * thread / threads * LANES,
                         vectors * (thread + 1) / threads * LANES, m->logits);
}

/* logits = b_q + H·W_hq; a large W_hq (the Tang poems': 5.6 MB) is read by every core, each its own
   columns: one core alone cannot draw it from memory as fast (native_stepper.py sets output_threads) */
INLINE void NAME(output)(const rnn_t *m)
{
#ifdef _OPENMP
    if (m->output_threads > 1) {
#pragma omp parallel num_threads(m->output_threads)
        NAME(output_share)(m, omp_get_thread_num(), omp_get_num_threads());
        return;
    }
#endif
    NAME(output_share)(m, 0, 1);
}

KERNEL void NAME(feed_tokens)(const rnn_t *m, const int64_t *tokens, Py_ssize_t count)
{
    for (Py_ssize_t t = 0; t < count; t++)
        NAME(advance)(m, tokens[t]);
}

KERNEL void NAME(step_token)(const rnn_t *m, int64_t token)
{
    NAME(advance)(m, token);
    NAME(output)(m);
}

KERNEL void NAME(greedy_tokens)(const rnn_t *m, int64_t token, Py_ssize_t count, int64_t *chosen)
{
    for (Py_ssize_t t = 0; t < count; t++) {
        NAME(advance)(m, token);
        NAME(output)(m);
        token = chosen[t] = argmax(m->logits, m->vocab);
    }
}

#include "native_recurrence_kernels.h"

static const kernels_t NAME(kernels) = {STR(SUFFIX), NAME(feed_tokens), NAME(step_token), NAME(greedy_tokens),
                                        NAME(recurrence_steps)};

#undef CAT_
#undef CAT
#undef NAME
#undef floats
#undef ints
#undef KERNEL
#undef INLINE
#undef BLEND
