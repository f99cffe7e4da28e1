"""The runs table's columns and a run's cells, the same in `rnn-tui runs` and the runs screen (f2)."""
from __future__ import annotations

import math
import time

from rnn_tui.engine.summary import RunSummary
from rnn_tui.tui.formatting import NA, format_number, format_size

MARKERS = ["*", "+", "x", "o", "#", "@", "%", "&"]  # one per run where colour is not to be used


RUNS_HEADER = ["run", "status", "best val (ep)", "windows val", "epochs", "model", "hidden", "corpus", "train",
               "tokens/s", "device", "started", "size", "note"]
RIGHT_ALIGNED = {"best val (ep)", "windows val", "epochs", "train", "tokens/s", "size"}
NARROW = ["run", "status", "best val (ep)", "epochs", "model", "note"]  # what 80 columns hold: `runs`
NARROW_WIDTH = 80


def runs_row(s: RunSummary) -> dict[str, str]:
    """A run's cells of the runs table, by header (``rnn-tui runs`` and the runs screen alike)."""
    epochs = f"{format_number(s.epochs_done, 'd')}/{format_number(s.epochs, 'd')}" if s.epochs_done or s.epochs else NA
    best = f"{s.best_val_perplexity:.3f} ({s.best_val_epoch})" if s.best_val_perplexity is not None else NA
    shape = f"{s.hidden}x{s.layers}" if s.hidden else NA
    started = time.strftime("%Y-%m-%d %H:%M", time.localtime(s.started_at)) if s.started_at else NA
    windows = NA if s.best_val_loss_windows is None else f"{math.exp(min(s.best_val_loss_windows, 700)):.3f}"
    cells = [s.name, s.status, best, windows, epochs, s.model or NA, shape, s.corpus or NA,
             format_number(s.train_perplexity, ".3f"), format_number(s.tokens_per_sec, ",.0f"),
             (s.device or NA).split(" (")[0], started, format_size(s.size_bytes), s.note]
    return dict(zip(RUNS_HEADER, cells))
