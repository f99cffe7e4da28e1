"""Small shared helpers for tests (tiny configs, event collection, runs in processes of their own)."""
import random
import subprocess
import time
from pathlib import Path

import pytest
import torch

from rnn_tui.engine import kernels
from rnn_tui.engine.config import TrainConfig
from rnn_tui.engine.launch import rnn_tui_command

ALPHABET = "abcdefgh"


def pattern_text(n=6000, seed=0) -> str:
    """Text with strong structure: a short repeating motif with a little noise."""
    rng = random.Random(seed)
    motif = "the cat sat on the mat. "
    return "".join(ch if rng.random() > 0.02 else rng.choice(ALPHABET) for ch in (motif * (n // len(motif) + 1))[:n])


def tiny_config(**overrides) -> TrainConfig:
    values = dict(preprocess="raw", max_tokens=0, hidden=32, batch_size=8, num_steps=10, epochs=3, lr=1.0,
                  device="cpu", sample_every=0, prefix="the ", val_fraction=0.1)
    values.update(overrides)
    return TrainConfig(**values)


def run_events(trainer):
    return [e.to_dict() for e in trainer.run()]


def assert_fast_rnn_equals_textbook(vocab: int, hidden: int, batch: int, steps: int, seed: int,
                                    kernels: str = "auto") -> None:
    """The fast scratch RNN's loss and every gradient against the textbook model's, same weights, float32."""
    from rnn_tui.engine.models import RNNModelScratch
    torch.manual_seed(seed)
    fast = RNNModelScratch(vocab, hidden, "rnn", "fast", kernels=kernels)
    with torch.no_grad():
        for p in fast.parameters():
            p.normal_(0, hidden ** -0.5)
    textbook = RNNModelScratch(vocab, hidden, "rnn", "textbook")
    textbook.load_state_dict(fast.state_dict())
    g = torch.Generator().manual_seed(seed + 1)
    X, Y = torch.randint(0, vocab, (batch, steps), generator=g), torch.randint(0, vocab, (batch, steps), generator=g)
    losses = []
    for net in (fast, textbook):
        loss, _ = net.loss(X, Y, net.begin_state(batch))
        loss.backward()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)
    for (name, p), q in zip(fast.named_parameters(), textbook.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-6, msg=name)


def assert_recurrence_equals_float64_autograd(recurrence, weights, input_terms, names, relu, probe):
    """States and every gradient of ``recurrence(*weights)`` (float32, (T, B, h)) against autograd
    through the book's step in float64. ``weights``: [the input's weight or rows, b_h, H0, W_hh];
    ``input_terms(first weight in float64)`` gives each step's X_t·W_xh in turn."""
    fast = [w.clone().requires_grad_(True) for w in weights]
    Hs = recurrence(*fast)
    (Hs * probe).sum().backward()
    ref = [w.double().requires_grad_(True) for w in weights]
    inputs, b_h, H, W_hh = ref
    outputs = []
    for term in input_terms(inputs):
        pre = term + H @ W_hh + b_h
        H = torch.relu(pre) if relu else torch.tanh(pre)
        outputs.append(H)
    (torch.stack(outputs) * probe.double()).sum().backward()
    assert_close_float32(Hs.detach(), torch.stack(outputs).detach().float())
    for name, got, want in zip(names, fast, ref):
        torch.testing.assert_close(got.grad, want.grad.float(), rtol=1e-4, atol=1e-5, msg=name)


def assert_close_float32(got, want):
    """Equal up to float32 rounding of sums of ~hidden terms, at the scale of the values (ReLU grows)."""
    torch.testing.assert_close(got, want, rtol=1e-5, atol=2e-7 * got.shape[-1] ** 0.5 * max(1.0, want.abs().max()))


# the C module's kernels, one copy per instruction set (engine/kernels/native), best first
INSTRUCTION_SETS = ["avx512", "avx2", "generic"]


def use_c_kernels(name: str = "") -> None:
    """Use the C module's kernels for instruction set ``name`` ("": those chosen at import); skip the
    test where the module was not built or the CPU does not run that set. conftest restores the choice."""
    if kernels.native is None:
        pytest.skip("the C kernels were not built (no C compiler with OpenMP at install time)")
    if name:
        if name not in kernels.native.instruction_sets():
            pytest.skip(f"this CPU does not run the {name} kernels")
        kernels.native.use(name)


def skip_unless_bf16_trains(cell: str) -> None:
    """Skip a test of bfloat16 autocast where this CPU cannot train ``cell`` in it (no AVX-512, say)."""
    from rnn_tui.engine.cpu import bf16_problem
    problem = bf16_problem(cell)
    if problem:
        pytest.skip(problem)


def skip_unless_kernels_run(name: str) -> None:
    """Skip a test of ``--kernels name`` where those kernels cannot run here (not built, no oneDNN)."""
    problem = kernels.problem(name, torch.device("cpu"))
    if problem:
        pytest.skip(problem)


# -- runs in processes of their own (tests/test_live.py, tests/test_attach.py) ---------------------------
SMALL = ["--corpus", "markov:length=60000", "--hidden", "32", "--device", "cpu", "--sample-every", "0"]
LONGER = [*SMALL, "--corpus", "markov:length=400000"]  # epochs long enough to report progress within them


def rnn_tui(*args, env: dict | None = None, cwd=None, timeout: float = 300, fresh: bool = False):
    """``rnn-tui ARGS`` in a process of its own, its output captured; ``env`` replaces the environment, as
    for subprocess. ``fresh``: a new interpreter (for what rnn-tui reads at import, like RNN_TUI_C_ISA),
    else a fork of one that has imported rnn-tui and torch already (``run_cli``)."""
    if fresh:
        return subprocess.run(rnn_tui_command(*args), capture_output=True, text=True, timeout=timeout, env=env,
                              cwd=cwd, stdin=subprocess.DEVNULL)
    result = run_cli(*args, env=env, cwd=cwd, timeout=timeout)
    if result is None:
        raise AssertionError(f"rnn-tui {' '.join(args)[:200]} still ran after {timeout:g} s")
    return result


def side_by_side(*calls, workers: int = 2) -> list:
    """Each zero-argument call's result, ``workers`` at a time: rnn-tui processes that start a new
    interpreter spend seconds on one core importing torch, so two of them share the two cores."""
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda call: call(), calls))


