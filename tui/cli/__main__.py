"""``python -m rnn_tui.tui.cli``: what torchrun starts, and the same as ``rnn-tui``."""
from rnn_tui.tui.cli import main

main()
