"""The training loop of d2l §8.5 (``train_ch8``) as a generator of events.

    trainer = Trainer(config, text, source)
    for event in trainer.run():     # Start, Progress*, Epoch, Sample, ..., Finished
        ...

Between minibatches it honours a ``TrainControl`` (pause, stop, sample now) set from another
thread. The host waits on the device only at epoch ends and for the rate-limited progress
events. After every epoch it keeps an in-memory snapshot of everything needed to resume
exactly; a non-finite loss restores it, and ``checkpoint_state()`` hands it to the run store.
"""
from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Iterator

import torch
from torch import nn

from . import events as ev
from .allocator import keep_freed_memory
from .clipping import grad_clipping
from .config import TrainConfig
from .control import TrainControl
from .device import autocast, autocast_problem, device_name, memory_stats, resolve_device, synchronize
from .generation import predict
from .kernels import describe as describe_kernels, problem as kernels_problem
from .models import detach_state, model_for
from .samplers import make_batches, min_tokens_for, split_train_val
from .text import tokenize
from .vocab import Vocab


def train_minibatch(model, optimizer, X: torch.Tensor, Y: torch.Tensor, state, params, clip: float,
                    autocast_mode: str = "off"):
    """Forward, mean cross-entropy, backward, global-norm clip, step (d2l's ``train_epoch_ch8`` body).

    X, Y: (B, T). ``autocast_mode`` is the config's ``autocast``: "bf16" runs the forward (only)
    under ``torch.autocast``. Returns (loss, pre-clip grad norm, new state), all left on the device.
    """
    with autocast(X.device, autocast_mode):
        loss, state = model.loss(X, Y, state)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    norm = grad_clipping(params, clip)
    optimizer.step()
    return loss.detach(), norm, state


class TrainingInputError(ValueError):
    """The configuration and the text cannot make a run (too short, unknown device, ...)."""


def build_vocab(config: TrainConfig, tokens: list[str]) -> Vocab:
    return Vocab(tokens, min_freq=config.min_freq, max_size=config.max_vocab)


