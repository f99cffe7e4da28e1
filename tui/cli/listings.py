"""``rnn-tui presets`` and ``rnn-tui corpora``: what there is to choose from, as text."""
from __future__ import annotations

import json


def presets_listing(as_json: bool = False) -> str:
    """``rnn-tui presets``: a paragraph per preset, its options as the command line that would set them."""
    from rnn_tui.engine.presets import PRESETS
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
    from rnn_tui.corpora import REGISTRY
    from rnn_tui.corpora.download import data_dir
    from rnn_tui.tui.formatting import text_table
    def here(source) -> str:
        return "yes" if source.available() else "download" if source.downloadable else "place a copy"
    rows = [[s.name, here(s), s.preprocess, s.description] for s in REGISTRY.values()]
    lines = [text_table(["name", "here", "preprocess", "description"], rows, width=80, flexible=3)]
    lines += ["", "Origins and licences:"]
    lines += [f"  {s.name}: {s.origin} ({s.licence})" for s in REGISTRY.values()]
    lines += ["", "Options (defaults shown):"]
    lines += [f"  --corpus {s.name}:{s.options}" for s in REGISTRY.values() if s.options]
    lines += ["", f"Any UTF-8 file: --corpus-file PATH. Downloads are cached in $RNN_TUI_DATA (now: {data_dir()})."]
    return "\n".join(lines)
