"""Hostile input, class by class, each class walked over many variants: one line and exit 2, or a clean run.

Never a traceback, never a hang, nothing already computed lost. The classes: files rnn-tui wrote,
read back with the wrong shape; paths of the wrong kind; output streams that fail; sampling's edge
values; bytes that are not UTF-8 in argv; environment variables; what used to hang.
"""
import dataclasses
import json
import os
import shutil
import subprocess
import typing
from pathlib import Path

import pytest
import torch

from rnn_tui.engine import events as ev
from rnn_tui.engine.checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint, save_checkpoint
from rnn_tui.engine.config import TrainConfig
from rnn_tui.engine.errors import InputProblem
from rnn_tui.engine.generation import NotANumber, _choose
from rnn_tui.engine.launch import rnn_tui_command
from rnn_tui.engine.runs import RunDir
from rnn_tui.engine.schema import CheckpointState, MetricsLine, RunStatus
from rnn_tui.engine.session import prepare_run
from rnn_tui.engine.summary import summarize_all
from rnn_tui.engine.trainer import Trainer
from helpers import pattern_text, run_cli, side_by_side, tiny_config

TINY = ["--corpus", "markov:length=3000", "--hidden", "8", "--batch-size", "2", "--num-steps", "5", "--epochs", "1",
        "--device", "cpu", "--sample-every", "0"]
# values that no field of the kind may hold (None too, where the field is not optional)
WRONG = {int: ["3", 2.5, True, [1], {"a": 1}], float: ["fast", True, [1.0], {"a": 1.0}],
         str: [5, True, ["x"], {"x": 1}], bool: ["yes", 1, None], dict: ["x", 5, [1]], list: ["x", 5, {"a": 1}]}


