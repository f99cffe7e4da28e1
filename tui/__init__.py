"""rnn-tui's front ends: the click CLI and the Textual dashboard."""
