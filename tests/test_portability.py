"""Every CPU, every feature: what a CPU lacks is refused in one line, and the lower kernel levels run here too.

A CPU with AVX2 and no AVX-512 is played on this one by the variables that cap what each library uses:
``ONEDNN_MAX_CPU_ISA`` (oneDNN, where torch's RNNs run), ``ATEN_CPU_CAPABILITY`` (torch's own kernels)
and ``RNN_TUI_C_ISA`` (rnn-tui's C kernels). On a CPU that is AVX2-only already they change nothing.
"""
import json
import os
import subprocess
import sys

import pytest
import torch

from rnn_tui.engine import cpu, kernels
from rnn_tui.engine.bench import suite
from rnn_tui.engine.bench.paths import Workload
from rnn_tui.engine.launch import python_command
from helpers import SMALL, rnn_tui, side_by_side

AVX2_HOST = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2", "RNN_TUI_C_ISA": "avx2"}


def on_avx2_host(*args: str, extra: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    return rnn_tui(*args, env={**os.environ, **AVX2_HOST, **(extra or {})}, **kwargs)


def test_bf16_autocast_on_a_cpu_without_bfloat16_is_refused_in_one_line(tmp_path):
    # the same probe and line for every cell: asked of each in one interpreter on such a host
    probe = python_command("from rnn_tui.engine import cpu; "
                           "print('\\n'.join(str(cpu.bf16_problem(cell)) for cell in ('rnn', 'gru', 'lstm')))")
    one_core = {"OMP_NUM_THREADS": "1"}  # three new interpreters side by side on two cores
    result, trained, said = side_by_side(
        lambda: on_avx2_host("train", *SMALL, "--model", "lstm", "--autocast", "bf16", "--epochs", "1",
                             "--run-dir", str(tmp_path / "run"), extra=one_core),
        lambda: on_avx2_host("train", *SMALL, "--model", "lstm", "--epochs", "1", "--run-dir", str(tmp_path / "f32"),
                             extra=one_core),
        lambda: subprocess.run(probe, capture_output=True, text=True, env={**os.environ, **AVX2_HOST, **one_core},
                               check=True), workers=3)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and "--autocast bf16" in lines[0] and "nn.LSTM" in lines[0], result.stderr
    assert not (tmp_path / "run").exists()  # refused before a folder was made
    assert trained.returncode == 0, trained.stderr  # float32 trains on such a CPU
    assert [("--autocast bf16" in line, f"nn.{cell}" in line) for line, cell in
            zip(said.stdout.splitlines(), ("RNN", "GRU", "LSTM"))] == [(True, True)] * 3, said.stdout


def test_the_probe_asks_torch_once_and_names_the_cpu():
    probe = python_command("from rnn_tui.engine import cpu; print(cpu.bf16_problem('lstm') is None); "
                           "print(cpu.describe_cpu())")
    cases = (({}, cpu.bf16_problem("lstm") is None), (AVX2_HOST, False))
    runs = side_by_side(*(lambda env=env: subprocess.run(probe, capture_output=True, text=True,
                                                         env={**os.environ, **env}, check=True) for env, _ in cases))
    for (env, trains), done in zip(cases, runs):
        answer, described = done.stdout.splitlines()
        assert answer == str(trains)
        assert cpu.cpu_name() in described and f"{cpu.usable_cores()} cores" in described
        assert all(f"limited to {value}" in described for value in env.values())  # a capped figure says so
    assert cpu.bf16_problem.cache_info().currsize >= 1  # asked once per process, then remembered


def test_bench_leaves_out_a_bf16_row_the_cpu_cannot_train_and_says_why(monkeypatch):
    refusal = "--autocast bf16 cannot train nn.LSTM on this CPU"
    monkeypatch.setattr(cpu, "bf16_problem", lambda cell: refusal if cell == "lstm" else None)
    work = Workload(suite.D2L, torch.zeros(100, dtype=torch.long), 28, 16)
    labels, skipped = suite.paths_for(work, "cpu")
    assert skipped == {"nn.LSTM bf16": refusal}
    assert "nn.LSTM bf16" not in labels and {"nn.LSTM", "nn.RNN bf16", "nn.GRU bf16"} <= set(labels)


@pytest.mark.parametrize("level", ["avx2", "generic"])
def test_the_c_kernels_run_at_a_lower_level_when_asked_on_any_host(tmp_path, level):
    if kernels.native is None:
        pytest.skip("the C kernels were not built (no C compiler with OpenMP at install time)")
    result = rnn_tui("train", *SMALL, "--epochs", "1", "--kernels", "c", "--json", "--run-dir", str(tmp_path / "r"),
                     env={**os.environ, "RNN_TUI_C_ISA": level})
    assert result.returncode == 0, result.stderr
    start = json.loads(result.stdout.splitlines()[0])
    expected = level if level in kernels.native.instruction_sets() else kernels.native.instruction_sets()[0]
    assert start["kernels"]["recurrence"] == f"C, {expected}"


def test_a_c_level_that_does_not_exist_is_one_line_and_exit_2(tmp_path):
    if kernels.native is None:
        pytest.skip("the C kernels were not built (no C compiler with OpenMP at install time)")
    result = rnn_tui("train", *SMALL, "--epochs", "1", "--run-dir", str(tmp_path / "r"),
                     env={**os.environ, "RNN_TUI_C_ISA": "sse9"})
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and "RNN_TUI_C_ISA must be one of" in lines[0], result.stderr


def test_the_bf16_and_kernel_tests_pass_or_skip_with_a_reason_on_an_avx2_host():
    """What failed on an AVX2-only machine (the bf16 LSTM tests), run here as such a machine would run it."""
    tests = ["tests/test_models.py", "tests/test_trainer.py", "tests/test_steppers.py",
             "tests/test_native_recurrence.py"]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-k",
                           "bf16 or instruction or kernels", *tests], cwd=root, capture_output=True, text=True,
                          env={**os.environ, **AVX2_HOST}, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:]
    skipped = [line for line in done.stdout.splitlines() if line.startswith("SKIPPED")]
    assert skipped and all("bf16" in line or "does not run" in line for line in skipped), done.stdout[-3000:]
