"""Learning-rate schedules, set per minibatch, and the time budget that can plan them.

``learning_rate`` is a pure function of the step, so a resumed run picks the schedule up exactly.
With ``--max-time`` the number of steps is not known in advance: ``planned_steps`` estimates it from
the speed measured so far, and the trainer re-plans after every epoch.
"""
from __future__ import annotations

import math
import re


def learning_rate(step: int, total_steps: int, base_lr: float, schedule: str = "constant", warmup: int = 0,
                  lr_min: float = 0.0, decay: float = 0.1) -> float:
    """The rate for minibatch ``step`` (0-based) of a run planned at ``total_steps`` minibatches.

    A linear warmup over the first ``warmup`` steps, then: constant; cosine from ``base_lr`` down to
    ``lr_min`` at the last step; step: × ``decay`` at half and again at three quarters of the steps
    after warmup, never below ``lr_min``."""
    if step < warmup:
        return base_lr * (step + 1) / warmup
    if schedule == "constant":
        return base_lr
    progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    if schedule == "cosine":
        return lr_min + 0.5 * (base_lr - lr_min) * (1.0 + math.cos(math.pi * progress))
    if schedule == "step":
        return max(lr_min, base_lr * decay ** ((progress >= 0.5) + (progress >= 0.75)))
    raise ValueError(f"unknown learning-rate schedule {schedule!r}")


def planned_steps(max_steps: int, steps_done: int, seconds_used: float, budget_s: float) -> int:
    """How many minibatches the run will have trained when ``budget_s`` runs out, at the speed so far.

    ``seconds_used`` includes validation, so the estimate pays for it. Without a budget, or before
    any step was timed, the plan is ``max_steps`` (every epoch asked for)."""
    if not budget_s or steps_done <= 0 or seconds_used <= 0:
        return max_steps
    seconds_per_step = seconds_used / steps_done
    return max(steps_done, min(max_steps, steps_done + int((budget_s - seconds_used) / seconds_per_step)))


_DURATION_RE = re.compile(r"^(?:(?P<h>\d+(?:\.\d*)?)h)?(?:(?P<m>\d+(?:\.\d*)?)m)?(?:(?P<s>\d+(?:\.\d*)?)s?)?$")


def parse_duration(text: str) -> float:
    """Seconds in ``90``, ``90s``, ``30m``, ``1h30m``, ``1.5h``; ValueError for anything else."""
    match = _DURATION_RE.match(str(text).strip().lower())
    if not match or not any(match.groups()):
        raise ValueError(f"{text!r} is not a duration (examples: 90s, 30m, 1h30m)")
    return 3600 * float(match["h"] or 0) + 60 * float(match["m"] or 0) + float(match["s"] or 0)


def format_duration(seconds: float) -> str:
    """``1h30m``, ``30m``, ``45s``: the inverse of ``parse_duration`` for whole seconds."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "") + (f"{secs}s" if secs else "")
    return text or "0s"
