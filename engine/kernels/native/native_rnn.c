/* The vanilla scratch RNN's steps on the CPU in C: generation, one token at a time (stepper_kernels.h),
 * and training's recurrence, every step of a minibatch in one call (recurrence_kernels.h).
 *
 * Why C: at batch 1 a step is a (1×h)·(h×h) and a (1×h)·(h×V) product, and torch spends longer
 * dispatching its five small ops and in its one-thread matrix-vector product than in the arithmetic;
 * here a whole greedy chunk runs without returning to Python. In training, the per-step calls from
 * Python cost more than the products (docs/benchmarks.md has the figures).
 *
 * Layout (made by stepper.py beside this file, which allocates every buffer: this module trusts
 * the addresses and checks only the sizes and the tokens). h hidden units padded to hp, V tokens padded to vp
 * (multiples of PADDING, zeros in the padding, so padded units stay 0 and padded logits are never read):
 *   E    (V, hp)  W_xh + b_h by row: one-hot(x)·W_xh + b_h is the row E[x]
 *   W_hh (h, hp)  W_hq (h, vp)  b_q (vp)  H, scratch (hp)  logits (vp)
 * Every output is y_j = init_j + Σ_i x_i W_ij summed in order i = 0..h-1 in float32, the same order
 * in every instruction set's kernels (those with FMA round each multiply-add once, so the last bit
 * may differ between them); tests compare every set the CPU runs with the textbook model.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define PADDING 16      /* floats: a whole number of vectors of every instruction set below */
#define BLOCK_VECTORS 8 /* vectors of outputs accumulating in registers while W's rows stream past */
#define STR_(x) #x
#define STR(x) STR_(x)

typedef struct {
    const float *E, *W_hh, *W_hq, *b_q;
    float *H, *scratch, *logits;
    Py_ssize_t hidden, hidden_padded, vocab, vocab_padded;
    int relu, threads;
} rnn_t;

#define MAX_THREADS 256

/* one thread's candidate for the argmax: nan 1 (a NaN at index), 0 (the largest value), -1 (no columns) */
typedef struct {
    Py_ssize_t index;
    float value;
    int nan;
} best_t;

/* Training's recurrence, for every step of a minibatch; recurrence.py beside this file makes the buffers */
typedef struct {
    float *seq;         /* forward: states (T+1, B, h), H0 then X_t·W_xh + b_h, made H_1..H_T in place;
                           backward: (T, B, h), dL/dH_t ⊙ φ'_t, made dL/d(pre-activation_t) in place */
    const float *slope; /* backward: φ'_t (T, B, h) */
    const float *W;     /* W_hh (h, h), row-major */
    float *packed;      /* the weight's column panels: (h rounded up to 32)·h floats */
    Py_ssize_t steps, batch, hidden;
    int backward, relu, threads;
} recurrence_t;

typedef struct {
    const char *name;
    void (*feed_tokens)(const rnn_t *m, const int64_t *tokens, Py_ssize_t count);
    void (*step_token)(const rnn_t *m, int64_t token);
    void (*greedy_tokens)(const rnn_t *m, int64_t token, Py_ssize_t count, int64_t *chosen);
    void (*recurrence_steps)(const recurrence_t *job);
} kernels_t;

/* One copy of the kernels per instruction set, each with vectors of that set's width; the best one
 * the CPU has is chosen when the module loads. Elsewhere (ARM, other compilers) one generic copy. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define LANES 16
#define SUFFIX avx512
#define TARGET __attribute__((target("avx512f,fma")))
#include "stepper_kernels.h"
#undef LANES
#undef SUFFIX
#undef TARGET
#define LANES 8
#define SUFFIX avx2
#define TARGET __attribute__((target("avx2,fma")))
#include "stepper_kernels.h"
#undef LANES
#undef SUFFIX
#undef TARGET
#endif
#define LANES 4
#define SUFFIX generic
#define TARGET
#include "stepper_kernels.h"
#undef LANES
#undef SUFFIX
#undef TARGET

static const kernels_t *all_kernels[] = {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    &kernels_avx512, &kernels_avx2,
#endif
    &kernels_generic,
};
#define KERNEL_COUNT (sizeof(all_kernels) / sizeof(all_kernels[0]))

static int cpu_runs(const kernels_t *k)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (k == &kernels_avx512)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
    if (k == &kernels_avx2)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    return k != NULL;
}

static const kernels_t *kernels; /* the set in use: the best the CPU runs, or the one use() chose */

