"""Named text sources for rnn-tui (no torch here: the CLI lists them instantly)."""
from rnn_tui.corpora.errors import CorpusError
from rnn_tui.corpora.registry import DEFAULT_CORPUS, REGISTRY, LoadedCorpus, load_corpus, load_file_corpus, source_for

__all__ = ["CorpusError", "DEFAULT_CORPUS", "REGISTRY", "LoadedCorpus", "load_corpus", "load_file_corpus", "source_for"]
