"""``rnn-tui presets`` and ``rnn-tui corpora``: what there is to choose from, as text."""
from __future__ import annotations

import json


def presets_listing(as_json: bool = False) -> str:
    """``rnn-tui presets``: a paragraph per preset, its options as the command line that would set them."""
    from ..engine.presets import PRESETS
    if as_json:
        return json.dumps({p.name: {"purpose": p.purpose, "options": p.options} for p in PRESETS.values()}, indent=2)
    blocks = []
    for preset in PRESETS.values():
        options = " ".join(f"--{k.replace('_', '-')} {v:g}" if isinstance(v, float) else f"--{k.replace('_', '-')} {v}"
                           for k, v in preset.options.items())
        blocks.append(f"{preset.name}\n  {preset.purpose}\n  {options}")
    return "\n\n".join(blocks) + "\n\nrnn-tui train --preset NAME [options]: the options you give win over the preset's."


def corpora_table() -> str:
    """The registry as a table that fits 80 columns; origins and options follow it, one per line."""
    from ..corpora import REGISTRY
    from ..corpora.download import data_dir
    rows = [("name", "offline", "preprocess", "description")]
    rows += [(s.name, "yes" if s.available() else "download", s.preprocess, s.description) for s in REGISTRY.values()]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join([*(cell.ljust(w) for cell, w in zip(row, widths)), row[3]]) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in (*widths, len("description"))))
    lines += ["", "Origins and licences:"]
    lines += [f"  {s.name}: {s.origin} ({s.licence})" for s in REGISTRY.values()]
    lines += ["", "Options (defaults shown):"]
    lines += [f"  --corpus {s.name}:{s.options}" for s in REGISTRY.values() if s.options]
    lines += ["", f"Any UTF-8 file: --corpus-file PATH. Downloads are cached in $RNN_TUI_DATA (now: {data_dir()})."]
    return "\n".join(lines)