def detach(run_dir: Path, *args: str) -> subprocess.CompletedProcess:
    result = rnn_tui("train", *args, "--run-dir", str(run_dir), "--detach")
    assert result.returncode == 0, result.stderr
    return result


def wait_for(condition, timeout=120.0, what="the run", progress=None):
    """``condition()`` once it is true; AssertionError after ``timeout`` seconds without it. With ``progress``
    (e.g. the epochs a run has done), the wait lasts while that keeps changing: a slow machine is no failure,
    a run that stopped moving is."""
    deadline = time.monotonic() + timeout
    seen = progress() if progress else None
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if progress and (now := progress()) != seen:
            seen, deadline = now, time.monotonic() + timeout
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}" + (f" (stuck at {seen})" if progress else ""))


def epochs_done(run_dir: Path) -> int:
    path = run_dir / "metrics.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


# -- the dashboard under Pilot ----------------------------------------------------------------------------
async def wait_until(pilot, condition, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("the dashboard did not get there in time")


def screen_lines(app) -> list[str]:
    """The app's screen as plain lines of text (its SVG screenshot's text, span by span, row by row)."""
    import html
    import re
    rows: dict[float, list[str]] = {}
    for y, text in re.findall(r'<text [^>]*?y="([\d.]+)"[^>]*>([^<]*)</text>', app.export_screenshot()):
        rows.setdefault(float(y), []).append(html.unescape(text).replace("\xa0", " "))
    return ["".join(parts) for _, parts in sorted(rows.items())]


def status_of(app) -> str:
    """The dashboard's status line."""
    return str(app.query_one("#status").render())


# -- many short CLI runs: forked from a process that has imported rnn-tui and torch once ---------------------
_FORKS = None


def _cli_in_child(argv: list[str], env: dict, cwd: str, out_path: str, err_path: str, stdout_closed: bool) -> None:
    """In the forked child: what `rnn-tui ARGV` does in a process of its own, its output to the two files."""
    import os
    import sys
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    if env.get("OMP_NUM_THREADS", "").isdigit():  # torch read it when the server imported it: told again
        torch.set_num_threads(max(1, int(env["OMP_NUM_THREADS"])))
    for fd, path, flags in ((0, os.devnull, os.O_RDONLY), (1, out_path, os.O_WRONLY), (2, err_path, os.O_WRONLY)):
        opened = os.open(path, flags)
        os.dup2(opened, fd)
        os.close(opened)
    if stdout_closed:  # what an interpreter started with fd 1 closed (`>&-`) has: no fd 1, and no sys.stdout
        os.close(1)
        sys.stdout = sys.__stdout__ = None
    sys.argv = ["rnn-tui", *map(os.fsdecode, argv)]  # bytes as Python decodes its own argv
    from rnn_tui.tui.cli import main
    try:
        main()
    except SystemExit as exc:
        # told through a file: the forkserver says 255 for a child whose status it lost, whatever it was
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        with open(err_path + ".status", "w") as status:
            status.write(str(code))
        raise


# read when an interpreter or torch starts, so a fork of a started one would not see them
_READ_AT_START = ("PYTHON", "LC_", "LANG", "ATEN_", "ONEDNN_", "DNNL_", "MKL_", "KMP_", "RNN_TUI_C_ISA")


def run_cli(*args: str | bytes, env: dict | None = None, cwd=None, timeout: float = 120.0, stdout_path: str | None = None,
            stdout_closed: bool = False):
    """``rnn-tui ARGS`` in a process of its own, forked from one that imported rnn-tui, torch and the
    compiler stack torch.optim loads on first use (a start-up of milliseconds, not seconds), stdin
    empty: a CompletedProcess, or None when it ran past ``timeout``. ``env`` replaces the environment;
    one that changes what is read at start-up gets a new interpreter instead. ``stdout_path``: the
    child's stdout goes there (``/dev/full``, say), not to the result; ``stdout_closed``: it has none, as
    after ``>&-``."""
    import multiprocessing
    import os
    import tempfile
    env = dict(os.environ if env is None else env)
    changed = {name for name in set(env) | set(os.environ) if env.get(name) != os.environ.get(name)}
    if any(name.startswith(_READ_AT_START) for name in changed):
        assert not stdout_closed, "stdout_closed is for a forked child"
        with open(stdout_path or os.devnull, "w") as elsewhere:
            try:
                done = subprocess.run(rnn_tui_command(*args), stdout=elsewhere if stdout_path else subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, timeout=timeout, env=env, cwd=cwd,
                                      stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                return None
        return subprocess.CompletedProcess(done.args, done.returncode, done.stdout or "", done.stderr)
    global _FORKS
    if _FORKS is None:
        _FORKS = multiprocessing.get_context("forkserver")
        _FORKS.set_forkserver_preload(["torch", "torch._dynamo", "rnn_tui.tui.cli", "rnn_tui.engine.session",
                                       "helpers"])
    with tempfile.TemporaryDirectory(prefix="rnn-tui-cli-") as folder:
        out_path, err_path = os.path.join(folder, "out"), os.path.join(folder, "err")
        for path in (out_path, err_path):
            open(path, "w").close()
        child = _FORKS.Process(target=_cli_in_child, args=(list(args), env, str(cwd or os.getcwd()),
                                                           stdout_path or out_path, err_path, stdout_closed))
        child.start()
        child.join(timeout)
        if child.is_alive():
            child.kill()
            child.join()
            return None
        read = lambda path: open(path, encoding="utf-8", errors="replace").read()  # noqa: E731
        told = read(err_path + ".status") if os.path.exists(err_path + ".status") else ""
        code = int(told) if told.strip().lstrip("-").isdigit() else child.exitcode  # none: killed by a signal
        return subprocess.CompletedProcess(["rnn-tui", *args], code, read(out_path), read(err_path))
