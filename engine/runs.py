"""Run folders: ``config.json``, ``metrics.jsonl``, ``samples.txt`` and ``checkpoint.pt``."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from .checkpoint import CHECKPOINT_NAME


def default_run_dir(model: str, root: str | os.PathLike = "runs") -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path(root) / f"{stamp}-{model}"
    suffix = 1
    while path.exists():  # two runs started in the same second
        suffix += 1
        path = Path(root) / f"{stamp}-{model}-{suffix}"
    return path


class RunDir:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    @property
    def checkpoint_path(self) -> Path:
        return self.path / CHECKPOINT_NAME

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    def create(self, config: dict) -> "RunDir":
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n",
                                               encoding="utf-8")
        return self

    def append_metrics(self, record: dict) -> None:
        self._append("metrics.jsonl", json.dumps(record, ensure_ascii=False) + "\n")

    def append_sample(self, epoch: int, text: str, final: bool = False) -> None:
        self._append("samples.txt", f"--- epoch {epoch}{', final' if final else ''}\n{text}\n")

    def truncate_metrics(self, last_epoch: int) -> None:
        """On resume, drop lines for epochs after the checkpoint (they will be trained again)."""
        if not self.metrics_path.exists():
            return
        kept = [line for line in self.metrics_path.read_text(encoding="utf-8").splitlines()
                if line.strip() and json.loads(line).get("epoch", 0) <= last_epoch]
        self.metrics_path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")

    def _append(self, name: str, text: str) -> None:
        with open(self.path / name, "a", encoding="utf-8") as handle:
            handle.write(text)