@torch.no_grad()
def evaluate_perplexity(model, corpus: torch.Tensor, batch_size: int, num_steps: int,
                        autocast_mode: str = "off") -> float | None:
    """Perplexity over ``corpus`` read as up to ``batch_size`` parallel streams, state carried.

    ``autocast_mode`` "bf16": the forward in bfloat16, as the model trains; the cross-entropy in float32."""
    if len(corpus) < 2:
        return None
    was_training = model.training
    model.eval()
    streams = max(1, min(batch_size, (len(corpus) - 1) // num_steps))
    length = (len(corpus) - 1) // streams
    X = corpus[: streams * length].view(streams, length)
    Y = corpus[1: streams * length + 1].view(streams, length)
    state = model.begin_state(streams, corpus.device)
    total = torch.zeros((), device=corpus.device, dtype=torch.float64)
    for i in range(0, length, num_steps):
        with autocast(corpus.device, autocast_mode):
            logits, state = model(X[:, i: i + num_steps], state)
        total += nn.functional.cross_entropy(logits.float(), Y[:, i: i + num_steps].T.reshape(-1), reduction="sum")
    model.train(was_training)
    return math.exp(min(total.item() / (streams * length), 700.0))


class Trainer:
    def __init__(self, config: TrainConfig, text: str, source: dict | None = None,
                 control: TrainControl | None = None, resume: dict | None = None,
                 progress_interval_s: float = 0.25):
        problem = config.first_error()
        if problem:
            raise TrainingInputError(problem)
        self.config = config
        self.text = text
        self.source = dict(source or {})
        self.control = control or TrainControl()
        self.resume = resume
        self.progress_interval_s = progress_interval_s
        self.snapshot: dict | None = resume
        self.history: list[dict] = list(resume["history"]) if resume else []

    # -- set-up ------------------------------------------------------------------------------
    def _setup(self) -> None:
        cfg = self.config
        try:
            self.device = resolve_device(cfg.device)
        except ValueError as exc:
            raise TrainingInputError(str(exc)) from None
        problem = autocast_problem(self.device, cfg.autocast) or kernels_problem(cfg.kernels, self.device)
        if problem:
            raise TrainingInputError(problem)
        if self.device.type == "cpu":
            keep_freed_memory()  # see allocator.py: minibatches stop faulting their buffers back in
        torch.manual_seed(cfg.seed)
        self.rng = random.Random(cfg.seed)
        tokens = tokenize(self.text, cfg.preprocess or "raw", cfg.tokens)
        if cfg.max_tokens:
            tokens = tokens[: cfg.max_tokens]
        self.vocab = Vocab.from_list(self.resume["vocab"]) if self.resume else build_vocab(cfg, tokens)
        corpus = torch.tensor(self.vocab[tokens], dtype=torch.long)
        self.train_corpus, self.val_corpus = (t.to(self.device) for t in split_train_val(corpus, cfg.val_fraction))
        need = min_tokens_for(cfg.batch_size, cfg.num_steps)
        if len(self.train_corpus) < need:
            total = math.ceil(need / (1 - cfg.val_fraction)) if cfg.val_fraction else need
            raise TrainingInputError(
                f"the text is too short: {len(corpus)} tokens, but --batch-size {cfg.batch_size} × --num-steps "
                f"{cfg.num_steps} with --val-fraction {cfg.val_fraction:g} needs at least {total} tokens")
        self.model = model_for(cfg, len(self.vocab)).to(self.device)
        if cfg.optimizer == "adam":
            self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        else:
            # d2l's minibatch SGD with lr on the *mean* loss (seed 001 also divides lr by the batch size).
            self.optimizer = torch.optim.SGD(self.model.parameters(), lr=cfg.lr)
        self.start_epoch, self.elapsed_before = 0, 0.0
        if self.resume:
            self._restore(self.resume)
            self.start_epoch = self.resume["epoch"]
            self.elapsed_before = self.resume.get("elapsed_s", 0.0)
        self.source.update(tokens=len(corpus), train_tokens=len(self.train_corpus), val_tokens=len(self.val_corpus))

    # -- snapshots ---------------------------------------------------------------------------
    def _capture(self, epoch: int, elapsed_s: float) -> dict:
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
            "source": {k: v for k, v in self.source.items() if isinstance(v, (str, int, float, type(None)))},
        }

    def _restore(self, snap: dict) -> None:
        self.model.load_state_dict(snap["model_state"])
        self.optimizer.load_state_dict(snap["optimizer_state"])
        self.rng.setstate(_as_random_state(snap["rng"]["python"]))
        torch.set_rng_state(snap["rng"]["torch"])
        if self.device.type == "cuda" and "cuda" in snap["rng"]:
            torch.cuda.set_rng_state(snap["rng"]["cuda"], self.device)
        self.history = list(snap["history"])

    def checkpoint_state(self) -> dict | None:
        """Everything needed to resume after the last completed epoch (``None`` before the first)."""
        return self.snapshot

    # -- the loop ------------------------------------------------------------------------------
    def run(self) -> Iterator[ev.Event]:
        cfg = self.config
        self._setup()
        batches_per_epoch = len(make_batches(cfg.sampler, self.train_corpus, cfg.batch_size, cfg.num_steps,
                                             random.Random(0)))
        yield ev.Start(config=cfg.to_dict(), vocab_size=len(self.vocab), corpus=dict(self.source),
                       device=device_name(self.device),
                       num_parameters=sum(p.numel() for p in self.model.parameters()),
                       batches_per_epoch=batches_per_epoch,
                       floor_perplexity=self.source.get("floor_perplexity"), start_epoch=self.start_epoch,
                       kernels={"setting": cfg.kernels, **describe_kernels(self.model, cfg.batch_size)})
        if self.snapshot is None:
            self.snapshot = self._capture(0, 0.0)
        run_started = time.perf_counter() - self.elapsed_before
        last = self.history[-1] if self.history else {}
        status, epoch = "completed", self.start_epoch
        for epoch in range(self.start_epoch + 1, cfg.epochs + 1):
            outcome = yield from self._train_epoch(epoch, run_started)
            if outcome is None:
                status, epoch = ("stopped" if self.control.stop_reason == "stopped" else "interrupted"), epoch - 1
                break
            loss, tokens_per_sec, grad_norm = outcome
            if not math.isfinite(loss):
                restored = self.snapshot["epoch"]
                self._restore(self.snapshot)
                yield ev.Diverged(epoch=epoch, loss=loss, restored_epoch=restored)
                status, epoch = "diverged", restored
                break
            val_ppl = evaluate_perplexity(self.model, self.val_corpus, cfg.batch_size, cfg.num_steps, cfg.autocast)
            elapsed = time.perf_counter() - run_started
            done = epoch - self.start_epoch
            eta = (elapsed - self.elapsed_before) / done * (cfg.epochs - epoch)
            epoch_event = ev.Epoch(epoch=epoch, epochs=cfg.epochs, train_perplexity=_safe_exp(loss),
                                   val_perplexity=val_ppl, tokens_per_sec=tokens_per_sec, grad_norm=grad_norm,
                                   elapsed_s=elapsed, eta_s=eta, train_loss=loss, memory=memory_stats(self.device))
            last = epoch_event.to_dict()
            self.history.append({k: last[k] for k in ("epoch", "train_perplexity", "val_perplexity",
                                                      "tokens_per_sec", "grad_norm", "elapsed_s")})
            self.snapshot = self._capture(epoch, elapsed)
            yield epoch_event
            if cfg.sample_every and epoch % cfg.sample_every == 0:
                yield self._sample(epoch)
            if self.control.stop_requested:
                status = "stopped" if self.control.stop_reason == "stopped" else "interrupted"
                break
        else:
            epoch = cfg.epochs
        samples = []
        if last:
            samples = [{"prefix": p, "text": self._predict(p, cfg.sample_length)}
                       for p in _closing_prefixes(cfg.prefix)]
        yield ev.Finished(status=status, epoch=epoch, train_perplexity=last.get("train_perplexity"),
                          val_perplexity=last.get("val_perplexity"), tokens_per_sec=last.get("tokens_per_sec"),
                          device=str(self.device), elapsed_s=time.perf_counter() - run_started, samples=samples,
                          reason=self.control.stop_reason if status == "interrupted" else None)

    def _train_epoch(self, epoch: int, run_started: float):
        """Train one epoch; return (mean loss, tokens/s, mean grad norm), or None if stopped."""
        cfg, model, control = self.config, self.model, self.control
        model.train()
        batches = make_batches(cfg.sampler, self.train_corpus, cfg.batch_size, cfg.num_steps, self.rng)
        loss_sum = torch.zeros((), device=self.device, dtype=torch.float64)
        norm_sum = torch.zeros((), device=self.device, dtype=torch.float64)
        tokens_per_batch = cfg.batch_size * cfg.num_steps
        params = list(model.parameters())
        state = None
        train_time, started = 0.0, time.perf_counter()
        last_progress = started
        for batch, (X, Y) in enumerate(batches):
            if control.stop_requested:
                return None
            if control.paused or (requests := control.take_sample_requests()):
                synchronize(self.device)
                train_time += time.perf_counter() - started
                yield from self._serve_controls(epoch, batch, requests if not control.paused else None)
                if control.stop_requested:
                    return None
                started = time.perf_counter()
            if state is None or not batches.carries_state:
                state = model.begin_state(cfg.batch_size, self.device)
            else:
                state = detach_state(state)
            loss, norm, state = train_minibatch(model, self.optimizer, X, Y, state, params, cfg.clip,
                                                 cfg.autocast)
            norm_sum += norm
            loss_sum += loss
            now = time.perf_counter()
            if now - last_progress >= self.progress_interval_s and batch + 1 < len(batches):
                running = loss_sum.item() / (batch + 1)  # the one host sync, a few times a second
                last_progress = time.perf_counter()
                seconds = train_time + last_progress - started
                yield ev.Progress(epoch=epoch, batch=batch + 1, batches=len(batches),
                                  train_perplexity=_safe_exp(running),
                                  tokens_per_sec=(batch + 1) * tokens_per_batch / max(seconds, 1e-9),
                                  elapsed_s=last_progress - run_started, memory=memory_stats(self.device))
                if not math.isfinite(running):
                    return running, 0.0, float("nan")
        mean_loss = loss_sum.item() / len(batches)  # waits for the device: the timing is honest
        train_time += time.perf_counter() - started
        tokens_per_sec = len(batches) * tokens_per_batch / max(train_time, 1e-9)
        return mean_loss, tokens_per_sec, norm_sum.item() / len(batches)

    def _serve_controls(self, epoch: int, batch: int, requests: list[dict] | None):
        """Serve sample requests and wait out a pause, between two minibatches."""
        control = self.control
        for request in requests or []:
            yield self._sample(epoch, on_demand=True, **request)
        if control.paused:
            yield ev.Paused(epoch=epoch, batch=batch)
            while control.paused and not control.stop_requested:
                control.wait_while_paused()
                for request in control.take_sample_requests():
                    yield self._sample(epoch, on_demand=True, **request)
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
        text = self._predict(prefix, length or cfg.sample_length, temperature, top_k, seed=cfg.seed * 100003 + epoch)
        return ev.Sample(epoch=epoch, prefix=prefix, text=text, temperature=temperature, on_demand=on_demand)


def _closing_prefixes(prefix: str) -> list[str]:
    """d2l ends with predictions for 'time traveller' and 'traveller': the prefix and its last word."""
    words = prefix.split()
    return [prefix, words[-1]] if len(words) > 1 else [prefix]


def _safe_exp(x: float) -> float:
    return math.exp(x) if x < 700 else float("inf")


def _as_random_state(saved):
    """``random.setstate`` wants tuples; a checkpoint may hand back lists."""
    version, internal, gauss = saved
    return (version, tuple(internal), gauss)
