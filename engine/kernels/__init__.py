"""The fast paths' kernels, and the one place that chooses between them.

The d2l models (``engine/models``) say what to compute; this package says with what:

- ``recurrence.py``: the vanilla RNN's hidden states with a hand-written backward through time; its
  steps run on C (``native/``), on oneDNN's packed products (``onednn.py``) or on torch's own.
- ``head.py``: the output layer and the mean cross-entropy as one operation (torch).
- ``stepper.py`` and ``native/stepper.py``: generation's one-token steps, in torch and in C.

One setting forces a family: ``--kernels`` (or ``RNN_TUI_KERNELS``), held by each model as
``model.kernels``. ``auto`` takes, operation by operation, the fastest that runs here and measured
faster (docs/benchmarks.md); ``c``, ``onednn`` and ``torch`` use that family wherever it has a kernel
(float32 on the CPU), and torch's code elsewhere. The textbook path uses none of this.
"""
from __future__ import annotations

import torch

from rnn_tui.engine.config import KERNELS
from rnn_tui.engine.kernels import onednn
from rnn_tui.engine.kernels.head import linear_cross_entropy
from rnn_tui.engine.kernels.recurrence import ONEDNN_STEPS, TORCH_STEPS, StepKernels, rnn_recurrence, rnn_recurrence_onehot
from rnn_tui.engine.kernels.stepper import RNNStepper

try:
    from rnn_tui.engine.kernels import native
except ImportError:  # not built (no C compiler with OpenMP at install), or its folder removed: torch kernels
    native = None
C_STEPS = StepKernels("C", native.forward_steps, native.backward_steps) if native is not None else None

# oneDNN's packed product of one row is slower than MKL's, and packing costs a copy of the weight per
# call: "auto" packs for blocks of at least this many rows
ONEDNN_MIN_BATCH = 16


def problem(kernels: str, device: torch.device) -> str | None:
    """Why ``--kernels kernels`` cannot run on ``device`` (one line for the user), or None."""
    if kernels not in KERNELS:
        return f"--kernels must be one of {', '.join(KERNELS)} (got {kernels!r})"
    if native is not None and native.isa_limit_problem():
        return native.isa_limit_problem()
    if kernels in ("c", "onednn") and device.type != "cpu":
        return f"--kernels {kernels} runs on the CPU only, not on {device}"
    if kernels == "c" and native is None:
        return "--kernels c: the C kernels were not built (no C compiler with OpenMP when rnn-tui was installed)"
    if kernels == "onednn" and not onednn.available():
        return "--kernels onednn: this build of torch has no working oneDNN"
    return None


def _runs_here(weight: torch.Tensor) -> bool:
    return weight.device.type == "cpu" and weight.dtype == torch.float32


def _c_chosen(kernels: str, weight: torch.Tensor) -> bool:
    return (native is not None and _runs_here(weight)
            and (kernels == "c" or kernels == "auto" and native.faster_than_torch()))


def recurrence_kernel(kernels: str, W_xh: torch.Tensor, W_hh: torch.Tensor, batch: int) -> str:
    """What runs the vanilla RNN's recurrence: "c", "onednn-onehot", "onednn" or "torch"."""
    if _c_chosen(kernels, W_hh):
        return "c"
    if _runs_here(W_hh) and onednn.available() and (
            kernels == "onednn" or kernels == "auto" and batch >= ONEDNN_MIN_BATCH):
        # the one-hot block of [H | one-hot(X)] costs what it saves only while it is no wider than H
        small_vocabulary = W_xh.dtype == W_hh.dtype and W_xh.shape[0] <= W_hh.shape[0]
        return "onednn-onehot" if small_vocabulary else "onednn"
    return "torch"


def rnn_hidden_states(kernels: str, X: torch.Tensor, W_xh: torch.Tensor, b_h: torch.Tensor, H0: torch.Tensor,
                      W_hh: torch.Tensor, relu: bool = False) -> torch.Tensor:
    """All hidden states (T, B, h) of the vanilla RNN for token indices X: (T, B), on the chosen kernels."""
    kernel = recurrence_kernel(kernels, W_xh, W_hh, X.shape[1])
    if kernel == "onednn-onehot":
        return rnn_recurrence_onehot(X, W_xh, b_h, H0, W_hh, relu)
    steps = {"c": C_STEPS, "onednn": ONEDNN_STEPS, "torch": TORCH_STEPS}[kernel]
    XW = torch.nn.functional.embedding(X, W_xh)  # (T, B, h): a row gather is the one-hot product
    return rnn_recurrence(XW, b_h, H0, W_hh, relu, steps)


def is_vanilla_rnn(model) -> bool:
    """Whether ``model`` is d2l's vanilla RNN from scratch, the one the steppers serve (by its parameter names)."""
    return getattr(model, "cell", None) == "rnn" and isinstance(getattr(model, "W_hh", None), torch.Tensor)


def _stepper_kind(model, device: torch.device, dtype: torch.dtype) -> str | None:
    if not is_vanilla_rnn(model) or device.type != "cpu":
        return None
    return "c" if _c_chosen(model.kernels, model.W_hh) and dtype == torch.float32 else "torch"


def stepper_for(model, state):
    """Generation's stepper for ``model`` from ``state``, or None where it has none (then its forward runs)."""
    H = state[0]
    kind = _stepper_kind(model, H.device, H.dtype)
    if kind is None or H.shape != (1, model.num_hiddens):
        return None
    if kind == "c":
        return native.NativeRNNStepper(model, H)
    threads = max(1, min(torch.get_num_threads(), 8))
    blocks = max(k for k in range(1, threads + 1) if model.num_hiddens % k == 0)
    return RNNStepper(model, H, blocks)


_RECURRENCE_NAMES = {"onednn-onehot": "oneDNN packed, one-hot fused", "onednn": "oneDNN packed", "torch": "torch"}


def describe(model, batch_size: int) -> dict[str, str]:
    """What runs ``model``'s recurrence and its generation here (the ``start`` event and ``rnn-tui bench``
    show it)."""
    if getattr(model, "path", "fast") == "textbook":
        recurrence = "textbook (torch, step by step)"
    elif is_vanilla_rnn(model):
        kernel = recurrence_kernel(model.kernels, model.W_xh, model.W_hh, batch_size)
        recurrence = f"C, {native.instruction_set()}" if kernel == "c" else _RECURRENCE_NAMES[kernel]
    else:
        recurrence = "torch"
    weight = next(model.parameters())
    stepper = _stepper_kind(model, weight.device, weight.dtype)
    generation = (f"C stepper, {native.instruction_set()}" if stepper == "c" else
                  RNNStepper.name if stepper == "torch" else "model forward")
    return {"recurrence": recurrence, "generation": generation}


__all__ = ["KERNELS", "describe", "is_vanilla_rnn", "linear_cross_entropy", "native", "problem",
           "recurrence_kernel", "rnn_hidden_states", "stepper_for"]
