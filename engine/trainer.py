"""The training loop of d2l §8.5 (``train_ch8``) as a generator of events.

    trainer = Trainer(config, text, source)
    for event in trainer.run():     # Start, Progress*, Epoch, Sample, ..., Finished
        ...

Between minibatches it honours a ``TrainControl`` (pause, stop, sample now) set from another
thread. The host waits on the device only at epoch ends and for the rate-limited progress
events. After every epoch it keeps an in-memory snapshot of everything needed to resume
exactly; a non-finite loss restores it, and ``checkpoint_state()`` hands it to the run store.
What each minibatch computes is in steps.py; this file is the loop and what it decides.
"""
from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Iterator

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
from rnn_tui.engine.steps import evaluate_loss, evaluate_windows, make_optimizer, train_minibatch
from rnn_tui.engine.text import tokenize, tokenize_prefix
from rnn_tui.engine.vocab import Vocab


MAX_LOSS = 700.0  # nats: exp() of more overflows float64, so the perplexity of such a model is no number


class TrainingInputError(InputProblem):
    """The configuration and the text cannot make a run (too short, unknown device, ...)."""


def build_vocab(config: TrainConfig, tokens: list[str]) -> Vocab:
    return Vocab(tokens, min_freq=config.min_freq, max_size=config.max_vocab)


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
        try:
            self.device = resolve_device(cfg.device)
        except ValueError as exc:
            raise TrainingInputError(str(exc)) from None
        world = self.world
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
        torch.manual_seed(cfg.seed)
        self.rng = random.Random(cfg.seed)
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
        self.step_model = DataParallelLoss(self.model, self.device) if world.size > 1 else self.model
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
        yield ev.Start(config=cfg.to_dict(), vocab_size=len(self.vocab), corpus=dict(self.source),
                       device=device_name(self.device),
                       num_parameters=sum(p.numel() for p in self.model.parameters()),
                       batches_per_epoch=self.batches_per_epoch,
                       floor_perplexity=self.source.get("floor_perplexity"), start_epoch=self.start_epoch,
                       kernels={"setting": cfg.kernels, **describe_kernels(self.model, cfg.batch_size)},
                       world_size=self.world.size, backend=self.world.backend)
        if self.snapshot is None:
            self.snapshot = self._capture(0, 0.0)
        self.run_started, self.paused_s = self.clock() - self.elapsed_before, 0.0
        self._plan(self.start_epoch * self.batches_per_epoch + (self.underway or {}).get("batch", 0),
                   self.elapsed_before)
        last = self.history[-1] if self.history else {}
        status, reason, epoch, cut_batch = Outcome.COMPLETED, None, self.start_epoch, 0
        for epoch in range(self.start_epoch + 1, cfg.epochs + 1):
            outcome = yield from self._train_epoch(epoch)
            if outcome is None:
                status, epoch = self._stop_status(), epoch - 1
                break
            loss, tokens_per_sec, grad_norm, lr, underway = outcome
            # -- validate (timed apart: tokens/s is training only): every --eval-every, the last, past the budget
            time_up = underway is not None or self._time_up()
            val_loss, windows_loss, eval_s = None, None, 0.0
            if math.isfinite(loss) and (epoch % cfg.eval_every == 0 or epoch == cfg.epochs or time_up):
                val_loss, windows_loss, eval_s = self._validate()
            if _diverged(loss, grad_norm, val_loss):
                restored = self.snapshot["epoch"]
                self._restore(self.snapshot)
                yield ev.Diverged(epoch=epoch, loss=loss, restored_epoch=restored)
                status, epoch = Outcome.DIVERGED, restored
                break
            if val_loss is not None and val_loss < self.best.get("val_loss", math.inf):
                self.best = {"epoch": epoch, "val_loss": val_loss}
            elapsed = self.elapsed()
            self._plan(epoch * self.batches_per_epoch, elapsed)
            epoch_event = self._epoch_event(epoch, loss, val_loss, tokens_per_sec, grad_norm, lr, elapsed, eval_s)
            if underway is not None:
                epoch_event.batch = underway["batch"]
            if windows_loss is not None:
                epoch_event.val_loss_windows, epoch_event.val_bpc_windows = windows_loss, windows_loss / math.log(2)
                epoch_event.val_perplexity_windows = _safe_exp(windows_loss)
            last = epoch_event.to_dict()
            self.history.append({k: last[k] for k in ("epoch", "train_perplexity", "val_perplexity",
                                                      "tokens_per_sec", "grad_norm", "elapsed_s")})
            self.snapshot = self._capture(epoch - 1 if underway else epoch, elapsed, underway)
            yield epoch_event
            if underway is not None:  # the checkpoint holds epoch - 1 and this one's minibatches so far
                status, epoch, cut_batch = Outcome.TIME_UP, epoch - 1, underway["batch"]
                reason = (f"--max-time {format_duration(cfg.max_time)} spent at minibatch {underway['batch']} of "
                          f"{self.batches_per_epoch} of epoch {epoch + 1}")
                break
            if cfg.sample_every and epoch % cfg.sample_every == 0 and self.world.main:
                yield self._sample(epoch)
            if self.control.stop_requested:
                status = self._stop_status()
                break
            if time_up and epoch < cfg.epochs:
                status, reason = Outcome.TIME_UP, f"--max-time {format_duration(cfg.max_time)} spent after epoch {epoch}"
                break
            if cfg.patience and val_loss is not None and epoch - self.best["epoch"] >= cfg.patience:
                status = Outcome.EARLY_STOPPED
                reason = (f"no better validation loss for {cfg.patience} epochs "
                          f"(best {self.best['val_loss']:.4f} at epoch {self.best['epoch']})")
                break
        else:
            epoch = cfg.epochs
        samples = []
        if last and self.world.main:
            samples = [{"prefix": p, "text": self._predict(p, cfg.sample_length)}
                       for p in _closing_prefixes(cfg.prefix)
                       if tokenize_prefix(p, cfg.preprocess or "raw", cfg.tokens)]  # "... !!!": not "!!!"
        if status == Outcome.INTERRUPTED:
            reason = self.control.stop_reason
        yield ev.Finished(status=status, epoch=epoch, train_perplexity=last.get("train_perplexity"),
                          val_perplexity=last.get("val_perplexity"), tokens_per_sec=last.get("tokens_per_sec"),
                          device=str(self.device), elapsed_s=self.elapsed(), samples=samples, reason=reason,
                          best_epoch=self.best.get("epoch"), best_val_loss=self.best.get("val_loss"), batch=cut_batch)

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
        """Where ``--eval windows:N:L``'s windows start in the held-out text: drawn once from the seed, so
        every epoch (and a resumed run) is scored on the same windows."""
        windows = self.config.eval_windows()
        if windows is None:
            return None
        count, length = windows
        if len(self.val_corpus) < length + 1:
            raise TrainingInputError(f"--eval windows:{count}:{length}: the held-out text has {len(self.val_corpus)} "
                                     f"tokens, fewer than a window of {length} and the one before it")
        drawn = torch.Generator().manual_seed(self.config.seed + 1)  # apart from the seed's other draws
        return torch.randint(0, len(self.val_corpus) - length, (count,), generator=drawn)

    def _validate(self) -> tuple[float | None, float | None, float]:
        """(validation loss in nats, the same over ``--eval``'s windows or None, seconds both took)."""
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

    def _epoch_event(self, epoch, loss, val_loss, tokens_per_sec, grad_norm, lr, elapsed, eval_s) -> ev.Epoch:
        cfg = self.config
        eta = self._eta(epoch * self.batches_per_epoch)
        return ev.Epoch(epoch=epoch, epochs=cfg.epochs, train_perplexity=_safe_exp(loss),
                        val_perplexity=None if val_loss is None else _safe_exp(val_loss),
                        tokens_per_sec=tokens_per_sec, grad_norm=grad_norm, elapsed_s=elapsed, eta_s=eta,
                        train_loss=loss, val_loss=val_loss,
                        val_bpc=None if val_loss is None else val_loss / math.log(2), lr=lr, eval_s=eval_s,
                        batch=self.batches_per_epoch, batches=self.batches_per_epoch,
                        best_epoch=self.best.get("epoch"), best_val_loss=self.best.get("val_loss"),
                        memory=memory_stats(self.device))

    def _train_epoch(self, epoch: int):
        """Train one epoch; return (mean loss, tokens/s, mean grad norm, last lr, where --max-time cut it short
        or None), or None if stopped."""
        cfg, model, world = self.config, self.model, self.world
        model.train()
        underway, self.underway = self.underway or {}, None  # a resumed run goes on where --max-time cut it short
        if underway:
            self.rng.setstate(_as_random_state(underway["rng_at_start"]))
        rng_at_start = self.rng.getstate()
        batches = make_batches(cfg.sampler, self.train_corpus, cfg.batch_size, cfg.num_steps, self.rng)
        if world.size > 1:
            batches = batches.rows(world.rows(cfg.batch_size))  # the same permutation on every rank, its rows
        first = underway.get("batch", 0)
        # every rank holds an equal share of the sum so far: summed over ranks at the end, it is the whole
        loss_sum = torch.tensor(underway.get("loss_sum", 0.0) / world.size, device=self.device, dtype=torch.float64)
        norm_sum = torch.tensor(underway.get("norm_sum", 0.0), device=self.device, dtype=torch.float64)
        tokens_per_batch = cfg.batch_size * cfg.num_steps
        params = list(model.parameters())
        lr = cfg.lr
        state = world.own_rows(underway["state"], cfg.batch_size, self.device) if underway.get("state") else None
        train_time, started = underway.get("train_s", 0.0), self.clock()
        last_progress, done = started, len(batches)
        for batch in range(first, len(batches)):
            X, Y = batches.X[batch], batches.Y[batch]
            # -- between two minibatches: stop, pause, samples, the budget (decided by every rank together)
            stop, hold, out_of_time = world.agree(
                self.control.stop_requested, world.main and (self.control.paused or self.control.sample_requested),
                batch > first and self._time_up())
            if hold:
                synchronize(self.device)
                train_time += self.clock() - started
                if world.main:
                    requests = [] if self.control.paused else self.control.take_sample_requests()
                    yield from self._serve_controls(epoch, batch, requests)
                (stop,) = world.agree(self.control.stop_requested)  # the other ranks wait here meanwhile
                started = self.clock()
            if stop:
                self.control.request_stop("another rank")  # keeps this rank's own reason if it has one
                return None
            if out_of_time:  # --max-time: the epoch ends here, to be gone on with from here on resume
                done = batch
                break
            # -- one minibatch
            if state is None or not batches.carries_state:
                state = model.begin_state(X.shape[0], self.device)
            else:
                state = detach_state(state)
            if cfg.lr_moves():
                lr = learning_rate((epoch - 1) * len(batches) + batch, self.planned_steps, cfg.lr, cfg.lr_schedule,
                                   cfg.warmup, cfg.lr_min, cfg.lr_decay)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
            loss, norm, state = train_minibatch(self.step_model, self.optimizer, X, Y, state, params, cfg.clip,
                                                 cfg.autocast)
            norm_sum += norm
            loss_sum += loss
            now = self.clock()
            if now - last_progress >= self.progress_interval_s and batch + 1 < len(batches):
                running = loss_sum.item() / (batch + 1)  # the one host sync, a few times a second
                last_progress = self.clock()
                seconds = train_time + last_progress - started
                yield ev.Progress(epoch=epoch, batch=batch + 1, batches=len(batches),
                                  train_perplexity=_safe_exp(running),
                                  tokens_per_sec=(batch + 1) * tokens_per_batch / max(seconds, 1e-9),
                                  elapsed_s=self.elapsed(), lr=lr, memory=memory_stats(self.device),
                                  grad_norm=norm_sum.item() / (batch + 1),
                                  eta_s=self._eta((epoch - 1) * len(batches) + batch + 1))
                if cfg.max_time:  # the schedule re-plans over the time left, at the pace of late
                    self._plan((epoch - 1) * len(batches) + batch + 1, self.elapsed())
                if not math.isfinite(running) and world.size == 1:  # ranks end an epoch together
                    return running, 0.0, float("nan"), lr, None
        # the mean over every rank's rows: ranks hold equal shares, so the mean of their means
        summed_loss = world.sum(loss_sum).item()  # waits for the device: honest timing
        train_time += self.clock() - started
        tokens_per_sec = done * tokens_per_batch / max(train_time, 1e-9)
        cut = None
        if done < len(batches):
            cut = {"batch": done, "rng_at_start": rng_at_start, "loss_sum": summed_loss, "norm_sum": norm_sum.item(),
                   "train_s": train_time,
                   "state": world.all_rows(state, cfg.batch_size) if batches.carries_state else None}
        return summed_loss / world.size / done, tokens_per_sec, norm_sum.item() / done, lr, cut

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
