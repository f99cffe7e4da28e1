"""Named text sources: one choice for the user, from the dashboard and the CLI."""
from __future__ import annotations

import difflib
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from rnn_tui.corpora import download, markov, stdlib
from rnn_tui.corpora.errors import CorpusError
from rnn_tui.corpora.files import read_text_file


@dataclass
class LoadedCorpus:
    text: str
    name: str
    description: str
    preprocess: str = "raw"        # the corpus's default preprocessing
    max_tokens: int = 0            # its default token cap (0 = all)
    prefix: str | None = None      # a fitting default prompt, when the corpus has one
    floor_perplexity: float | None = None

    def info(self) -> dict:
        return {"name": self.name, "description": self.description, "floor_perplexity": self.floor_perplexity,
                "sha1": hashlib.sha1(self.text.encode("utf-8", "surrogatepass")).hexdigest()}


@dataclass
class CorpusSource:
    name: str
    description: str
    origin: str
    licence: str
    preprocess: str
    available: Callable[[], bool]
    load: Callable[[str, int], LoadedCorpus]  # (options after ':', max_tokens) -> corpus
    options: str = ""                         # what may follow "name:"
    downloadable: bool = False                # fetched (and checked) on first use; else always here, or placed


TIMEMACHINE_URL = "http://d2l-data.s3-accelerate.amazonaws.com/timemachine.txt"
TIMEMACHINE_SHA1 = "090b5e7e70c295757f55df93cb0a180b9691891a"
SHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
SHAKESPEARE_SHA1 = "04486597058d11dcc2c556b1d0433891eb639d2e"
TANG_SHA1 = "7cddaae000ae72bdd212622460e90848d36436df"  # no canonical download: a copy you place


def _load_timemachine(_options: str, _max_tokens: int) -> LoadedCorpus:
    path = download.fetch("timemachine.txt", TIMEMACHINE_URL, TIMEMACHINE_SHA1)
    return LoadedCorpus(text=read_text_file(str(path)), name="timemachine",
                        description="The Time Machine, H. G. Wells (d2l's corpus)", preprocess="d2l",
                        max_tokens=10_000, prefix="time traveller")


def _load_shakespeare(_options: str, _max_tokens: int) -> LoadedCorpus:
    path = download.fetch("tinyshakespeare.txt", SHAKESPEARE_URL, SHAKESPEARE_SHA1)
    return LoadedCorpus(text=read_text_file(str(path)), name="tinyshakespeare",
                        description="tiny shakespeare (char-rnn's corpus)", prefix="ROMEO:")


def _load_tang(_options: str, _max_tokens: int) -> LoadedCorpus:
    path = download.cached_file("tang_poems.txt", TANG_SHA1)
    if path is None:
        raise CorpusError(f"tang-poems has no download: put tang_poems.txt (SHA-1 {TANG_SHA1}) in "
                          f"{download.data_dir()}, or set RNN_TUI_DATA to the folder that holds it")
    return LoadedCorpus(text=read_text_file(str(path)), name="tang-poems", prefix="床前明月光",
                        description="Tang poems, one a line (5,509 distinct characters)")


def _load_stdlib(_options: str, _max_tokens: int) -> LoadedCorpus:
    text = stdlib.stdlib_text()
    return LoadedCorpus(text=text, name="python-stdlib", prefix="def ",
                        description=f"Python {stdlib.python_version()} standard-library source, "
                                    f"first {len(text) // 1024} KiB")


def _load_markov(options: str, _max_tokens: int) -> LoadedCorpus:
    spec = markov.MarkovSpec.parse(options)
    chain = markov.MarkovChain(spec)
    text = chain.sample()
    return LoadedCorpus(text=text, name=f"markov:order={spec.order},alphabet={spec.alphabet},seed={spec.seed}",
                        description=f"order-{spec.order} Markov chain over {spec.alphabet} letters, "
                                    f"{spec.length} characters", prefix=text[:spec.order + 1],
                        floor_perplexity=chain.floor_perplexity())


REGISTRY: dict[str, CorpusSource] = {s.name: s for s in (
    CorpusSource("python-stdlib", f"Python {stdlib.python_version()} stdlib source (the default)",
                 "the running interpreter's Lib/ folder", "PSF licence", "raw", lambda: True, _load_stdlib),
    CorpusSource("timemachine", "The Time Machine, d2l chapter 8 (178 KB)",
                 TIMEMACHINE_URL, "public domain (1895)", "d2l",
                 lambda: download.cached_file("timemachine.txt", TIMEMACHINE_SHA1) is not None, _load_timemachine,
                 downloadable=True),
    CorpusSource("tinyshakespeare", "tiny shakespeare, char-rnn's (1.1 MB)", SHAKESPEARE_URL,
                 "public domain", "raw",
                 lambda: download.cached_file("tinyshakespeare.txt", SHAKESPEARE_SHA1) is not None,
                 _load_shakespeare, downloadable=True),
    CorpusSource("tang-poems", "Tang poems, 5,509 characters (a local copy)",
                 "chinese-poetry/chinese-poetry, 全唐诗 poet.tang.*.json, one poem a line", "public domain", "raw",
                 lambda: download.cached_file("tang_poems.txt", TANG_SHA1) is not None, _load_tang),
    CorpusSource("markov", "k-th-order Markov text, exact floor",
                 "generated here, seeded", "none needed", "raw", lambda: True, _load_markov,
                 options="order=1,alphabet=8,length=100000,seed=0,concentration=0.3"),
)}

DEFAULT_CORPUS = "python-stdlib"


def source_for(spec: str) -> tuple[CorpusSource, str]:
    """The registry's source for ``name`` or ``name:options``, and the options; CorpusError, naming the
    closest name, for a name it does not hold. Checks the spec without reading or building any text."""
    name, _, options = spec.partition(":")
    source = REGISTRY.get(name.strip())
    if source is None:
        known = list(REGISTRY)
        close = [known_name for known_name in known if name.strip().lower() in known_name and name.strip()]
        close = close or difflib.get_close_matches(name.strip().lower(), known, n=1, cutoff=0.5)
        hint = f"did you mean {close[0]}? " if close else ""
        raise CorpusError(f"unknown corpus {spec!r}; {hint}`rnn-tui corpora` lists them, or use --corpus-file PATH")
    if options and not source.options:
        raise CorpusError(f"corpus {source.name} takes no options")
    if source.name == "markov":
        markov.MarkovSpec.parse(options)
    return source, options


def load_corpus(spec: str, max_tokens: int = 0) -> LoadedCorpus:
    """Load ``name`` or ``name:options`` from the registry."""
    source, options = source_for(spec)
    return source.load(options, max_tokens)


def load_file_corpus(path: str, encoding: str = "utf-8", errors: str = "strict", max_tokens: int = 0) -> LoadedCorpus:
    text = read_text_file(path, encoding, errors, max_tokens)
    return LoadedCorpus(text=text, name=path, description=f"file {path}")
