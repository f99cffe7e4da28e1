"""Choosing the device: ``auto`` tries CUDA, then MPS, then the CPU."""
from __future__ import annotations

import torch

from rnn_tui.engine import cpu

DEVICE_CHOICES = "auto|cpu|cuda|cuda:N|mps"


def resolve_device(spec: str = "auto") -> torch.device:
    """Return the device for ``spec``; ``ValueError`` with a clear reason if it cannot be used."""
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "mps":
        if not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
            raise ValueError("device mps is not available on this machine")
        return torch.device("mps")
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {spec} is not available: this torch build or machine has no CUDA")
        index = torch.cuda.current_device() if spec == "cuda" else _cuda_index(spec)
        if index >= torch.cuda.device_count():
            raise ValueError(f"device {spec} does not exist: {torch.cuda.device_count()} CUDA device(s) found")
        return torch.device("cuda", index)
    raise ValueError(f"unknown device {spec!r}; use {DEVICE_CHOICES}")


def _cuda_index(spec: str) -> int:
    try:
        return int(spec.split(":", 1)[1])
    except ValueError:
        raise ValueError(f"unknown device {spec!r}; use {DEVICE_CHOICES}") from None


def device_name(device: torch.device) -> str:
    """A human description, e.g. ``cuda:0 (NVIDIA H100 80GB HBM3)``."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


def memory_stats(device: torch.device) -> dict:
    """CUDA memory in bytes; empty elsewhere (the dashboard reads the process RSS instead)."""
    if device.type != "cuda":
        return {}
    free, total = torch.cuda.mem_get_info(device)
    return {"allocated": torch.cuda.memory_allocated(device), "reserved": torch.cuda.memory_reserved(device),
            "total": total}


def autocast(device: torch.device, mode: str = "off"):
    """The context a forward runs in: ``torch.autocast`` to bfloat16 for ``mode`` "bf16", a no-op for "off"."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=mode == "bf16")


def autocast_problem(device: torch.device, mode: str, model: str | None = None) -> str | None:
    """Why ``mode`` cannot train ``model`` (a concise one: rnn, gru, lstm) on ``device`` (one line), or None.

    On the CPU it depends on the instruction sets and on the cell: engine/cpu.py asks torch."""
    if mode == "off":
        return None
    if not torch.amp.is_autocast_available(device.type):
        return f"--autocast {mode} is not available on {device}"
    if device.type == "cuda" and torch.cuda.get_device_capability(device) < (8, 0):
        return f"--autocast {mode} needs a GPU with native bfloat16 (Ampere or later), not {device_name(device)}"
    if device.type == "cpu" and model in ("rnn", "gru", "lstm"):
        return cpu.bf16_problem(model)
    return None


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
