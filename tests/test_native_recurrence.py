"""Training's recurrence in C (engine/kernels/native) against torch: each instruction set's kernels,
thread counts and shapes that are not whole tiles; then the fast model on them against the textbook."""
import pytest
import torch

from rnn_tui.engine import kernels
from rnn_tui.engine.kernels.recurrence import StepKernels, rnn_recurrence
from helpers import (INSTRUCTION_SETS, assert_close_float32, assert_fast_rnn_equals_textbook,
                     assert_recurrence_equals_float64_autograd, use_c_kernels)

# (steps, batch, hidden): d2l's tile-aligned batch and width, then ragged rows and columns, one
# step, one row, a width under one vector
SHAPES = [(6, 32, 64), (5, 13, 40), (1, 7, 33), (4, 1, 70), (3, 9, 5)]


def _torch_forward(states, W, relu):
    out = states.clone()
    for t in range(1, len(out)):
        pre = out[t] + out[t - 1] @ W
        out[t] = torch.relu(pre) if relu else torch.tanh(pre)
    return out


def _torch_backward(grad_pre, slope, W):
    out = grad_pre.clone()
    for t in range(len(out) - 2, -1, -1):
        out[t] += (out[t + 1] @ W.t()) * slope[t]
    return out


@pytest.mark.parametrize("name", INSTRUCTION_SETS)
@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("shape", SHAPES)
def test_c_steps_equal_torch_steps_forward_and_backward(name, threads, shape):
    use_c_kernels(name)
    steps, batch, hidden = shape
    g = torch.Generator().manual_seed(hidden + batch)
    W = torch.randn(hidden, hidden, generator=g) * hidden ** -0.5 * 1.5
    states = torch.randn(steps + 1, batch, hidden, generator=g)
    for relu in (False, True):
        got = states.clone()
        kernels.native.forward_steps(got, W, relu, threads)
        assert_close_float32(got, _torch_forward(states, W, relu))
    grad_pre, slope = torch.randn(steps, batch, hidden, generator=g), torch.rand(steps, batch, hidden, generator=g)
    got = grad_pre.clone()
    kernels.native.backward_steps(got, slope, W, threads)
    assert_close_float32(got, _torch_backward(grad_pre, slope, W))


def test_c_steps_refuse_buffers_they_cannot_read():
    use_c_kernels()
    W = torch.zeros(8, 8)
    with pytest.raises(ValueError, match="float32"):
        kernels.native.forward_steps(torch.zeros(3, 2, 8, dtype=torch.float64), W, False)
    with pytest.raises(ValueError, match="contiguous"):
        kernels.native.forward_steps(torch.zeros(3, 8, 2).transpose(1, 2), W, False)
    with pytest.raises(ValueError, match=r"\(8, 8\)"):
        kernels.native.backward_steps(torch.zeros(3, 2, 8), torch.zeros(3, 2, 8), torch.zeros(8, 9))


@pytest.mark.parametrize("relu", [False, True])
def test_recurrence_in_c_equals_autograd_in_float32(relu):
    """States and every gradient against autograd through the book's step, computed in float64."""
    use_c_kernels()
    g = torch.Generator().manual_seed(12)
    steps, batch, hidden = 7, 10, 40
    weights = [torch.randn(steps, batch, hidden, generator=g), torch.randn(hidden, generator=g),
               torch.randn(batch, hidden, generator=g), torch.randn(hidden, hidden, generator=g) * hidden ** -0.5]
    probe = torch.randn(steps, batch, hidden, generator=g)
    ran = []  # the C steps, recorded as they run: the check below is of them
    steps_in_c = StepKernels("C, recorded", lambda *a: ran.append("forward") or kernels.native.forward_steps(*a),
                             lambda *a: ran.append("backward") or kernels.native.backward_steps(*a))
    assert_recurrence_equals_float64_autograd(lambda *w: rnn_recurrence(*w, relu=relu, steps_with=steps_in_c),
                                              weights, lambda XW: XW, ["XW", "b_h", "H0", "W_hh"], relu, probe)
    assert ran == ["forward", "backward"]


def test_fast_model_with_c_steps_equals_the_textbook_loss_and_gradients_at_d2l_vocabulary():
    use_c_kernels()
    assert kernels.recurrence_kernel("c", torch.zeros(28, 48), torch.zeros(48, 48), 32) == "c"
    assert_fast_rnn_equals_textbook(vocab=28, hidden=48, batch=32, steps=9, seed=13, kernels="c")


def test_auto_takes_the_c_recurrence_for_float32_on_the_cpu_with_fast_kernels_only():
    use_c_kernels()
    d2l = torch.zeros(28, 512), torch.zeros(512, 512)
    best = kernels.native.instruction_set()
    assert (kernels.recurrence_kernel("auto", *d2l, 32) == "c") == (best in ("avx512", "avx2"))
    kernels.native.use("generic")  # built and tested, slower than oneDNN's steps: not taken by auto
    assert kernels.recurrence_kernel("auto", *d2l, 32) != "c"
    assert kernels.recurrence_kernel("c", *d2l, 32) == "c"  # but run when asked for


def test_the_c_module_shares_torchs_openmp_runtime():
    """Two OpenMP runtimes would each keep a pool of threads spinning for the same two cores."""
    use_c_kernels()
    try:
        with open("/proc/self/maps") as maps:
            runtimes = {line.split()[-1] for line in maps if "libgomp" in line or "libiomp" in line}
    except OSError:
        pytest.skip("no /proc/self/maps here (not Linux)")
    assert len(runtimes) <= 1, runtimes
