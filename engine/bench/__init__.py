"""``rnn-tui bench``: rnn-tui's speed against d2l's textbook loop on the same machine.

- ``paths.py``: what is timed (the textbook loop as d2l writes it, the fast path, the concise models,
  generation).
- ``timing_process.py``: the child processes the training runs are timed in, one per allocator setting.
- ``roofline.py``: what the hardware allows (GFLOP/s of the products, work per token, peak memory).
- ``suite.py``: the whole benchmark, alternating paths, as ``rnn-tui bench`` runs it.

The dashboard's own cost (``--dashboard``) is measured by the front end that drives it,
tui/cli/bench_dashboard.py. docs/benchmarks.md holds the latest figures and the commands that produced them.
"""
