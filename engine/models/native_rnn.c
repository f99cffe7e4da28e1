/* Generation steps of the vanilla scratch RNN on the CPU, one token at a time, in C.
 *
 * Why C: at batch 1 a step is a (1×h)·(h×h) and a (1×h)·(h×V) product; torch spends more time
 * dispatching its five small ops, and its BLAS matrix-vector product runs at half this loop's
 * speed on the CPUs we measured (README, issue 6), so the textbook's predict loop is only ~3× slower
 * than a torch stepper. Here a whole greedy chunk runs without returning to Python.
 *
 * Layout (made by engine/models/native_stepper.py, which checks every shape, dtype and address
 * before calling in; this module trusts them). h hidden units padded to hp, V tokens padded to vp
 * (multiples of LANES, zeros in the padding, so padded units stay 0 and padded logits are never read):
 *   E    (V, hp)  W_xh + b_h by row: one-hot(x)·W_xh + b_h is the row E[x]
 *   W_hh (h, hp)  W_hq (h, vp)  b_q (vp)  H, scratch (hp)  logits (vp)
 * Every output is y_j = init_j + Σ_i x_i W_ij summed in order i = 0..h-1 in float32 (the same
 * order whatever the instruction set), so results are reproducible and match torch's products to
 * float32 rounding; tests compare them with the textbook model.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define LANES 16
#define BLOCK_VECTORS 8 /* 128 outputs accumulate in registers while the rows of W stream past */

/* GCC's vector extensions: one portable source lowered to AVX-512, AVX2, SSE or NEON */
typedef float floats __attribute__((vector_size(LANES * 4), aligned(4)));
typedef int32_t ints __attribute__((vector_size(LANES * 4), aligned(4)));

#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
/* one copy per instruction set, chosen when the module loads */
#define CLONED __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLONED
#endif
#define INLINE static inline __attribute__((always_inline))

typedef struct {
    const float *E, *W_hh, *W_hq, *b_q;
    float *H, *scratch, *logits;
    Py_ssize_t hidden, hidden_padded, vocab, vocab_padded;
    int relu;
} rnn_t;

/* y[0:n] = init[0:n] + x[0:k]·W[0:k, 0:n]; W row-major with row stride n; n a multiple of LANES */
INLINE void affine(const float *restrict init, const float *restrict x, const float *restrict W,
                   Py_ssize_t k, Py_ssize_t n, float *restrict y)
{
    Py_ssize_t j = 0;
    for (; j + BLOCK_VECTORS * LANES <= n; j += BLOCK_VECTORS * LANES) {
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
    for (; j < n; j += LANES) {
        floats acc = *(const floats *)(init + j);
        for (Py_ssize_t i = 0; i < k; i++)
            acc += x[i] * *(const floats *)(W + i * n + j);
        *(floats *)(y + j) = acc;
    }
}

/* lane by lane, mask ? if_true : if_false (a macro: vectors passed to functions draw ABI notes) */
#define BLEND(mask, if_true, if_false) ((floats)(((mask) & (ints)(if_true)) | (~(mask) & (ints)(if_false))))

/* tanh(x) = (e^{2x} − 1) / (e^{2x} + 1), with e^{2x} = 2^k·2^f, k = round(2x·log2 e), |f| ≤ ½.
 * e^{2x} − 1 is formed as (2^k − 1) + 2^k·f·q(f), q(f) = (2^f − 1)/f by its Taylor series, so
 * small x keep their relative precision (no 1 − 2/(e+1) cancellation). Measured against tanh in
 * double: a few float32 ulps. Beyond |x| = 9 tanh is ±1 in float32. */
INLINE void tanh_lanes(float *v)
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

INLINE void activate(float *v, Py_ssize_t n, int relu)
{
    const floats zero = {0};
    for (Py_ssize_t i = 0; i < n; i += LANES) {
        if (relu) {
            floats x = *(floats *)(v + i);
            *(floats *)(v + i) = BLEND(x > zero, x, zero);
        } else {
            tanh_lanes(v + i);
        }
    }
}

/* H ← φ(E[token] + H·W_hh) */
INLINE void advance(const rnn_t *m, int64_t token)
{
    affine(m->E + token * m->hidden_padded, m->H, m->W_hh, m->hidden, m->hidden_padded, m->scratch);
    activate(m->scratch, m->hidden_padded, m->relu);
    memcpy(m->H, m->scratch, (size_t)m->hidden_padded * sizeof(float));
}

INLINE void output(const rnn_t *m)
{
    affine(m->b_q, m->H, m->W_hq, m->hidden, m->vocab_padded, m->logits);
}

/* torch.argmax's choice: the first largest, or the first NaN if there is one */
INLINE int64_t argmax(const float *v, Py_ssize_t n)
{
    int64_t best = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (v[i] != v[i])
            return i;
        if (v[i] > v[best])
            best = i;
    }
    return best;
}

