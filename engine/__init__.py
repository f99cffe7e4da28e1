"""The headless core of rnn-tui: d2l chapter 8 language modelling, without Textual.

text -> vocab -> samplers -> models -> clipping -> trainer (events) -> generation.
"""
