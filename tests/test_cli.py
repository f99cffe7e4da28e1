import json
import os
import subprocess

import pytest

from conftest import shared_corpus
from helpers import rnn_tui
from rnn_tui.engine import kernels
from rnn_tui.engine.cpu import bf16_problem, describe_cpu
from rnn_tui.engine.launch import python_command, rnn_tui_command
from rnn_tui.engine.models import RNNModelScratch


def test_help_does_not_import_torch_or_textual():
    code = "import sys; from rnn_tui.tui import cli; print('torch' in sys.modules, 'textual' in sys.modules)"
    out = subprocess.run(python_command(code), capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
    assert rnn_tui("--help").returncode == 0


def test_installed_as_one_package_with_nothing_generic_beside_it(tmp_path):
    for generic in ("engine", "tui", "corpora"):  # from a folder outside the checkout
        done = subprocess.run(python_command(f"import {generic}"), capture_output=True, text=True, cwd=tmp_path)
        assert done.returncode != 0 and f"No module named '{generic}'" in done.stderr
    assert subprocess.run(python_command("import rnn_tui.engine, rnn_tui.tui, rnn_tui.corpora"), cwd=tmp_path,
                          capture_output=True).returncode == 0


@pytest.mark.parametrize("args,message", [
    (["--hidden", "0"], "--hidden must be a positive integer"),
    (["--batch-size", "-3"], "--batch-size must be a positive integer"),
    (["--lr", "0"], "--lr must be a number above 0"),
    (["--model", "transformer"], "Invalid value for '--model'"),
    (["--corpus-file", "/no/such/file.txt"], "corpus file not found"),
    (["--corpus", "nonesuch"], "unknown corpus"),
    (["--corpus", "shakespeare"], "did you mean tinyshakespeare?"),
    (["--corpus", "markov:concentration=inf"], "0 < concentration"),
    (["--device", "cuda:7"], None),
    (["--corpus", "markov", "--batch-size", "4000", "--num-steps", "50"], "too short"),
    (["--resume", "/no/such/run"], "checkpoint not found"),
    (["--model", "scratch-rnn", "--autocast", "bf16"], "--autocast bf16 is for the concise models"),
    (["--kernels", "fastest"], "Invalid value for '--kernels'"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path):
    result = rnn_tui("train", "--epochs", "1", *args, "--run-dir", str(tmp_path / "r"))
    if args[0] == "--device":
        import torch
        if torch.cuda.is_available() and torch.cuda.device_count() > 7:
            pytest.skip("this machine has a cuda:7")
        message = "cuda:7"
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr


def test_json_events_and_plain_ending(tmp_path):
    result = rnn_tui("train", "--corpus", "markov:length=20000", "--hidden", "32", "--epochs", "2", "--json",
                     "--sample-every", "1", "--device", "cpu", "--run-dir", str(tmp_path / "j"))
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "finished" and kinds.count("epoch") == 2 and "sample" in kinds
    assert events[0]["floor_perplexity"] > 1
    epoch = next(e for e in events if e["event"] == "epoch")
    assert {"epoch", "train_perplexity", "val_perplexity", "tokens_per_sec", "grad_norm", "elapsed_s"} <= set(epoch)
    assert {"train_perplexity", "val_perplexity", "tokens_per_sec", "device"} <= set(events[-1])

    plain = rnn_tui("train", "--corpus", "markov:length=20000", "--hidden", "32", "--epochs", "1", "--device", "cpu",
                    "--prefix", "abc def", "--run-dir", str(tmp_path / "p"))
    lines = plain.stdout.splitlines()
    assert plain.returncode == 0 and lines[0] == f"run folder: {tmp_path / 'p'}"
    closing = [i for i, line in enumerate(lines) if line.startswith("perplexity ")]
    assert closing and " tokens/sec on cpu" in lines[closing[0]]
    assert lines[closing[0] + 1].startswith("abc def") and lines[closing[0] + 2].startswith("def")


def test_kernels_come_from_the_option_or_the_environment_and_show_in_the_start_event(tmp_path):
    def start(*args, **env):
        result = rnn_tui("train", "--corpus", "markov:length=20000", "--hidden", "32", "--epochs", "1", "--json",
                         "--device", "cpu", *args, env={**os.environ, **env})
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout.splitlines()[0])["kernels"]
    assert start("--run-dir", str(tmp_path / "a"), RNN_TUI_KERNELS="torch") == {
        "setting": "torch", "recurrence": "torch", "generation": "torch stepper"}
    assert start("--run-dir", str(tmp_path / "b"), "--kernels", "torch")["setting"] == "torch"
    assert start("--run-dir", str(tmp_path / "c"))["setting"] == "auto"
    refused = rnn_tui("train", "--epochs", "1", env={**os.environ, "RNN_TUI_KERNELS": "fastest"})
    assert refused.returncode == 2 and "RNN_TUI_KERNELS" in refused.stderr and "Traceback" not in refused.stderr


def test_corpora_lists_sources_and_says_which_to_download_and_which_to_place(tmp_path):
    out = rnn_tui("corpora", env={**os.environ, "RNN_TUI_DATA": str(tmp_path)})  # an empty cache
    assert out.returncode == 0
    rows = {line.split()[0]: line.split()[1] for line in out.stdout.split("\n\n")[0].splitlines()[2:]}
    assert rows == {"python-stdlib": "yes", "timemachine": "download", "tinyshakespeare": "download",
                    "tang-poems": "place", "markov": "yes"}  # tang-poems has no download: "place a copy"
    assert max(len(line) for line in out.stdout.split("\n\n")[0].splitlines()) <= 80


def test_generate_from_a_checkpoint_of_no_training_says_its_text_is_random(tmp_path):
    run = tmp_path / "run"
    trained = rnn_tui("train", "--corpus", "markov:length=3000", "--hidden", "16", "--epochs", "1",
                      "--device", "cpu", "--run-dir", str(run), "--sample-every", "0")
    assert trained.returncode == 0, trained.stderr
    from rnn_tui.engine.checkpoint import load_checkpoint, save_checkpoint
    state = load_checkpoint(run / "checkpoint.pt")
    save_checkpoint({**state, "epoch": 0}, run / "checkpoint.pt")  # as ctrl+s before the first epoch writes it
    (run / "best.pt").unlink(missing_ok=True)
    result = rnn_tui("generate", str(run), "--length", "5")
    assert result.returncode == 0 and result.stderr.startswith("warning: this checkpoint was written before any "
                                                               "epoch had trained")


def test_tang_poems_train_a_few_minibatches(tmp_path):
    path = shared_corpus("tang_poems.txt")
    result = rnn_tui("train", "--corpus-file", str(path), "--preprocess", "raw", "--hidden", "32", "--epochs", "1",
                     "--max-tokens", "20000", "--json", "--device", "cpu", "--prefix", "床前明月光",
                     "--run-dir", str(tmp_path / "t"))
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events[0]["vocab_size"] > 1500
    assert events[-1]["samples"][0]["text"].startswith("床前明月光")


def test_dashboard_bench_without_tmux_is_one_line_and_exit_2(tmp_path):
    result = rnn_tui("bench", "--dashboard", "--quick", env={"PATH": str(tmp_path)})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["rnn-tui: error: bench --dashboard needs tmux (it drives the real "
                                                  "dashboard in a terminal)"]


def test_bench_quick_measures_every_path_and_the_paths_agree():
    shared_corpus("timemachine.txt")
    shared_corpus("tang_poems.txt")
    result = rnn_tui("bench", "--quick", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    d2l, tang = report["workloads"]
    # a bf16 row runs where this CPU trains that cell in bfloat16, and is skipped, saying why, where not
    bf16 = {cell: bf16_problem(cell) for cell in ("rnn", "gru", "lstm")}
    for work, labels in ((d2l, ["textbook scratch-rnn", "textbook in rnn-tui", "fast scratch-rnn", "nn.RNN", "nn.GRU",
                                "nn.LSTM", "nn.RNN bf16", "nn.GRU bf16", "nn.LSTM bf16"]),
                         (tang, ["textbook scratch-rnn", "textbook in rnn-tui", "fast scratch-rnn", "nn.RNN",
                                 "nn.RNN bf16"])):
        skipped = {label: bf16[label.split()[0][3:].lower()] for label in labels
                   if label.endswith(" bf16") and bf16[label.split()[0][3:].lower()]}
        assert work["skipped"] == skipped
        assert set(work["tokens_per_sec"]) == set(labels) - set(skipped)
    # bfloat16 keeps 8 bits of mantissa: the same minibatches' losses move, but by little
    assert set(d2l["max_loss_difference_bf16_vs_float32"]) == {cell for cell in ("nn.RNN", "nn.GRU", "nn.LSTM")
                                                               if f"{cell} bf16" in d2l["tokens_per_sec"]}
    assert all(0 < difference < 0.05 for difference in d2l["max_loss_difference_bf16_vs_float32"].values())
    assert report["cpu"] == describe_cpu()  # the machine every figure came from
    for work in (d2l, tang):
        assert all(speed > 0 for speed in work["tokens_per_sec"].values())
        assert set(work["ratio_to_textbook"]) == set(work["tokens_per_sec"])
        assert work["max_loss_difference_textbook_vs_fast"] < 1e-5  # the same minibatches, float32 rounding
        assert work["max_loss_difference_textbook_processes"] == 0  # the allocator changes no result
        assert set(work["generation_chars_per_sec"]) == {"textbook predict", "fast generate"}
        assert all(value > 0 for value in work["matmul_gflops"].values())
        # what ran is what the kernels switch names for the fast path at this shape
        fast = RNNModelScratch(work["vocab_size"], work["hidden"])
        assert {"recurrence": work["fast_recurrence"], "generation": work["generation_stepper"]} == \
            kernels.describe(fast, work["batch_size"])
        assert ("recurrence steps in C, forward + backward" in work["matmul_gflops"]) == (kernels.native is not None)
    assert report["kernels"] == "auto" and report["d2l_training_run_peak_rss_mib"] > 50


def test_generate_stops_when_its_reader_goes_away(tmp_path):
    trained = rnn_tui("train", "--corpus", "markov:length=3000", "--hidden", "16", "--epochs", "1", "--device", "cpu",
                      "--sample-every", "0", "--run-dir", str(tmp_path / "run"))
    assert trained.returncode == 0, trained.stderr
    reader = subprocess.Popen(rnn_tui_command("generate", str(tmp_path / "run"), "--length", "1000000"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert len(reader.stdout.read(20)) == 20
    reader.stdout.close()  # as `| head -c 20` does
    assert reader.wait(timeout=60) == 0  # not the minutes a million tokens take
    assert reader.stderr.read() == b""
