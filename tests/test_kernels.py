"""The kernels switch (engine/kernels): what each --kernels setting chooses, and that every choice
computes what the textbook model computes."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rnn_tui.engine import kernels
from rnn_tui.engine.config import KERNELS
from rnn_tui.engine.kernels import onednn
from rnn_tui.engine.kernels.recurrence import rnn_recurrence_onehot
from rnn_tui.engine.models import RNNModel, RNNModelScratch
from helpers import (assert_close_float32, assert_fast_rnn_equals_textbook, assert_recurrence_equals_float64_autograd,
                     side_by_side, skip_unless_kernels_run)

H, T = 16, 5
ROOT = Path(__file__).resolve().parents[1]
needs_onednn = pytest.mark.skipif(not onednn.available(), reason="torch was built without oneDNN")


@pytest.mark.parametrize("setting", KERNELS)
@pytest.mark.parametrize("vocab", [11, 3 * H])  # one-hot block fused where oneDNN runs it, a gather otherwise
def test_fast_path_equals_textbook_in_float32_on_every_kernel(setting, vocab):
    skip_unless_kernels_run(setting)
    assert_fast_rnn_equals_textbook(vocab, H, batch=kernels.ONEDNN_MIN_BATCH, steps=T, seed=10, kernels=setting)


def test_each_setting_chooses_its_own_kernels_for_the_recurrence():
    d2l = torch.zeros(28, 512), torch.zeros(512, 512)
    tang = torch.zeros(5511, 256), torch.zeros(256, 256)
    double = torch.zeros(28, 512, dtype=torch.float64), torch.zeros(512, 512, dtype=torch.float64)
    choose = kernels.recurrence_kernel
    assert choose("torch", *d2l, 32) == "torch"
    if onednn.available():
        assert choose("onednn", *d2l, 32) == "onednn-onehot"
        assert choose("onednn", *tang, 32) == "onednn"  # a large vocabulary: gathered rows instead
        assert choose("onednn", *d2l, 1) == "onednn-onehot"  # forced, even where it does not pay
    if kernels.native is not None:
        assert choose("c", *d2l, 1) == "c"
    for setting in KERNELS:  # no C or oneDNN kernel computes in float64
        assert choose(setting, *double, 32) == "torch"


def test_auto_takes_c_where_its_kernels_measured_faster_else_onednn_for_many_rows():
    d2l = torch.zeros(28, 512), torch.zeros(512, 512)
    c_faster = kernels.native is not None and kernels.native.faster_than_torch()
    expected = "c" if c_faster else "onednn-onehot" if onednn.available() else "torch"
    assert kernels.recurrence_kernel("auto", *d2l, 32) == expected
    assert kernels.recurrence_kernel("auto", *d2l, kernels.ONEDNN_MIN_BATCH - 1) == ("c" if c_faster else "torch")


def test_forcing_kernels_that_cannot_run_is_one_line():
    assert kernels.problem("auto", torch.device("cuda", 0)) is None
    assert kernels.problem("torch", torch.device("cpu")) is None
    assert "CPU only" in kernels.problem("c", torch.device("cuda", 0))
    assert "CPU only" in kernels.problem("onednn", torch.device("mps"))
    assert "must be one of" in kernels.problem("fastest", torch.device("cpu"))
    # without the C module: the last test of this file


@pytest.mark.parametrize("setting", KERNELS)
def test_describe_names_what_runs(setting):
    skip_unless_kernels_run(setting)
    model = RNNModelScratch(28, 64, kernels=setting)
    isa = kernels.native.instruction_set() if kernels.native is not None else None
    expected = {"torch": {"recurrence": "torch", "generation": "torch stepper"},
                "onednn": {"recurrence": "oneDNN packed, one-hot fused", "generation": "torch stepper"},
                "c": {"recurrence": f"C, {isa}", "generation": f"C stepper, {isa}"}}
    names = kernels.describe(model, 32)
    assert names == expected.get(setting, names)
    assert names["generation"] == kernels.stepper_for(model, model.begin_state(1)).name  # what generation runs
    assert kernels.describe(RNNModelScratch(28, 64, path="textbook"), 32)["recurrence"].startswith("textbook")
    assert kernels.describe(RNNModel(28, 64, "gru"), 32) == {"recurrence": "torch", "generation": "model forward"}


@needs_onednn
@pytest.mark.parametrize("activation", ["none", "tanh", "relu"])
def test_packed_product_equals_the_plain_product(activation):
    g = torch.Generator().manual_seed(8)
    W, x, b = torch.randn(40, 24, generator=g), torch.randn(5, 40, generator=g), torch.randn(24, generator=g)
    want = torch.addmm(b, x, W)
    want = {"none": want, "tanh": torch.tanh(want), "relu": torch.relu(want)}[activation]
    assert_close_float32(onednn.packed_product(W, 5, b, activation)(x), want)
    assert_close_float32(onednn.packed_product(W.t().contiguous().t(), 5)(x), x @ W)  # a strided W too


@needs_onednn
@pytest.mark.parametrize("relu", [False, True])
def test_fused_one_hot_recurrence_equals_autograd_in_float32(relu):
    """The oneDNN path against autograd through the book's step, computed in float64."""
    g = torch.Generator().manual_seed(9)
    vocab, hidden, steps, batch = 7, 24, 6, kernels.ONEDNN_MIN_BATCH
    X = torch.randint(0, vocab, (steps, batch), generator=g)
    weights = [torch.randn(vocab, hidden, generator=g), torch.randn(hidden, generator=g),
               torch.randn(batch, hidden, generator=g), torch.randn(hidden, hidden, generator=g) * hidden ** -0.5]
    probe = torch.randn(steps, batch, hidden, generator=g)
    assert_recurrence_equals_float64_autograd(
        lambda *w: rnn_recurrence_onehot(X, *w, relu=relu), weights,
        lambda W_xh: (torch.nn.functional.one_hot(X_t, vocab).double() @ W_xh for X_t in X),
        ["W_xh", "b_h", "H0", "W_hh"], relu, probe)


