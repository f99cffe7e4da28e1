"""Data-parallel training under torchrun: PyTorch's own launcher, DistributedDataParallel, gloo or NCCL.

Each of N processes (ranks) trains its share of every minibatch's rows, so N processes compute the
minibatches one process would: ``--batch-size`` stays the global number of streams. DDP averages the
gradients, which then agree on every rank, so clipping sees the global norm and every optimizer
step is the same. Only rank 0 writes the run folder, prints and serves the control socket; what it
is told (stop, pause, sample) reaches the other ranks through ``World.agree`` at each minibatch
boundary, so every rank stops at the same one.
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from rnn_tui.engine.errors import InputProblem

# a pause may last: the ranks wait in a collective meanwhile (a dead rank is torchrun's to notice)
COLLECTIVE_TIMEOUT = datetime.timedelta(days=7)


@dataclass(frozen=True)
class World:
    """This process's place among the ranks (one process: rank 0 of 1)."""
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def main(self) -> bool:
        return self.rank == 0

    def rows(self, batch_size: int) -> slice:
        """This rank's rows of a minibatch of ``batch_size`` streams."""
        share = batch_size // self.size
        return slice(self.rank * share, (self.rank + 1) * share)

    def all_rows(self, state: tuple, batch_size: int) -> tuple:
        """A recurrent state (a tuple of tensors, streams on dim -2) with every rank's rows, on every rank."""
        if self.size == 1:
            return tuple(part.detach().clone() for part in state)
        rows, whole = self.rows(batch_size), []
        for part in state:
            shape = list(part.shape)
            shape[-2] = batch_size
            gathered = part.new_zeros(shape)
            gathered.narrow(-2, rows.start, rows.stop - rows.start).copy_(part.detach())
            whole.append(self.sum(gathered))  # each row is non-zero on one rank only
        return tuple(whole)

    def own_rows(self, state: tuple, batch_size: int, device) -> tuple:
        """This rank's rows of a state that holds every rank's (``all_rows``), on ``device``."""
        rows = self.rows(batch_size)
        return tuple(part.narrow(-2, rows.start, rows.stop - rows.start).to(device) for part in state)

    def sum(self, value: torch.Tensor) -> torch.Tensor:
        """``value`` summed over the ranks (in place; itself with one process)."""
        if self.size > 1:
            dist.all_reduce(value, op=dist.ReduceOp.SUM)
        return value

    def agree(self, *flags: bool) -> list[bool]:
        """Each flag true on any rank: the ranks decide together between two minibatches."""
        if self.size == 1:
            return list(flags)
        tensor = torch.tensor([int(f) for f in flags], dtype=torch.int32, device=self._device())
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return [bool(v) for v in tensor.tolist()]

    def _device(self):
        return torch.device("cuda", self.local_rank) if self.backend == "nccl" else torch.device("cpu")


def torchrun_variable(name: str, default: int) -> int:
    """One of the whole numbers torchrun sets (WORLD_SIZE, RANK, LOCAL_RANK, LOCAL_WORLD_SIZE), checked."""
    raw = os.environ.get(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise InputProblem(f"{name} must be a whole number, 0 or more, as torchrun sets it (got {raw!r})")
    return value


def launched_by_torchrun() -> bool:
    return torchrun_variable("WORLD_SIZE", 1) > 1 and "RANK" in os.environ


def join_world(device_type: str) -> World:
    """Join the process group torchrun set up for this process (one process: no group at all).

    gloo on the CPU, with the cores of this node shared out among its ranks (OpenMP teams that
    overlap spin against each other); NCCL with one GPU per rank."""
    if not launched_by_torchrun():
        return World()
    local_size = max(1, torchrun_variable("LOCAL_WORLD_SIZE", torchrun_variable("WORLD_SIZE", 1)))
    local_rank = torchrun_variable("LOCAL_RANK", 0)
    backend = "nccl" if device_type == "cuda" else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    else:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_size))
    if not dist.is_initialized():
        dist.init_process_group(backend, timeout=COLLECTIVE_TIMEOUT)
    return World(dist.get_rank(), dist.get_world_size(), local_rank, backend)


def leave_world(finished: bool = True) -> None:
    """Leave the process group; ``finished``: every rank reached the end, so they leave together."""
    if dist.is_initialized():
        if finished:
            dist.barrier()  # no rank tears its connections down while another still talks to it
        dist.destroy_process_group()


class _Loss(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, X, Y, state):
        return self.model.loss(X, Y, state)


class DataParallelLoss:
    """``model.loss`` through DistributedDataParallel, so backward averages the gradients over ranks.

    DDP hooks a module's forward; the models' training entry point is ``loss``, so it is that
    which DDP wraps. The model itself (its ``state_dict`` names, generation) stays unwrapped."""

    def __init__(self, model: nn.Module, device: torch.device):
        self.ddp = nn.parallel.DistributedDataParallel(_Loss(model),
                                                       device_ids=[device.index] if device.type == "cuda" else None)

    def loss(self, X, Y, state):
        return self.ddp(X, Y, state)


def run_torchrun(nproc: int, train_arguments: list[str]) -> int:
    """``rnn-tui train ARGS`` in ``nproc`` processes on this node, launched by torch.distributed.run
    in this process (the same as ``torchrun --standalone``); the exit status of the first rank to fail,
    or 128 + the signal that ended the launch."""
    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    from rnn_tui.engine.launch import rnn_tui_command
    # the cores shared out before torchrun would set 1 thread per rank (and say so)
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    args = torchrun.parse_args(["--standalone", f"--nproc-per-node={nproc}", "--no-python", "--",  # the rest: ours
                                *rnn_tui_command("train", *train_arguments)])
    try:
        torchrun.run(args)
    except ChildFailedError as exc:
        code = exc.get_first_failure()[1].exitcode
        return code if code >= 0 else 128 - code  # a negative code: killed by that signal
    except SignalException as exc:
        return 128 + int(exc.sigval)
    return 0
