"""Named text sources for rnn-tui (no torch here: the CLI lists them instantly)."""
from .errors import CorpusError
from .registry import DEFAULT_CORPUS, REGISTRY, LoadedCorpus, load_corpus, load_file_corpus, source_for

__all__ = ["CorpusError", "DEFAULT_CORPUS", "REGISTRY", "LoadedCorpus", "load_corpus", "load_file_corpus", "source_for"]