CLONED static void feed_tokens(const rnn_t *m, const int64_t *tokens, Py_ssize_t count)
{
    for (Py_ssize_t t = 0; t < count; t++)
        advance(m, tokens[t]);
}

CLONED static void step_token(const rnn_t *m, int64_t token)
{
    advance(m, token);
    output(m);
}

CLONED static void greedy_tokens(const rnn_t *m, int64_t token, Py_ssize_t count, int64_t *chosen)
{
    for (Py_ssize_t t = 0; t < count; t++) {
        advance(m, token);
        output(m);
        token = chosen[t] = argmax(m->logits, m->vocab);
    }
}

static int parse_model(PyObject *layout, rnn_t *m)
{
    unsigned long long E, W_hh, W_hq, b_q, H, scratch, logits;
    if (!PyArg_ParseTuple(layout, "KKKKKKKnnnnp;layout: 7 addresses, 4 sizes, relu", &E, &W_hh, &W_hq,
                          &b_q, &H, &scratch, &logits, &m->hidden, &m->hidden_padded, &m->vocab,
                          &m->vocab_padded, &m->relu))
        return 0;
    m->E = (const float *)(uintptr_t)E;
    m->W_hh = (const float *)(uintptr_t)W_hh;
    m->W_hq = (const float *)(uintptr_t)W_hq;
    m->b_q = (const float *)(uintptr_t)b_q;
    m->H = (float *)(uintptr_t)H;
    m->scratch = (float *)(uintptr_t)scratch;
    m->logits = (float *)(uintptr_t)logits;
    if (m->hidden_padded % LANES || m->vocab_padded % LANES || m->hidden > m->hidden_padded ||
        m->vocab > m->vocab_padded || m->vocab < 1) {
        PyErr_SetString(PyExc_ValueError, "layout: sizes are not padded to whole vectors");
        return 0;
    }
    return 1;
}

static int check_token(const rnn_t *m, long long token)
{
    if (token < 0 || token >= m->vocab) {
        PyErr_Format(PyExc_IndexError, "token %lld outside the vocabulary of %zd", token, m->vocab);
        return 0;
    }
    return 1;
}

static PyObject *feed(PyObject *self, PyObject *args)
{
    PyObject *layout;
    unsigned long long address;
    Py_ssize_t count;
    rnn_t m;
    if (!PyArg_ParseTuple(args, "O!Kn", &PyTuple_Type, &layout, &address, &count) || !parse_model(layout, &m))
        return NULL;
    const int64_t *tokens = (const int64_t *)(uintptr_t)address;
    for (Py_ssize_t t = 0; t < count; t++)
        if (!check_token(&m, tokens[t]))
            return NULL;
    Py_BEGIN_ALLOW_THREADS
    feed_tokens(&m, tokens, count);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *step(PyObject *self, PyObject *args)
{
    PyObject *layout;
    long long token;
    rnn_t m;
    if (!PyArg_ParseTuple(args, "O!L", &PyTuple_Type, &layout, &token) || !parse_model(layout, &m) ||
        !check_token(&m, token))
        return NULL;
    step_token(&m, token);  /* one step: shorter than releasing and taking back the GIL */
    Py_RETURN_NONE;
}

static PyObject *greedy(PyObject *self, PyObject *args)
{
    PyObject *layout;
    long long token;
    unsigned long long address;
    Py_ssize_t count;
    rnn_t m;
    if (!PyArg_ParseTuple(args, "O!LnK", &PyTuple_Type, &layout, &token, &count, &address) ||
        !parse_model(layout, &m) || !check_token(&m, token))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    greedy_tokens(&m, token, count, (int64_t *)(uintptr_t)address);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"feed", feed, METH_VARARGS, "feed(layout, tokens_address, count): advance H over int64 tokens"},
    {"step", step, METH_VARARGS, "step(layout, token): advance H over one token, then write the logits"},
    {"greedy", greedy, METH_VARARGS,
     "greedy(layout, token, count, chosen_address): feed token, then each argmax in turn; int64 choices"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, .m_name = "_native_rnn", .m_size = 0, .m_methods = methods,
};

PyMODINIT_FUNC PyInit__native_rnn(void)
{
    return PyModule_Create(&module);
}
