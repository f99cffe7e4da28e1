"""The training loop of d2l §8.5 (``train_ch8``) as a generator of events.

    trainer = Trainer(config, text, source)
    for event in trainer.run():     # Start, Progress*, Epoch, Sample, ..., Finished
        ...

Between minibatches it honours a ``TrainControl`` (pause, stop, sample now) set from another
thread. The host waits on the device only at epoch ends and for the rate-limited progress
events. After every epoch it keeps an in-memory snapshot of everything needed to resume
exactly; a non-finite loss restores it, and ``checkpoint_state()`` hands it to the run store.
What each minibatch computes is in steps.py; this file is the loop and what it decides. It is one
class, longer than most files here, because the loop's state (the snapshot, the best epoch, the
clock, a cut epoch's place) is one run's: split across files it would be passed back and forth.
"""
from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from rnn_tui.engine import events as ev
from rnn_tui.engine.allocator import keep_freed_memory
from rnn_tui.engine.config import TrainConfig
from rnn_tui.engine.control import TrainControl
from rnn_tui.engine.distributed import DataParallelLoss, World
from rnn_tui.engine.device import autocast_problem, device_name, memory_stats, resolve_device, synchronize
from rnn_tui.engine.errors import InputProblem
from rnn_tui.engine.generation import predict
from rnn_tui.engine.kernels import describe as describe_kernels, problem as kernels_problem
from rnn_tui.engine.models import detach_state, model_for
from rnn_tui.engine.phases import Outcome
from rnn_tui.engine.samplers import make_batches, min_tokens_for, split_train_val
from rnn_tui.engine.schedule import format_duration, learning_rate, planned_steps
from rnn_tui.engine.steps import evaluate_loss, evaluate_windows, make_optimizer, train_minibatch, window_starts
from rnn_tui.engine.text import tokenize, tokenize_prefix
from rnn_tui.engine.vocab import Vocab


MAX_LOSS = 700.0  # nats: exp() of more overflows float64, so the perplexity of such a model is no number


class TrainingInputError(InputProblem):
    """The configuration and the text cannot make a run (too short, unknown device, ...)."""


def build_vocab(config: TrainConfig, tokens: list[str]) -> Vocab:
    return Vocab(tokens, min_freq=config.min_freq, max_size=config.max_vocab)


@dataclass
class RunEnd:
    """How and where the loop ended: the outcome, the last epoch done, why (in words), a cut epoch's minibatch."""
    status: Outcome
    epoch: int
    reason: str | None = None
    batch: int = 0


