"""The contract between a run and what watches or steers it: events read back as they were written,
and the command protocol, both of whose ends live in the engine."""
import json
import math

import pytest

from rnn_tui.engine import events as ev
from rnn_tui.engine.control import MAX_PENDING_SAMPLES, TrainControl, apply_command, command_line

EXAMPLES = [
    ev.Start(config={"model": "scratch-rnn"}, vocab_size=28, corpus={"name": "markov"}, device="cpu",
             num_parameters=1000, batches_per_epoch=8, kernels={"setting": "auto"}),
    ev.Progress(epoch=1, batch=2, batches=8, train_perplexity=9.5, tokens_per_sec=1e4, elapsed_s=0.5),
    ev.Epoch(epoch=1, epochs=2, train_perplexity=9.0, val_perplexity=None, tokens_per_sec=1e4, grad_norm=0.5,
             elapsed_s=1.0, eta_s=1.0, train_loss=2.2),
    ev.Sample(epoch=1, prefix="the", text="the cat", temperature=0.0, on_demand=True),
    ev.Paused(epoch=1, batch=3), ev.Resumed(epoch=1, batch=3),
    ev.Diverged(epoch=2, loss=812.5, restored_epoch=1),
    ev.Checkpoint(epoch=1, path="r/checkpoint.pt", ok=False, error="disk full"),
    ev.WriteFailed(path="r/metrics.jsonl", error="No space left on device"),
    ev.Finished(status="completed", epoch=2, train_perplexity=8.0, val_perplexity=None, tokens_per_sec=1e4,
                device="cpu", elapsed_s=2.0, samples=[{"prefix": "the", "text": "the cat"}], run_dir="r"),
    ev.Error(message="bad", kind="input"),
]


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: e.event)
def test_every_event_reads_back_from_its_json_line(event):
    line = json.dumps(event.to_dict(), allow_nan=False)
    assert ev.from_dict(json.loads(line)) == event


def test_a_number_that_is_not_finite_is_null_in_json_never_nan_or_infinity():
    diverged = ev.Diverged(epoch=2, loss=math.nan, restored_epoch=1).to_dict()
    epoch = ev.Epoch(epoch=1, epochs=2, train_perplexity=math.inf, val_perplexity=None, tokens_per_sec=1e4,
                     grad_norm=-math.inf, elapsed_s=1.0, eta_s=1.0, train_loss=800.0).to_dict()
    assert diverged["loss"] is None and epoch["train_perplexity"] is None and epoch["grad_norm"] is None
    json.dumps([diverged, epoch], allow_nan=False)


def test_every_event_type_has_an_example_here():
    assert {e.event for e in EXAMPLES} == set(ev.EVENT_TYPES)


def test_a_newer_field_is_left_out_and_a_non_event_is_refused():
    newer = {**EXAMPLES[4].to_dict(), "added_later": 1}
    assert ev.from_dict(newer) == EXAMPLES[4]
    for data in ({"event": "teleported"}, {"no": "event"}, ["start"], {"event": "paused", "epoch": 1}):
        with pytest.raises(ValueError):
            ev.from_dict(data)


def test_each_command_does_what_it_says():
    control = TrainControl()
    assert apply_command(control, command_line("pause")) is None and control.paused
    assert apply_command(control, command_line("resume")) is None and not control.paused
    assert apply_command(control, command_line("save")) is None and control.take_save_request()
    assert apply_command(control, command_line("sample", prefix="ab", temperature=0.5, length=20, top_k=None)) is None
    assert control.take_sample_requests() == [{"prefix": "ab", "temperature": 0.5, "length": 20}]
    assert apply_command(control, command_line("stop")) is None and control.stop_requested
    assert control.stop_reason == "stopped"


def test_what_is_not_a_command_is_refused_with_a_reason_and_does_nothing():
    control = TrainControl()
    for line, reason in (("", "not JSON"), ("pause", "not JSON"), ("{", "not JSON"), (b"\xff\xfe", "not JSON"),
                         ('{"command": "explode"}', "unknown command 'explode'"),
                         ('["pause"]', "unknown command"), ('{"command": "__import__(\'os\')"}', "unknown command")):
        assert reason in apply_command(control, line), line
    sample = '{"command": "sample", "prefix": 3, "length": "long", "temperature": true, "seed": 1}'
    assert apply_command(control, sample) is None
    assert not control.paused and not control.stop_requested
    assert control.take_sample_requests() == [{}]  # the sample line, its wrong-typed options left out
    with pytest.raises(ValueError, match="unknown command"):
        command_line("explode")


@pytest.mark.parametrize("options,reason", [
    ({"length": 10**9}, "length must be within 1..10000"), ({"length": -5}, "length must be within"),
    ({"temperature": -1}, "temperature must be within"), ({"temperature": float("nan")}, "temperature must be within"),
    ({"top_k": -1}, "top_k must be within"), ({"prefix": "x" * 5000}, "prefix must be within 0..1000 characters"),
])
def test_a_sample_out_of_bounds_is_refused_with_its_reason(options, reason):
    control = TrainControl()
    assert reason in apply_command(control, command_line("sample", **options))
    assert control.take_sample_requests() == []


def test_sample_requests_are_capped_so_a_flood_cannot_stall_training():
    control = TrainControl()
    answers = [apply_command(control, command_line("sample")) for _ in range(MAX_PENDING_SAMPLES + 3)]
    assert answers[:MAX_PENDING_SAMPLES] == [None] * MAX_PENDING_SAMPLES
    assert all("already waiting" in answer for answer in answers[MAX_PENDING_SAMPLES:])
    assert len(control.take_sample_requests()) == MAX_PENDING_SAMPLES
    assert apply_command(control, command_line("sample")) is None  # served: room again
