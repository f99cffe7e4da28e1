"""A runs root of many finished runs, for timing ``rnn-tui runs`` (docs/benchmarks.md).

    python scripts/make_runs_root.py /tmp/many --runs 500 --epochs 500
    time rnn-tui runs --root /tmp/many > /dev/null

One real 1-epoch run is trained, then copied ``--runs`` times with its metrics repeated to
``--epochs`` lines (its status.json saying so) and its checkpoint left out (``runs`` never opens it).
"""
import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("root", type=Path)
parser.add_argument("--runs", type=int, default=500)
parser.add_argument("--epochs", type=int, default=500)
parser.add_argument("--without-status", action="store_true",
                    help="leave status.json out, as in folders older than it: runs reads their metrics instead")
args = parser.parse_args()

template = args.root / "template"
subprocess.run([sys.executable, "-m", "rnn_tui.tui.cli", "train", "--corpus", "markov:length=20000", "--hidden", "16",
                "--epochs", "1", "--device", "cpu", "--run-dir", str(template)], check=True, stdout=subprocess.DEVNULL)
record = json.loads((template / "metrics.jsonl").read_text().splitlines()[0])
metrics = "".join(json.dumps({**record, "epoch": e, "val_perplexity": record["val_perplexity"] + 1 / e}) + "\n"
                  for e in range(1, args.epochs + 1))
(template / "checkpoint.pt").unlink()
status = json.loads((template / "status.json").read_text())
status.update(epoch=args.epochs, epochs=args.epochs, best_val_epoch=args.epochs,
              best_val_perplexity=record["val_perplexity"] + 1 / args.epochs)
(template / "status.json").write_text(json.dumps(status))
if args.without_status:
    (template / "status.json").unlink()
for i in range(args.runs):
    folder = args.root / f"run-{i:04d}"
    shutil.copytree(template, folder)
    (folder / "metrics.jsonl").write_text(metrics)
shutil.rmtree(template)
print(f"{args.runs} runs of {args.epochs} epochs under {args.root}")