class Trainer:
    def __init__(self, config: TrainConfig, text: str, source: dict | None = None,
                 control: TrainControl | None = None, resume: dict | None = None,
                 progress_interval_s: float = 0.25, clock=time.perf_counter, world: World | None = None):
        problem = config.first_error()
        if problem:
            raise TrainingInputError(problem)
        self.config = config
        self.text = text
        self.source = dict(source or {})
        self.control = control or TrainControl()
        self.resume = resume
        self.progress_interval_s = progress_interval_s
        self.clock = clock  # the time budget and every duration read this (tests pass a fake one)
        self.world = world or World()  # engine/distributed.py: this process's rank among torchrun's
        self.best: dict = dict(resume.get("best") or {}) if resume else {}  # {"epoch", "val_loss"}
        self.snapshot: dict | None = resume
        self.history: list[dict] = list(resume["history"]) if resume else []
        self.underway: dict | None = resume.get("underway") if resume else None  # an epoch --max-time cut short

    # -- set-up ------------------------------------------------------------------------------
    def _setup(self) -> None:
        cfg = self.config
        self._setup_device()
        torch.manual_seed(cfg.seed)
        self.rng = random.Random(cfg.seed)
        self._setup_data()
        self.eval_starts = self._window_starts()
        self.model = model_for(cfg, len(self.vocab)).to(self.device)
        self.optimizer = make_optimizer(self.model.parameters(), cfg)
        self.batches_per_epoch = len(make_batches(cfg.sampler, self.train_corpus, cfg.batch_size, cfg.num_steps,
                                                  random.Random(0)))
        self.planned_steps = cfg.epochs * self.batches_per_epoch
        self.start_epoch, self.elapsed_before = 0, 0.0
        if self.resume:
            try:
                self._restore(self.resume)
            except (RuntimeError, KeyError, ValueError, TypeError) as exc:
                reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
                raise TrainingInputError(f"the checkpoint does not fit its own configuration ({reason}): "
                                         f"not a checkpoint this run can resume") from None
            self.start_epoch = self.resume["epoch"]
            self.elapsed_before = self.resume.get("elapsed_s", 0.0)
        # what a minibatch's loss is computed through: the model, or DDP around it (gradients averaged)
        self.step_model = DataParallelLoss(self.model, self.device) if self.world.size > 1 else self.model

    def _setup_device(self) -> None:
        """The device this process trains on, refused in one line if the options cannot run there."""
        cfg, world = self.config, self.world
        try:
            self.device = resolve_device(cfg.device)
        except ValueError as exc:
            raise TrainingInputError(str(exc)) from None
        if world.backend == "nccl":
            self.device = torch.device("cuda", world.local_rank)  # one GPU per rank
        if cfg.batch_size % world.size:
            raise TrainingInputError(f"--batch-size {cfg.batch_size} does not divide among {world.size} processes: "
                                     f"each trains an equal share of every minibatch's rows")
        problem = autocast_problem(self.device, cfg.autocast, cfg.model) or kernels_problem(cfg.kernels, self.device)
        if problem:
            raise TrainingInputError(problem)
        if self.device.type == "cpu":
            keep_freed_memory()  # see allocator.py: minibatches stop faulting their buffers back in

    def _setup_data(self) -> None:
        """The text as tokens, its vocabulary (a resumed run's own), split into training and held-out tokens."""
        cfg = self.config
        if not tokenize_prefix(cfg.prefix, cfg.preprocess or "raw", cfg.tokens):
            raise TrainingInputError(f"--prefix {cfg.prefix!r} holds no token after {cfg.preprocess or 'raw'} "
                                     f"preprocessing: give it a letter or a word the text has")
        tokens = tokenize(self.text, cfg.preprocess or "raw", cfg.tokens)
        if cfg.max_tokens:
            tokens = tokens[: cfg.max_tokens]
        self.vocab = Vocab.from_list(self.resume["vocab"]) if self.resume else build_vocab(cfg, tokens)
        if len(self.vocab) < 2:
            raise TrainingInputError(f"--min-freq {cfg.min_freq} leaves no token but <unk>: every token of the text is "
                                     f"rarer; lower it")
        corpus = torch.tensor(self.vocab[tokens], dtype=torch.long)
        self.train_corpus, self.val_corpus = (t.to(self.device) for t in split_train_val(corpus, cfg.val_fraction))
        need = min_tokens_for(cfg.batch_size, cfg.num_steps)
        if len(self.train_corpus) < need:
            total = math.ceil(need / (1 - cfg.val_fraction)) if cfg.val_fraction else need
            raise TrainingInputError(
                f"the text is too short: {len(corpus)} tokens, but --batch-size {cfg.batch_size} × --num-steps "
                f"{cfg.num_steps} with --val-fraction {cfg.val_fraction:g} needs at least {total} tokens")
        self.source.update(tokens=len(corpus), train_tokens=len(self.train_corpus), val_tokens=len(self.val_corpus))

    # -- snapshots ---------------------------------------------------------------------------
    def _capture(self, epoch: int, elapsed_s: float, underway: dict | None = None) -> dict:
        rng = {"python": self.rng.getstate(), "torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "epoch": epoch,
            "elapsed_s": elapsed_s,
            "config": self.config.to_dict(),
            "vocab": list(self.vocab.idx_to_token),
            "model_state": {k: v.detach().clone() for k, v in self.model.state_dict().items()},
            "optimizer_state": copy.deepcopy(self.optimizer.state_dict()),
            "rng": rng,
            "history": list(self.history),
            "best": dict(self.best),
            "source": {k: v for k, v in self.source.items() if isinstance(v, (str, int, float, type(None)))},
            "underway": underway,
        }

    def _restore(self, snap: dict) -> None:
        self.model.load_state_dict(snap["model_state"])
        self.optimizer.load_state_dict(snap["optimizer_state"])
        self.rng.setstate(_as_random_state(snap["rng"]["python"]))
        torch.set_rng_state(snap["rng"]["torch"])
        if self.device.type == "cuda" and "cuda" in snap["rng"]:
            torch.cuda.set_rng_state(snap["rng"]["cuda"], self.device)
        self.history = [point for point in snap["history"] if point["epoch"] <= snap["epoch"]]  # not the cut epoch
        self.best = dict(snap.get("best") or {})
        if snap.get("underway"):
            self._check_underway(snap["underway"])

    def _check_underway(self, underway: dict) -> None:
        """ValueError unless the cut epoch's place fits this run: checked now, not minibatches into it."""
        random.Random().setstate(_as_random_state(underway["rng_at_start"]))
        if not underway["batch"] < self.batches_per_epoch:
            raise ValueError(f"the cut epoch's minibatch {underway['batch']} is past an epoch of "
                             f"{self.batches_per_epoch}")
        expected = [tuple(part.shape) for part in self.model.begin_state(self.config.batch_size, "cpu")]
        if underway["state"] is not None and [tuple(part.shape) for part in underway["state"]] != expected:
            raise ValueError("the cut epoch's carried state is not of this model's shape")

    def checkpoint_state(self) -> dict | None:
        """Everything needed to resume after the last completed epoch, or at the minibatch where ``--max-time``
        ended one (``None`` before the first)."""
        return self.snapshot

    # -- the loop ------------------------------------------------------------------------------
    def run(self) -> Iterator[ev.Event]:
        cfg = self.config
        self._setup()
        yield self._start_event()
        if self.snapshot is None:
            self.snapshot = self._capture(0, 0.0)
        self.run_started, self.paused_s = self.clock() - self.elapsed_before, 0.0
        self._plan(self.start_epoch * self.batches_per_epoch + (self.underway or {}).get("batch", 0),
                   self.elapsed_before)
        end = None
        for epoch in range(self.start_epoch + 1, cfg.epochs + 1):
            trained = yield from self._train_epoch(epoch)
            if trained is None:
                end = RunEnd(self._stop_status(), epoch - 1)
            else:
                end = yield from self._end_epoch(epoch, *trained)
            if end is not None:
                break
        yield self._finished_event(end or RunEnd(Outcome.COMPLETED, cfg.epochs))

    def _end_epoch(self, epoch: int, loss: float, tokens_per_sec: float, grad_norm: float, lr: float,
                   underway: dict | None):
        """Validate, keep the best and the snapshot, report the epoch; return a ``RunEnd`` if the run ends here."""
        cfg = self.config
        # -- validate (timed apart: tokens/s is training only): every --eval-every, the last, past the budget
        time_up = underway is not None or self._time_up()
        val_loss, windows_loss, eval_s = None, None, 0.0
        if math.isfinite(loss) and (epoch % cfg.eval_every == 0 or epoch == cfg.epochs or time_up):
            val_loss, windows_loss, eval_s = self._validate()
        if _diverged(loss, grad_norm, val_loss):
            restored = self.snapshot["epoch"]
            self._restore(self.snapshot)
            yield ev.Diverged(epoch=epoch, loss=loss, restored_epoch=restored)
            return RunEnd(Outcome.DIVERGED, restored)
        if val_loss is not None and val_loss < self.best.get("val_loss", math.inf):
            self.best = {"epoch": epoch, "val_loss": val_loss}
        # -- record: the schedule re-planned, the history, the snapshot a checkpoint writes
        elapsed = self.elapsed()
        self._plan(epoch * self.batches_per_epoch, elapsed)
        epoch_event = self._epoch_event(epoch, loss, val_loss, windows_loss, tokens_per_sec, grad_norm, lr, elapsed,
                                        eval_s, underway)
        point = epoch_event.to_dict()
        self.history.append({k: point[k] for k in ("epoch", "train_perplexity", "val_perplexity",
                                                   "tokens_per_sec", "grad_norm", "elapsed_s")})
        self.snapshot = self._capture(epoch - 1 if underway else epoch, elapsed, underway)
        yield epoch_event
        if underway is not None:  # the checkpoint holds epoch - 1 and this one's minibatches so far
            return RunEnd(Outcome.TIME_UP, epoch - 1, batch=underway["batch"],
                          reason=f"--max-time {format_duration(cfg.max_time)} spent at minibatch {underway['batch']} "
                                 f"of {self.batches_per_epoch} of epoch {epoch}")
        if cfg.sample_every and epoch % cfg.sample_every == 0 and self.world.main:
            yield self._sample(epoch)
        return self._why_stop(epoch, val_loss, time_up)

    def _why_stop(self, epoch: int, val_loss: float | None, time_up: bool) -> RunEnd | None:
        """After an epoch: a stop asked for, the budget spent or patience run out; None: on to the next."""
        cfg = self.config
        if self.control.stop_requested:
            return RunEnd(self._stop_status(), epoch)
        if time_up and epoch < cfg.epochs:
            return RunEnd(Outcome.TIME_UP, epoch, f"--max-time {format_duration(cfg.max_time)} spent after epoch {epoch}")
        if cfg.patience and val_loss is not None and epoch - self.best["epoch"] >= cfg.patience:
            return RunEnd(Outcome.EARLY_STOPPED, epoch, f"no better validation loss for {cfg.patience} epochs "
                                                        f"(best {self.best['val_loss']:.4f} at epoch {self.best['epoch']})")
        return None

    def _start_event(self) -> ev.Start:
        cfg = self.config
        return ev.Start(config=cfg.to_dict(), vocab_size=len(self.vocab), corpus=dict(self.source),
                        device=device_name(self.device), num_parameters=sum(p.numel() for p in self.model.parameters()),
                        batches_per_epoch=self.batches_per_epoch,
                        floor_perplexity=self.source.get("floor_perplexity"), start_epoch=self.start_epoch,
                        kernels={"setting": cfg.kernels, **describe_kernels(self.model, cfg.batch_size)},
                        world_size=self.world.size, backend=self.world.backend)

    def _finished_event(self, end: RunEnd) -> ev.Finished:
        """How the run ended, with d2l's closing predictions (the prefix and its last word) from its last model."""
        cfg = self.config
        last = self.history[-1] if self.history else {}
        samples = []
        if last and self.world.main:
            samples = [{"prefix": p, "text": self._predict(p, cfg.sample_length)}
                       for p in _closing_prefixes(cfg.prefix)
                       if tokenize_prefix(p, cfg.preprocess or "raw", cfg.tokens)]  # "... !!!": not "!!!"
        reason = self.control.stop_reason if end.status == Outcome.INTERRUPTED else end.reason
        return ev.Finished(status=end.status, epoch=end.epoch, train_perplexity=last.get("train_perplexity"),
                           val_perplexity=last.get("val_perplexity"), tokens_per_sec=last.get("tokens_per_sec"),
                           device=str(self.device), elapsed_s=self.elapsed(), samples=samples, reason=reason,
                           best_epoch=self.best.get("epoch"), best_val_loss=self.best.get("val_loss"), batch=end.batch)

    def _stop_status(self) -> Outcome:
        """stopped (a user), pruned (a sweep), or interrupted (a signal)."""
        reason = self.control.stop_reason
        return Outcome(reason) if reason in (Outcome.STOPPED, Outcome.PRUNED) else Outcome.INTERRUPTED

    def elapsed(self) -> float:
        """Seconds this run has trained and validated, over all its processes; pauses do not count."""
        return self.clock() - self.run_started - self.paused_s

    def _plan(self, steps_done: int, elapsed: float) -> None:
        """The minibatches the learning-rate schedule spans: every epoch, or what the time budget allows."""
        cfg = self.config
        self.planned_steps = planned_steps(cfg.epochs * self.batches_per_epoch, steps_done, elapsed, cfg.max_time)

    def _time_up(self) -> bool:
        return bool(self.config.max_time) and self.elapsed() >= self.config.max_time

    def _window_starts(self) -> torch.Tensor | None:
        """Where ``--eval windows:N:L``'s windows start in the held-out text (``window_starts``), or None."""
        windows = self.config.eval_windows()
        if windows is None:
            return None
        count, length = windows
        if len(self.val_corpus) < length + 1:
            raise TrainingInputError(f"--eval windows:{count}:{length}: the held-out text has {len(self.val_corpus)} "
                                     f"tokens, fewer than a window of {length} and the one before it")
        return window_starts(len(self.val_corpus), count, length, self.config.seed)

    def _validate(self) -> tuple[float | None, tuple[float, float | None] | None, float]:
        """(validation loss in nats, (the same over ``--eval``'s windows, its standard error) or None,
        seconds both took)."""
        cfg, started = self.config, self.clock()
        val_loss = evaluate_loss(self.model, self.val_corpus, cfg.batch_size, cfg.num_steps, cfg.autocast, self.world)
        windows_loss = None
        if self.eval_starts is not None:
            windows_loss = evaluate_windows(self.model, self.val_corpus, self.eval_starts, cfg.eval_windows()[1],
                                            cfg.batch_size, cfg.autocast, self.world)
        return val_loss, windows_loss, self.clock() - started

    def _eta(self, steps_done: int) -> float:
        """Seconds left, at this process's pace so far (validation included), or of the time budget."""
        cfg = self.config
        steps_here = steps_done - self.start_epoch * self.batches_per_epoch
        pace = (self.elapsed() - self.elapsed_before) / max(steps_here, 1)
        eta = pace * (cfg.epochs * self.batches_per_epoch - steps_done)
        if cfg.max_time:
            eta = min(eta, max(0.0, cfg.max_time - self.elapsed()))  # it ends at the first minibatch past it
        return eta

    def _epoch_event(self, epoch, loss, val_loss, windows_loss, tokens_per_sec, grad_norm, lr, elapsed, eval_s,
                     underway) -> ev.Epoch:
        cfg = self.config
        eta = self._eta(epoch * self.batches_per_epoch)
        event = ev.Epoch(epoch=epoch, epochs=cfg.epochs, train_perplexity=_safe_exp(loss),
                        val_perplexity=None if val_loss is None else _safe_exp(val_loss),
                        tokens_per_sec=tokens_per_sec, grad_norm=grad_norm, elapsed_s=elapsed, eta_s=eta,
                        train_loss=loss, val_loss=val_loss,
                        val_bpc=None if val_loss is None else val_loss / math.log(2), lr=lr, eval_s=eval_s,
                        batch=self.batches_per_epoch, batches=self.batches_per_epoch,
                        best_epoch=self.best.get("epoch"), best_val_loss=self.best.get("val_loss"),
                        memory=memory_stats(self.device))
        if underway is not None:
            event.batch = underway["batch"]  # --max-time cut it there
        if windows_loss is not None:
            mean, event.val_loss_windows_se = windows_loss
            event.val_loss_windows, event.val_bpc_windows = mean, mean / math.log(2)
            event.val_perplexity_windows = _safe_exp(mean)
        return event

    def _train_epoch(self, epoch: int):
        """Train one epoch; return (mean loss, tokens/s, mean grad norm, last lr, where --max-time cut it short
        or None), or None if stopped."""
        cfg, model, world = self.config, self.model, self.world
        model.train()
        batches, underway, rng_at_start = self._epoch_batches()
        first = underway.get("batch", 0)
        # every rank holds an equal share of the sum so far: summed over ranks at the end, it is the whole
        loss_sum = torch.tensor(underway.get("loss_sum", 0.0) / world.size, device=self.device, dtype=torch.float64)
        norm_sum = torch.tensor(underway.get("norm_sum", 0.0), device=self.device, dtype=torch.float64)
        params, lr = list(model.parameters()), cfg.lr
        state = world.own_rows(underway["state"], cfg.batch_size, self.device) if underway.get("state") else None
        train_time, started = underway.get("train_s", 0.0), self.clock()
        last_progress, done = started, len(batches)
        for batch in range(first, len(batches)):
            X, Y = batches.X[batch], batches.Y[batch]
            step = (epoch - 1) * len(batches) + batch
            # -- between two minibatches: stop, pause, samples, the budget (decided by every rank together)
            stop, out_of_time, held_s = yield from self._between_minibatches(epoch, batch, batch > first)
            started += held_s  # a pause is not training time
            if stop:
                self.control.request_stop("another rank")  # keeps this rank's own reason if it has one
                return None
            if out_of_time:  # --max-time: the epoch ends here, to be gone on with from here on resume
                done = batch
                break
            # -- one minibatch (the sequential sampler's go on from the state the last one left)
            carried = state is not None and batches.carries_state
            state = detach_state(state) if carried else model.begin_state(X.shape[0], self.device)
            if cfg.lr_moves():
                lr = self._set_lr(step)
            loss, norm, state = train_minibatch(self.step_model, self.optimizer, X, Y, state, params, cfg.clip,
                                                 cfg.autocast)
            norm_sum += norm
            loss_sum += loss
            # -- a few times a second: progress (the one host sync), the schedule re-planned over the time left
            if self.clock() - last_progress >= self.progress_interval_s and batch + 1 < len(batches):
                running = loss_sum.item() / (batch + 1)
                last_progress = self.clock()
                yield self._progress_event(epoch, batch + 1, len(batches), running, norm_sum,
                                           train_time + last_progress - started, lr)
                if cfg.max_time:
                    self._plan(step + 1, self.elapsed())
                if not math.isfinite(running) and world.size == 1:  # ranks end an epoch together
                    return running, 0.0, float("nan"), lr, None
        # the sum over every rank's rows: ranks hold equal shares, so its mean is the mean of their means
        summed_loss = world.sum(loss_sum).item()  # waits for the device: honest timing
        train_time += self.clock() - started
        return self._epoch_result(batches, done, summed_loss, norm_sum, train_time, lr, state, rng_at_start)

    def _epoch_result(self, batches, done: int, summed_loss: float, norm_sum: torch.Tensor, train_s: float,
                      lr: float, state, rng_at_start):
        """What ``_train_epoch`` returns for ``done`` minibatches of ``batches``, with the place a cut epoch
        goes on from on resume (its minibatch, sampler RNG, carried state and running sums)."""
        cfg, world = self.config, self.world
        tokens_per_sec = done * cfg.batch_size * cfg.num_steps / max(train_s, 1e-9)
        cut = None
        if done < len(batches):
            cut = {"batch": done, "rng_at_start": rng_at_start, "loss_sum": summed_loss, "norm_sum": norm_sum.item(),
                   "train_s": train_s,
                   "state": world.all_rows(state, cfg.batch_size) if batches.carries_state else None}
        return summed_loss / world.size / done, tokens_per_sec, norm_sum.item() / done, lr, cut

    def _epoch_batches(self):
        """This epoch's minibatches (this rank's rows of them), where a cut epoch goes on from, and the sampler's
        RNG state they were drawn from (a cut epoch's checkpoint keeps it, to draw the same ones on resume)."""
        cfg, world = self.config, self.world
        underway, self.underway = self.underway or {}, None  # a resumed run goes on where --max-time cut it short
        if underway:
            self.rng.setstate(_as_random_state(underway["rng_at_start"]))
        rng_at_start = self.rng.getstate()
        batches = make_batches(cfg.sampler, self.train_corpus, cfg.batch_size, cfg.num_steps, self.rng)
        if world.size > 1:
            batches = batches.rows(world.rows(cfg.batch_size))  # the same permutation on every rank, its rows
        return batches, underway, rng_at_start

    def _between_minibatches(self, epoch: int, batch: int, budget_counts: bool):
        """Serve a pause and sample requests (the main rank); return (stop, out of time, seconds held), as every
        rank agrees them."""
        control, world = self.control, self.world
        stop, hold, out_of_time = world.agree(control.stop_requested,
                                              world.main and (control.paused or control.sample_requested),
                                              budget_counts and self._time_up())
        if not hold:
            return stop, out_of_time, 0.0
        synchronize(self.device)
        held_at = self.clock()
        if world.main:
            requests = [] if control.paused else control.take_sample_requests()
            yield from self._serve_controls(epoch, batch, requests)
        (stop,) = world.agree(control.stop_requested)  # the other ranks wait here meanwhile
        return stop, out_of_time, self.clock() - held_at

    def _set_lr(self, step: int) -> float:
        """The schedule's rate at minibatch ``step`` of the run, set on the optimizer."""
        cfg = self.config
        lr = learning_rate(step, self.planned_steps, cfg.lr, cfg.lr_schedule, cfg.warmup, cfg.lr_min, cfg.lr_decay)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def _progress_event(self, epoch: int, batches_done: int, batches: int, running: float, norm_sum: torch.Tensor,
                        train_s: float, lr: float) -> ev.Progress:
        """``running``: the epoch's mean loss so far."""
        cfg = self.config
        return ev.Progress(epoch=epoch, batch=batches_done, batches=batches, train_perplexity=_safe_exp(running),
                           tokens_per_sec=batches_done * cfg.batch_size * cfg.num_steps / max(train_s, 1e-9),
                           elapsed_s=self.elapsed(), lr=lr, memory=memory_stats(self.device),
                           grad_norm=norm_sum.item() / batches_done,
                           eta_s=self._eta((epoch - 1) * batches + batches_done))

    def _serve_controls(self, epoch: int, batch: int, requests: list[dict]):
        """Serve sample requests and wait out a pause, between two minibatches."""
        control = self.control
        for request in requests:
            yield self._sample(epoch, on_demand=True, **request)
        if control.paused:
            yield ev.Paused(epoch=epoch, batch=batch)
            paused_at = self.clock()
            while control.paused and not control.stop_requested:
                control.wait_while_paused()
                for request in control.take_sample_requests():
                    yield self._sample(epoch, on_demand=True, **request)
            self.paused_s += self.clock() - paused_at
            if not control.stop_requested:
                yield ev.Resumed(epoch=epoch, batch=batch)

    def _predict(self, prefix: str, length: int, temperature: float | None = None, top_k: int | None = None,
                 seed: int | None = None) -> str:
        cfg = self.config
        return predict(self.model, self.vocab, prefix, length, preprocess=cfg.preprocess or "raw",
                       tokens=cfg.tokens, temperature=cfg.temperature if temperature is None else temperature,
                       top_k=cfg.top_k if top_k is None else top_k, seed=cfg.seed if seed is None else seed,
                       device=self.device)

    def _sample(self, epoch: int, on_demand: bool = False, prefix: str | None = None, length: int | None = None,
                temperature: float | None = None, top_k: int | None = None) -> ev.Sample:
        cfg = self.config
        prefix = prefix or cfg.prefix
        temperature = cfg.temperature if temperature is None else temperature
        # Seeded by epoch: samples are reproducible and never consume the training RNG.
        try:
            text = self._predict(prefix, length or cfg.sample_length, temperature, top_k,
                                 seed=cfg.seed * 100003 + epoch)
        except (ValueError, RuntimeError) as exc:  # a prefix with no token, outputs not numbers: said, training goes on
            text = f"(no sample: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
        return ev.Sample(epoch=epoch, prefix=prefix, text=text, temperature=temperature, on_demand=on_demand)


def _closing_prefixes(prefix: str) -> list[str]:
    """d2l ends with predictions for 'time traveller' and 'traveller': the prefix and its last word."""
    words = prefix.split()
    return [prefix, words[-1]] if len(words) > 1 else [prefix]


def _diverged(loss: float, grad_norm: float, val_loss: float | None) -> bool:
    """A loss or a gradient that is not a number, or a loss whose perplexity overflows: no model any more."""
    losses = [loss] if val_loss is None else [loss, val_loss]
    return not math.isfinite(grad_norm) or any(not math.isfinite(x) or x >= MAX_LOSS for x in losses)


def _safe_exp(x: float) -> float:
    return math.exp(x) if x < MAX_LOSS else float("inf")


def _as_random_state(saved):
    """``random.setstate`` wants tuples; a checkpoint may hand back lists."""
    version, internal, gauss = saved
    return (version, tuple(internal), gauss)