static int parse_model(PyObject *layout, rnn_t *m)
{
    unsigned long long E, W_hh, W_hq, b_q, H, scratch, logits;
    if (!PyArg_ParseTuple(layout, "KKKKKKKnnnnpi;layout: 7 addresses, 4 sizes, relu, threads", &E,
                          &W_hh, &W_hq, &b_q, &H, &scratch, &logits, &m->hidden, &m->hidden_padded,
                          &m->vocab, &m->vocab_padded, &m->relu, &m->threads))
        return 0;
    m->E = (const float *)(uintptr_t)E;
    m->W_hh = (const float *)(uintptr_t)W_hh;
    m->W_hq = (const float *)(uintptr_t)W_hq;
    m->b_q = (const float *)(uintptr_t)b_q;
    m->H = (float *)(uintptr_t)H;
    m->scratch = (float *)(uintptr_t)scratch;
    m->logits = (float *)(uintptr_t)logits;
    if (m->hidden_padded % PADDING || m->vocab_padded % PADDING || m->hidden > m->hidden_padded ||
        m->vocab > m->vocab_padded || m->vocab < 1) {
        PyErr_SetString(PyExc_ValueError, "layout: sizes are not padded to whole vectors");
        return 0;
    }
    if (m->threads < 1 || m->threads > MAX_THREADS) {
        PyErr_SetString(PyExc_ValueError, "layout: threads must be from 1 to " STR(MAX_THREADS));
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
    const kernels_t *chosen = kernels; /* read under the GIL: use() may change it */
    Py_BEGIN_ALLOW_THREADS
    chosen->feed_tokens(&m, tokens, count);
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
    kernels->step_token(&m, token);  /* one step: shorter than releasing and taking back the GIL */
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
    const kernels_t *chosen = kernels; /* read under the GIL: use() may change it */
    Py_BEGIN_ALLOW_THREADS
    chosen->greedy_tokens(&m, token, count, (int64_t *)(uintptr_t)address);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *recurrence(PyObject *self, PyObject *args)
{
    unsigned long long seq, slope, W;
    recurrence_t job = {0};
    if (!PyArg_ParseTuple(args, "KKKnnnppi", &seq, &slope, &W, &job.steps, &job.batch, &job.hidden,
                          &job.backward, &job.relu, &job.threads))
        return NULL;
    if (job.steps < 1 || job.batch < 1 || job.hidden < 1 || job.threads < 1) {
        PyErr_SetString(PyExc_ValueError, "recurrence: steps, batch, hidden and threads must be positive");
        return NULL;
    }
    job.seq = (float *)(uintptr_t)seq;
    job.slope = (const float *)(uintptr_t)slope;
    job.W = (const float *)(uintptr_t)W;
    size_t bytes = (size_t)((job.hidden + 31) / 32 * 32) * (size_t)job.hidden * sizeof(float);
    job.packed = aligned_alloc(64, bytes);  /* bytes: a multiple of 128 */
    if (job.packed == NULL)
        return PyErr_NoMemory();
    const kernels_t *chosen = kernels; /* read under the GIL: use() may change it */
    Py_BEGIN_ALLOW_THREADS
    chosen->recurrence_steps(&job);
    Py_END_ALLOW_THREADS
    free(job.packed);
    Py_RETURN_NONE;
}

static PyObject *instruction_sets(PyObject *self, PyObject *unused)
{
    PyObject *names = PyList_New(0);
    for (size_t i = 0; names != NULL && i < KERNEL_COUNT; i++) {
        if (!cpu_runs(all_kernels[i]))
            continue;
        PyObject *name = PyUnicode_FromString(all_kernels[i]->name);
        if (name == NULL || PyList_Append(names, name) < 0)
            Py_CLEAR(names);
        Py_XDECREF(name);
    }
    return names;
}

static PyObject *in_use(PyObject *self, PyObject *unused)
{
    return PyUnicode_FromString(kernels->name);
}

static PyObject *use(PyObject *self, PyObject *args)
{
    const char *name;
    if (!PyArg_ParseTuple(args, "s", &name))
        return NULL;
    for (size_t i = 0; i < KERNEL_COUNT; i++) {
        if (strcmp(all_kernels[i]->name, name) == 0 && cpu_runs(all_kernels[i])) {
            kernels = all_kernels[i];
            Py_RETURN_NONE;
        }
    }
    PyErr_Format(PyExc_ValueError, "no kernels for %s on this CPU", name);
    return NULL;
}

static PyMethodDef methods[] = {
    {"feed", feed, METH_VARARGS, "feed(layout, tokens_address, count): advance H over int64 tokens"},
    {"step", step, METH_VARARGS, "step(layout, token): advance H over one token, then write the logits"},
    {"greedy", greedy, METH_VARARGS,
     "greedy(layout, token, count, chosen_address): feed token, then each argmax in turn; int64 choices"},
    {"recurrence", recurrence, METH_VARARGS,
     "recurrence(seq, slope, W_hh, steps, batch, hidden, backward, relu, threads): training's steps in place"},
    {"instruction_sets", instruction_sets, METH_NOARGS, "the kernels' instruction sets this CPU runs, best first"},
    {"in_use", in_use, METH_NOARGS, "the instruction set of the kernels in use"},
    {"use", use, METH_VARARGS, "use(name): use that instruction set's kernels (tests compare them)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, .m_name = "_native_rnn", .m_size = 0, .m_methods = methods,
};

PyMODINIT_FUNC PyInit__native_rnn(void)
{
    for (size_t i = 0; kernels == NULL; i++)  /* the generic set, last, runs everywhere */
        if (cpu_runs(all_kernels[i]))
            kernels = all_kernels[i];
    return PyModule_Create(&module);
}
