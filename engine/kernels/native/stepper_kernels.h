/* The C stepper's arithmetic for one instruction set, and training's (recurrence_kernels.h);
 * native_rnn.c includes this file once per set.
 *
 * Before each inclusion: LANES (floats per native vector: 16 for AVX-512, 8 for AVX2, 4 for SSE2
 * or NEON), SUFFIX (appended to every name) and TARGET (the function attribute that lets the compiler
 * use that set). The vectors must be the set's own width: a wider one is lowered through memory.
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

/* tanh, within 4 float32 ulps of tanh in double and unbiased (tests/test_steppers.py): training's
 * backward takes 1 − H² from these outputs, so an error leaning one way would skew every slope alike.
 * |x| < 0.55: x + x·u·P(u), u = x², P fitted with each float coefficient rounded before the next was
 * fitted (the exponential below errs short there by ~0.13 ulp on average). Elsewhere
 * (e^{2x} − 1) / (e^{2x} + 1), e^{2x} = 2^k·2^f, k = round(2x·log2 e), |f| ≤ ½, e^{2x} − 1 formed as
 * (2^k − 1) + 2^k·f·q(f), q(f) = (2^f − 1)/f by its Taylor series. Beyond |x| = 9 tanh is ±1 in float32. */
INLINE void NAME(tanh_lanes)(float *v)
{
    const floats zero = {0};
    floats x = *(floats *)v;
    x = BLEND(x > 9.0f, zero + 9.0f, BLEND(x < -9.0f, zero - 9.0f, x));
    floats u = x * x;
    floats p = zero + 2.2631813772022724e-03f;
    p = p * u - 8.289575576782227e-03f;
    p = p * u + 2.1738817915320396e-02f;
    p = p * u - 5.3952429443597794e-02f;
    p = p * u + 1.3333240151405334e-01f;
    p = p * u - 3.333333134651184e-01f;
    floats near_zero = x + x * (u * p);
    floats t = x * 2.885390043f;                             /* 2x·log2(e), log2(e) to float precision */
    floats k = (t + 12582912.0f) - 12582912.0f;              /* round to nearest: 1.5·2^23 */
    floats f = (t - k) + x * 3.8519259e-08f;                 /* and the rest of 2·log2(e) */
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
    *(floats *)v = BLEND(u < 0.3025f, near_zero, expm1 / (expm1 + 2.0f));  /* 0.3025 = 0.55² */
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

/* The first largest of v[first:last), or the first NaN there, as torch.argmax takes them */
INLINE best_t NAME(best_of)(const float *v, Py_ssize_t first, Py_ssize_t last)
{
    best_t best = {first, first < last ? v[first] : 0.0f, first < last ? 0 : -1};
    for (Py_ssize_t i = first; i < last; i++) {
        if (v[i] != v[i])
            return (best_t){i, v[i], 1};
        if (v[i] > best.value)
            best = (best_t){i, v[i], 0};
    }
    return best;
}

/* One thread's share of ``count`` steps: its columns of each new state, then (with_output) of the
 * logits, and (chosen) the next token, the argmax over every thread's part. Every thread of the team
 * runs it with the same arguments; the barriers keep them in step. The state alternates between H and
 * scratch, so no step overwrites a state another thread is still reading. tokens: the tokens to feed,
 * or NULL to feed ``token`` first and then each choice. */
KERNEL void NAME(steps_share)(const rnn_t *m, const int64_t *tokens, int64_t token, Py_ssize_t count,
                              int with_output, int64_t *chosen, best_t *bests, int thread, int threads)
{
    Py_ssize_t hidden_vectors = m->hidden_padded / LANES, vocab_vectors = m->vocab_padded / LANES;
    Py_ssize_t h0 = hidden_vectors * thread / threads * LANES, h1 = hidden_vectors * (thread + 1) / threads * LANES;
    Py_ssize_t v0 = vocab_vectors * thread / threads * LANES, v1 = vocab_vectors * (thread + 1) / threads * LANES;
    float *H = m->H, *next = m->scratch;
    for (Py_ssize_t t = 0; t < count; t++) {
        if (tokens != NULL)
            token = tokens[t];
        /* H ← φ(E[token] + H·W_hh), this thread's columns */
        NAME(affine_columns)(m->E + token * m->hidden_padded, H, m->W_hh, m->hidden, m->hidden_padded, h0, h1,
                             next);
        NAME(activate)(next + h0, h1 - h0, m->relu);
        float *swap = H;
        H = next;
        next = swap;
#ifdef _OPENMP
#pragma omp barrier
#endif
        if (!with_output)
            continue;
        NAME(affine_columns)(m->b_q, H, m->W_hq, m->hidden, m->vocab_padded, v0, v1, m->logits);
        if (chosen == NULL)
            continue;
        bests[thread] = NAME(best_of)(m->logits, v0, v1 < m->vocab ? v1 : m->vocab);
#ifdef _OPENMP
#pragma omp barrier
#endif
        best_t best = bests[0];
        for (int i = 1; i < threads && best.nan != 1; i++)
            if (bests[i].nan == 1 || (bests[i].nan == 0 && (best.nan == -1 || bests[i].value > best.value)))
                best = bests[i];
        token = chosen[t] = best.index;
    }
    if (H != m->H)  /* the last state is in scratch: this thread's columns back to H */
        memcpy(m->H + h0, H + h0, (size_t)(h1 - h0) * sizeof(float));
}

/* every thread of the team on the steps (native_stepper.py sets m->threads: 1 for a small model) */
KERNEL void NAME(steps)(const rnn_t *m, const int64_t *tokens, int64_t token, Py_ssize_t count, int with_output,
                        int64_t *chosen)
{
    best_t bests[MAX_THREADS];
#ifdef _OPENMP
    if (m->threads > 1) {
#pragma omp parallel num_threads(m->threads)
        NAME(steps_share)(m, tokens, token, count, with_output, chosen, bests, omp_get_thread_num(),
                          omp_get_num_threads());
        return;
    }
#endif
    NAME(steps_share)(m, tokens, token, count, with_output, chosen, bests, 0, 1);
}

KERNEL void NAME(feed_tokens)(const rnn_t *m, const int64_t *tokens, Py_ssize_t count)
{
    NAME(steps)(m, tokens, 0, count, 0, NULL);
}

KERNEL void NAME(step_token)(const rnn_t *m, int64_t token)
{
    NAME(steps)(m, NULL, token, 1, 1, NULL);
}

KERNEL void NAME(greedy_tokens)(const rnn_t *m, int64_t token, Py_ssize_t count, int64_t *chosen)
{
    NAME(steps)(m, NULL, token, count, 1, chosen);
}

#include "recurrence_kernels.h"

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