def test_without_the_c_folder_rnn_tui_trains_and_generates_on_torch_kernels(tmp_path):
    """Deleting engine/kernels/native leaves a working rnn-tui: only its one import is guarded."""
    package = tmp_path / "rnn_tui"
    for folder in ("engine", "tui", "corpora"):
        shutil.copytree(ROOT / folder, package / folder,
                        ignore=shutil.ignore_patterns("native", "__pycache__"))
    (package / "__init__.py").write_text("")  # a regular package: found before the installed one
    assert not (package / "engine" / "kernels" / "native").exists()
    program = (f"import sys; sys.path.insert(0, {str(tmp_path)!r}); from rnn_tui.tui.cli import main; "
               "import rnn_tui; assert rnn_tui.__file__.startswith(sys.path[0]), rnn_tui.__file__; main()")

    def run(*args):
        return subprocess.run([sys.executable, "-c", program, *args], capture_output=True, text=True,
                              cwd=tmp_path, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    trained, refused = side_by_side(  # two new interpreters: one core each
        lambda: run("train", "--corpus", "markov:length=20000", "--hidden", "32", "--epochs", "1", "--json",
                    "--device", "cpu", "--run-dir", str(tmp_path / "run")),
        lambda: run("train", "--kernels", "c", "--corpus", "markov", "--epochs", "1"))
    assert trained.returncode == 0, trained.stderr
    start = json.loads(trained.stdout.splitlines()[0])
    assert not start["kernels"]["recurrence"].startswith("C") and start["kernels"]["generation"] == "torch stepper"
    generated = run("generate", str(tmp_path / "run"), "--length", "20")
    assert generated.returncode == 0 and len(generated.stdout.strip()) >= 20, generated.stderr
    assert refused.returncode == 2 and "were not built" in refused.stderr
