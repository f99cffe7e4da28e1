"""What this CPU is and what it can do, read once per process.

A figure means little without the machine it came from, and a feature one CPU has another lacks:
``describe_cpu`` names the processor and the vector extensions that decide rnn-tui's speed (every
``bench`` output carries it), and ``bf16_problem`` asks torch itself whether bfloat16 autocast trains
a concise cell here. It asks oneDNN, not a table of flags (``ONEDNN_MAX_CPU_ISA`` can lower what
oneDNN uses below what the CPU has), then runs a tiny forward and backward: some cells have bfloat16
kernels on an instruction set where others have none.
"""
from __future__ import annotations

import functools
import os
import platform
from pathlib import Path

# /proc/cpuinfo flag -> the name a reader knows, in the order that matters for speed
_X86_EXTENSIONS = {"avx512f": "AVX-512", "avx512_bf16": "AVX-512 BF16", "amx_bf16": "AMX", "avx2": "AVX2",
                   "fma": "FMA"}
_ARM_EXTENSIONS = {"asimd": "NEON", "sve": "SVE", "bf16": "BF16"}


@functools.cache
def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo ({} where there is none: macOS, a sandbox)."""
    fields: dict[str, str] = {}
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return fields
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break  # the first processor's block is enough: they are all alike
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip().lower(), value.strip())
    return fields


def cpu_flags() -> frozenset[str]:
    info = _cpuinfo()
    return frozenset((info.get("flags") or info.get("features") or "").split())


def cpu_name() -> str:
    info = _cpuinfo()
    return info.get("model name") or info.get("hardware") or platform.processor() or platform.machine() or "N/A"


def usable_cores() -> int:
    """The cores this process may run on (a container or taskset may give it fewer than the machine has)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def vector_extensions() -> list[str]:
    flags = cpu_flags()
    table = _ARM_EXTENSIONS if platform.machine().lower() in ("aarch64", "arm64") else _X86_EXTENSIONS
    return [name for flag, name in table.items() if flag in flags]


# the variables that make torch's kernels use less of the CPU than it has (set by hand, or by tests)
ISA_LIMITS = {"ATEN_CPU_CAPABILITY": "torch's kernels", "ONEDNN_MAX_CPU_ISA": "oneDNN", "RNN_TUI_C_ISA": "C kernels"}


def describe_cpu() -> str:
    """One line for a figure's provenance, e.g. ``AMD EPYC 7B13 (x86_64, 2 cores; AVX2, FMA)``, with any
    limit set on the instruction sets the kernels use."""
    extensions = ", ".join(vector_extensions()) or "no vector extensions reported"
    limits = [f"{what} limited to {os.environ[name]}" for name, what in ISA_LIMITS.items() if os.environ.get(name)]
    return f"{cpu_name()} ({platform.machine() or 'N/A'}, {usable_cores()} cores; {extensions})" + \
        "".join(f"; {limit}" for limit in limits)


def _onednn_has_bf16(torch) -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch built without oneDNN
        return False


@functools.cache
def bf16_problem(cell: str) -> str | None:
    """Why bfloat16 autocast should not train ``nn.{RNN,GRU,LSTM}`` (cell ``rnn``, ``gru``, ``lstm``) on this
    CPU, in one line; None when it can. A forward and backward of a tiny layer: a few milliseconds."""
    import torch
    if not _onednn_has_bf16(torch):
        # below AVX-512 oneDNN has no bfloat16 kernels: what does not fail is emulated, many times slower
        return (f"--autocast bf16: this CPU ({cpu_name()}) has no bfloat16 arithmetic torch can use "
                f"(AVX-512, AMX or Arm BF16), so nn.{cell.upper()} would fail or run emulated, far slower than "
                f"float32: leave --autocast off")
    layer = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[cell](4, 8)
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            outputs, _ = layer(torch.zeros(2, 2, 4))
        outputs.float().sum().backward()
    except RuntimeError as exc:  # oneDNN: "could not create a primitive descriptor for the LSTM ..."
        reason = str(exc).strip().splitlines()[0].split(". ")[0][:120] if str(exc).strip() else type(exc).__name__
        return f"--autocast bf16 cannot train nn.{cell.upper()} on this CPU ({cpu_name()}: {reason}): leave it off"
    return None