def run(*args: str, env: dict | None = None, cwd=None, **kwargs) -> subprocess.CompletedProcess | None:
    """``rnn-tui ARGS`` with ``env`` added to the environment, stdin empty; None when it ran past 120 s.
    Keywords for subprocess (a new session, say) take a new interpreter, the rest a fork (``run_cli``)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    if not kwargs:
        return run_cli(*args, env=env, cwd=cwd, timeout=120)
    try:
        return subprocess.run(rnn_tui_command(*args), capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL, env=env, cwd=cwd, **kwargs)
    except subprocess.TimeoutExpired:
        return None


def mishandled(name: str, result: subprocess.CompletedProcess | None, clean_ok: bool = True) -> str | None:
    """What is wrong with how a case ended (a traceback, a hang, more than one line for bad input), or None."""
    if result is None:
        return f"{name}: still running after 120 s"
    if "Traceback" in result.stderr:
        return f"{name}: a traceback\n{result.stderr[-1200:]}"
    lines = result.stderr.strip().splitlines()
    if result.returncode == 2 and (len(lines) != 1 or not lines[0].startswith("rnn-tui: error:")):
        return f"{name}: exit 2 but not one error line: {result.stderr[-800:]}"
    if result.returncode not in ((0, 2) if clean_ok else (2,)):
        return f"{name}: exit {result.returncode}: {result.stderr[-800:]}"
    return None


def walk(cases: list[tuple[str, tuple, dict]], clean_ok: bool = True) -> list[str]:
    """Each (name, argv, run keywords) in a process of its own, two at a time; the problems found."""
    results = side_by_side(*(lambda case=case: run(*case[1], **case[2]) for case in cases))
    return [problem for (name, _, _), result in zip(cases, results) if (problem := mishandled(name, result, clean_ok))]


def wrong_values(schema) -> list[tuple[str, object]]:
    """(field, a value it must refuse) for every field of ``schema``: of another type, a missing value where
    the field is not optional, a number below the field's bound."""
    found = []
    hints = typing.get_type_hints(schema)
    for spec in dataclasses.fields(schema):
        kinds = {typing.get_origin(kind) or kind for kind in (typing.get_args(hints[spec.name]) or (hints[spec.name],))}
        base = next(kind for kind in (bool, int, float, str, dict, list) if kind in kinds)
        found += [(spec.name, value) for value in WRONG[base]]
        if type(None) not in kinds:
            found.append((spec.name, None))
        if spec.metadata.get("low") is not None:
            found.append((spec.name, spec.metadata["low"] - 1))
    return found


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A finished run to damage copies of."""
    folder = tmp_path_factory.mktemp("hostile") / "run"
    done = run("train", *TINY, "--epochs", "2", "--run-dir", str(folder))
    assert done is not None and done.returncode == 0, done and done.stderr
    return folder


# -- 1. files rnn-tui wrote, read back with the wrong shape -----------------------------------------------
def test_damaged_checkpoints_are_refused_in_one_line_by_generate_and_resume(trained, tmp_path):
    state = load_checkpoint(trained / "checkpoint.pt")
    variants = [(f"{name}={value!r}", {name: value}) for name, value in wrong_values(CheckpointState)]
    variants += [(f"config.{name}={value!r}", {"config": {**state["config"], name: value}})
                 for name, value in wrong_values(TrainConfig)]
    variants += [("vocab of one", {"vocab": ["a"]}), ("vocab repeats", {"vocab": ["a", "a", "b"]}),
                 ("model_state of strings", {"model_state": {"W_xh": "x"}}), ("best epoch 'x'", {"best": {"epoch": "x"}}),
                 ("history of strings", {"history": ["x"]}), ("history epoch 0", {"history": [{"epoch": 0}]})]
    assert len(variants) > 150
    path = tmp_path / "checkpoint.pt"
    for name, change in variants:
        save_checkpoint({**state, **change}, path)
        for use in (lambda: model_from_checkpoint(load_checkpoint(path)),
                    lambda: prepare_run(TrainConfig(), str(path), {"epochs": 9})):
            with pytest.raises(InputProblem):  # CheckpointError, TrainingInputError: one line; anything else fails
                use()
    cases = []  # the probe's examples, end to end
    for name, value in (("config", "x"), ("vocab", 5), ("vocab", {"a": 1}), ("epoch", "2"), ("source", [1])):
        folder = tmp_path / f"{name}-{type(value).__name__}"
        shutil.copytree(trained, folder)
        (folder / "best.pt").unlink()
        save_checkpoint({**state, name: value}, folder / "checkpoint.pt")
        cases += [(f"generate {folder.name}", ("generate", str(folder)), {}),
                  (f"resume {folder.name}", ("train", "--resume", str(folder), "--epochs", "5"), {})]
    problems = walk(cases, clean_ok=False)
    assert not problems, "\n\n".join(problems)


def test_damaged_status_metrics_and_config_are_listed_as_damaged_and_the_rest_still_show(trained, tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(trained, root / "good")
    status = json.loads((trained / "status.json").read_text())
    config = json.loads((trained / "config.json").read_text())
    damaged = {}
    for i, (name, value) in enumerate(wrong_values(RunStatus)):
        damaged[f"status-{i}"] = ("status.json", {**status, name: value})
    for i, (name, value) in enumerate(wrong_values(TrainConfig)):
        damaged[f"config-{i}"] = ("config.json", {**config, name: value})
    damaged["status-list"], damaged["config-number"] = ("status.json", [1, 2]), ("config.json", 7)
    damaged["state-odd"] = ("status.json", {**status, "state": "dancing"})
    for folder, (file, content) in damaged.items():
        shutil.copytree(trained, root / folder)
        (root / folder / file).write_text(json.dumps(content))
    for i, (name, value) in enumerate(wrong_values(MetricsLine)):  # a folder from before status.json kept summaries
        shutil.copytree(trained, root / f"metrics-{i}")
        (root / f"metrics-{i}" / "status.json").unlink()
        with open(root / f"metrics-{i}" / "metrics.jsonl", "a") as metrics:
            metrics.write(json.dumps({"epoch": 3, name: value}) + "\n")
    summaries = {s.name: s for s in summarize_all(root)}
    assert len(summaries) == 1 + len(damaged) + len(wrong_values(MetricsLine))  # one damaged folder hides none
    assert summaries["good"].status == "completed" and summaries["good"].problem is None
    for folder in damaged:
        assert summaries[folder].status == "corrupt" and summaries[folder].problem, folder
    assert all(summaries[name].problem for name in summaries if name.startswith("metrics-"))
    for args in (("runs", "--root", str(root)), ("runs", "--root", str(root), "--wide"),
                 ("runs", "--root", str(root), "--json"), ("compare", str(root / "good"), str(root / "status-3"),
                                                           str(root / "config-2"), "--plot")):
        result = run(*args)
        assert result.returncode == 0 and "Traceback" not in result.stderr, (args, result.stderr[-1500:])
    lines = [json.loads(line) for line in run("runs", "--root", str(root), "--json").stdout.splitlines()]
    assert len(lines) == len(summaries)


def test_events_of_the_wrong_shape_are_skipped_not_followed_into_a_crash():
    start = ev.Start(config={}, vocab_size=3, corpus={}, device="cpu", num_parameters=1, batches_per_epoch=1).to_dict()
    for name, value in [("vocab_size", "3"), ("config", "x"), ("corpus", [1]), ("device", 5), ("start_epoch", 1.5)]:
        with pytest.raises(ValueError):
            ev.from_dict({**start, name: value})
    assert ev.from_dict(start) == ev.Start(**{k: v for k, v in start.items() if k != "event"})


# -- 2. paths of the wrong kind ------------------------------------------------------------------------------
def test_paths_of_the_wrong_kind_are_one_line_with_or_without_detach(tmp_path):
    (tmp_path / "a-file").write_text("x")
    long_component = "n" * 300
    deep = "/".join(["d" * 200] * 25)  # past PATH_MAX
    run_dirs = [str(tmp_path / "a-file"), str(tmp_path / "a-file" / "below"), str(tmp_path / long_component),
                str(tmp_path / deep), "/proc/rnn-tui-run", "/proc/self/rnn-tui-run", "/dev/null/run",
                "/sys/rnn-tui-run"]
    cases = [(f"{how} --run-dir {path[:40]}", ("train", *TINY, "--run-dir", path, *extra), {})
             for path in run_dirs for how, extra in (("foreground", ()), ("detached", ("--detach",)))]
    for variable, value in (("RNN_TUI_RUNS", "/dev/null"), ("RNN_TUI_RUNS", str(tmp_path / "a-file")),
                            ("RNN_TUI_RUNS", str(tmp_path / long_component)), ("RNN_TUI_DATA", str(tmp_path / "a-file"))):
        for how, extra in (("foreground", ()), ("detached", ("--detach",))):
            corpus = ("--corpus", "timemachine") if variable == "RNN_TUI_DATA" else ()
            cases.append((f"{variable}={value[:40]} {how}", ("train", *TINY, *corpus, *extra), {"env": {variable: value}}))
    cases += [(f"control {path[:40]}", ("control", path, "pause"), {}) for path in run_dirs]
    cases += [(f"logs {path[:40]}", ("logs", path), {}) for path in run_dirs]
    problems = walk(cases, clean_ok=False)
    assert not problems, "\n\n".join(problems)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]  # nothing half-made left behind


# -- 3. output streams ----------------------------------------------------------------------------------------
def test_a_failing_stdout_costs_no_work_and_the_exit_status_tells(tmp_path, trained):
    one_core = {**os.environ, "OMP_NUM_THREADS": "1"}  # the cases run two at a time
    closed_cases = (("text", ("train", *TINY, "--epochs", "2", "--run-dir", str(tmp_path / "text"))),
                    ("json", ("train", *TINY, "--json", "--run-dir", str(tmp_path / "json"))),
                    ("generate", ("generate", str(trained))))
    full_cases = (["--help"], ["train", "--help"], ["presets"], ["corpora"], ["runs"], ["presets", "--json"],
                  ["generate", str(trained)], ["train", *TINY, "--run-dir", str(tmp_path / "full")])
    results = side_by_side(
        *(lambda args=args: run_cli(*args, env=one_core, stdout_closed=True) for _, args in closed_cases),
        *(lambda args=args: run_cli(*args, env=one_core, stdout_path="/dev/full") for args in full_cases))
    for (name, _), closed in zip(closed_cases, results):
        assert closed.returncode == 1 and "Traceback" not in closed.stderr, closed.stderr
        assert "standard output failed" in closed.stderr
        if name != "generate":  # the run went to its end, whole, and says where it is
            folder = tmp_path / name
            assert str(folder) in closed.stderr and RunDir(folder).read_status()["finished"] == "completed"
    for args, result in zip(full_cases, results[len(closed_cases):]):
        assert result.returncode == 1 and "Traceback" not in result.stderr, (args, result.stderr)
        assert "No space left on device" in result.stderr, args
    assert RunDir(tmp_path / "full").read_status()["finished"] == "completed"
    ascii_env = {"PYTHONIOENCODING": "ascii", "LC_ALL": "C"}
    (tmp_path / "poem.txt").write_text("床前明月光疑是地上霜" * 400, encoding="utf-8")
    poem = ("--corpus-file", str(tmp_path / "poem.txt"), "--hidden", "8", "--epochs", "1", "--prefix", "床前")
    cases = [("train text", ("train", *poem, "--sample-every", "1", "--run-dir", str(tmp_path / "a1")), {"env": ascii_env}),
             ("train json", ("train", *poem, "--json", "--run-dir", str(tmp_path / "a2")), {"env": ascii_env})]
    problems = walk(cases)
    assert not problems, "\n\n".join(problems)
    generated, last = side_by_side(
        lambda: run("generate", str(tmp_path / "a1"), "--prefix", "疑是", env=ascii_env),
        lambda: run("train", *poem, "--json", "--run-dir", str(tmp_path / "a3"), env=ascii_env))
    assert generated.returncode == 0 and generated.stdout.startswith("\\u7591\\u662f")  # escaped, not an error
    last_line = last.stdout.splitlines()[-1]
    assert json.loads(last_line)["samples"][0]["text"].startswith("床前")  # escaped, so the JSON line holds it exactly


# -- 4. sampling's edge values ----------------------------------------------------------------------------------
@pytest.mark.parametrize("temperature", [1e-40, 1e-300, 5e-324, 1e-10, 1e-3, 1.0, 100.0, 1e300])
def test_any_temperature_samples_and_near_zero_is_greedy(temperature):
    logits = torch.tensor([[1.0, 3.0, 2.0, -50.0, 2.9999]])
    generator = torch.Generator().manual_seed(0)
    chosen = [int(_choose(logits, temperature, 0, generator)) for _ in range(50)]
    assert all(0 <= c < 5 for c in chosen)
    if temperature <= 1e-10:
        assert set(chosen) == {1}  # the greedy choice
    assert int(_choose(logits, temperature, 2, generator)) in (1, 4)  # top-k holds at any temperature


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_logits_that_are_not_numbers_are_told_not_sampled(bad):
    for temperature in (0.0, 0.8):
        with pytest.raises(NotANumber, match="not numbers"):
            _choose(torch.tensor([[1.0, bad]]), temperature, 0, None)


def test_a_sample_never_ends_a_training_run():
    trainer = Trainer(tiny_config(epochs=3, sample_every=1), pattern_text(3000))
    requests = [{"temperature": 1e-300}, {"temperature": 1e-40, "top_k": 2}, {"prefix": "\x00\x01"}, {"length": 10_000}]
    events = []
    for event in trainer.run():
        events.append(event)
        if isinstance(event, ev.Start):
            for request in requests:
                trainer.control.request_sample(**request)
        if isinstance(event, ev.Epoch) and event.epoch == 1:  # weights that are not numbers, asked for a sample
            with torch.no_grad():
                next(trainer.model.parameters()).fill_(float("nan"))
            trainer.control.request_sample(temperature=0.5)
    samples = [e for e in events if isinstance(e, ev.Sample)]
    assert any("no sample" in s.text and "not numbers" in s.text for s in samples)
    assert isinstance(events[-1], ev.Finished)  # the run went to its end (diverged, with its last good weights)


def test_generate_from_weights_that_are_not_numbers_is_one_line(trained, tmp_path):
    state = load_checkpoint(trained / "checkpoint.pt")
    for bad in (float("nan"), float("inf")):
        weights = {k: v.clone() for k, v in state["model_state"].items()}
        next(iter(weights.values())).view(-1)[0] = bad
        save_checkpoint({**state, "model_state": weights}, tmp_path / "nan.pt")
        with pytest.raises(CheckpointError, match="NaN or infinite"):
            model_from_checkpoint(load_checkpoint(tmp_path / "nan.pt"))
        for temperature in ("0", "1e-300", "0.8"):
            assert not walk([("generate", ("generate", str(tmp_path / "nan.pt"), "--temperature", temperature), {})],
                            clean_ok=False)


# -- 5. bytes that are not UTF-8 in argv ------------------------------------------------------------------------
def test_bytes_that_are_not_utf8_in_argv_are_refused_in_one_line(tmp_path):
    # run with bytes for argv: what a shell passes for $'\xff' and friends
    odd = [b"\xff", b"a\xfe\x80b", b"\xed\xa0\x80", b"\xc0\xaf", b"caf\xe9"]
    cases = []
    for raw in odd:
        for option in ("--prefix", "--run-dir", "--corpus-file", "--corpus", "--device", "--encoding"):
            value = (os.fsencode(tmp_path) + b"/" + raw) if option in ("--run-dir", "--corpus-file") else raw
            cases.append((f"train {option} {raw!r}", [b"train", *map(os.fsencode, TINY), os.fsencode(option), value]))
            cases.append((f"detach {option} {raw!r}", [b"train", *map(os.fsencode, TINY), b"--detach",
                                                      os.fsencode(option), value]))
        cases.append((f"control --prefix {raw!r}", [b"control", os.fsencode(tmp_path), b"sample", b"--prefix", raw]))
    problems = []
    # argv as bytes: Python decodes them as it does its own
    results = side_by_side(*(lambda case=case: run_cli(*case[1], env={**os.environ, "OMP_NUM_THREADS": "1"})
                             for case in cases))
    for (name, _), result in zip(cases, results):
        stderr = result.stderr
        lines = stderr.strip().splitlines()
        if result.returncode != 2 or len(lines) != 1 or "Traceback" in stderr:
            problems.append(f"{name}: exit {result.returncode}: {stderr[-600:]}")
    assert not problems, "\n\n".join(problems)
    assert [p.name for p in tmp_path.iterdir()] == []  # no folder half-made under a name no file could hold


# -- 6. environment variables -----------------------------------------------------------------------------------
# each variable rnn-tui reads, the values tried, and the commands that read it
ENVIRONMENT_CASES = {
    "RNN_TUI_RUNS": (["/dev/null", "{file}", "{long}"], ["train", "runs", "detach"]),
    "RNN_TUI_DATA": (["/dev/null", "{file}", "{long}"], ["train corpus", "corpora"]),
    "RNN_TUI_MAX_READ_BYTES": (["abc", "-1", "0", "1.5", " "], ["train file"]),
    "RNN_TUI_KERNELS": (["fastest", "C"], ["train"]),
    "RNN_TUI_C_ISA": (["sse9", "AVX-512"], ["train"]),
    "XDG_STATE_HOME": (["relative/state", "{file}", "/dev/null"], ["train", "runs"]),
    "XDG_CACHE_HOME": (["relative/cache", "{file}"], ["train corpus"]),
    "WORLD_SIZE": (["x", "-2"], ["train"]),
    "LOCAL_RANK": (["x"], ["train"]),
    "NO_COLOR": (["", "0"], ["runs"]),
}


def test_every_environment_variable_read_is_checked(tmp_path):
    (tmp_path / "a-file").write_text("x")
    documented = (Path(__file__).resolve().parents[1] / "docs" / "runs.md").read_text(encoding="utf-8")
    commands = {"train": ("train", *TINY), "detach": ("train", *TINY, "--detach"), "runs": ("runs",),
                "corpora": ("corpora",), "train corpus": ("train", *TINY, "--corpus", "timemachine"),
                "train file": ("train", *TINY, "--corpus-file", str(tmp_path / "a-file"))}
    cases = []
    for variable, (values, readers) in ENVIRONMENT_CASES.items():
        assert f"`{variable}`" in documented, f"{variable} is not in docs/runs.md's table"
        for value in values:
            value = value.format(file=tmp_path / "a-file", long=tmp_path / ("l" * 300))
            env = {variable: value, **({"RANK": "0", "WORLD_SIZE": "2"} if variable == "LOCAL_RANK" else {}),
                   **({"RANK": "0"} if variable == "WORLD_SIZE" else {})}
            cases += [(f"{variable}={value[:30]!r} {reader}", commands[reader], {"env": env, "cwd": tmp_path})
                      for reader in readers]
    problems = walk(cases)
    assert not problems, "\n\n".join(problems)


# -- 7. what used to hang ----------------------------------------------------------------------------------------
def test_nothing_hangs_an_infinite_markov_option_or_a_dashboard_without_a_terminal(tmp_path):
    cases = [(f"markov {option} {how}", ("train", *TINY, "--corpus", f"markov:{option}", *extra), {})
             for option in ("concentration=inf", "concentration=1e308", "concentration=nan", "concentration=-inf",
                            "length=1e99", "order=99", "alphabet=0")
             for how, extra in (("foreground", ()), ("detached", ("--detach",)))]
    cases += [("serve nosuch corpus", ("serve", "--corpus", "markov:concentration=inf"), {})]
    cases += [(f"dashboard {name}", args, {"start_new_session": True})
              for name, args in (("stdin /dev/null", ("--corpus", "markov")), ("attach", ("attach", str(tmp_path))),
                                 ("start", ("--start", "--corpus", "markov")))]
    problems = walk(cases, clean_ok=False)
    assert not problems, "\n\n".join(problems)
    no_terminal = run("--corpus", "markov", start_new_session=True)
    assert "needs a terminal" in no_terminal.stderr
