import hashlib
import os
import subprocess
import sys

import pytest

from rnn_tui.corpora import REGISTRY, CorpusError, load_corpus, load_file_corpus
from rnn_tui.corpora import download
from rnn_tui.corpora.markov import MarkovChain, MarkovSpec
from rnn_tui.corpora.registry import TIMEMACHINE_SHA1
from rnn_tui.corpora.stdlib import stdlib_text
from conftest import shared_corpus


def test_registry_lists_the_required_sources():
    assert {"timemachine", "python-stdlib", "markov"} <= set(REGISTRY)
    for source in REGISTRY.values():
        assert source.description and source.origin and source.licence and source.preprocess in ("d2l", "raw")


def test_offline_default_is_deterministic_capped_and_versioned():
    corpus = load_corpus("python-stdlib")
    assert corpus.text == stdlib_text() and 100_000 < len(corpus.text) <= 256 * 1024
    assert f"Python {sys.version_info.major}.{sys.version_info.minor}" in corpus.description


def test_markov_entropy_rate_is_exact_for_a_known_chain():
    # alphabet 2, order 1: compare with the closed form of a two-state chain.
    chain = MarkovChain(MarkovSpec(order=1, alphabet=2, seed=3))
    (p00, p01), (p10, p11) = chain.next_probs[(0,)], chain.next_probs[(1,)]
    pi0 = p10 / (p01 + p10)
    import math
    h = lambda p, q: -(p * math.log(p) + q * math.log(q))
    assert chain.entropy_rate() == pytest.approx(pi0 * h(p00, p01) + (1 - pi0) * h(p10, p11), rel=1e-9)


def test_markov_options_and_floor():
    corpus = load_corpus("markov:order=1,alphabet=4,length=5000,seed=2")
    assert set(corpus.text) <= set("abcd") and len(corpus.text) == 5000
    assert 1 < corpus.floor_perplexity < 4
    assert load_corpus("markov:order=1,alphabet=4,length=5000,seed=2").text == corpus.text
    with pytest.raises(CorpusError, match="unknown markov option"):
        load_corpus("markov:colour=blue")


def test_timemachine_from_the_data_folder_with_no_network(monkeypatch):
    shared_corpus("timemachine.txt")
    monkeypatch.setattr(download.urllib.request, "urlopen", _no_network)
    corpus = load_corpus("timemachine")
    assert corpus.preprocess == "d2l" and corpus.max_tokens == 10_000
    assert hashlib.sha1(corpus.text.encode()).hexdigest() == TIMEMACHINE_SHA1


def _no_network(*_args, **_kwargs):
    raise OSError("network is unreachable")


def test_no_network_says_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("RNN_TUI_DATA", str(tmp_path / "cache"))
    monkeypatch.setattr(download.urllib.request, "urlopen", _no_network)
    with pytest.raises(CorpusError, match=r"put a copy .* at .*timemachine.txt"):
        load_corpus("timemachine")


class _FakeResponse:
    def __init__(self, body):
        self.body, self.headers = body, {"Content-Length": str(len(body))}

    def read(self, n):
        chunk, self.body = self.body[:n], self.body[n:]
        return chunk

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_download_verified_and_a_mismatch_is_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("RNN_TUI_DATA", str(tmp_path))
    monkeypatch.setattr(download.urllib.request, "urlopen", lambda *a, **k: _FakeResponse(b"not the novel"))
    with pytest.raises(CorpusError, match="does not match its SHA-1"):
        load_corpus("timemachine")
    assert not any(tmp_path.iterdir())
    body = b"hello world\n" * 100
    monkeypatch.setattr(download.urllib.request, "urlopen", lambda *a, **k: _FakeResponse(body))
    seen = []
    path = download.fetch("x.txt", "http://example.invalid/x", hashlib.sha1(body).hexdigest(),
                          progress=lambda done, total: seen.append((done, total)))
    assert path.read_bytes() == body and seen[-1] == (len(body), len(body))


def test_a_download_larger_than_the_cap_is_refused_before_it_fills_the_disk(tmp_path, monkeypatch):
    class Endless(_FakeResponse):
        def __init__(self):
            super().__init__(b"")
            self.headers = {}  # no length announced: the cap counts what arrives

        def read(self, n):
            return b"x" * n
    monkeypatch.setenv("RNN_TUI_DATA", str(tmp_path))
    monkeypatch.setattr(download.urllib.request, "urlopen", lambda *a, **k: Endless())
    with pytest.raises(CorpusError, match="sent more than 1 MiB"):
        download.fetch("x.txt", "http://example.invalid/x", "0" * 40, max_bytes=2**20)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("content,message", [
    (None, "not found"), ("DIR", "is a directory"), (b"", "is empty"), (b"ab\x00cd", "binary"),
    (b"caf\xc3\xa9 ok \xff bad", "not valid utf-8 at byte offset 9:"), ("FIFO", "not a regular file"),
])
def test_bad_files_get_one_clear_error(tmp_path, content, message):
    path = tmp_path / "corpus.txt"
    if content == "DIR":
        path.mkdir()
    elif content == "FIFO":
        os.mkfifo(path)  # reading it would block forever
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(CorpusError, match=message):
        load_file_corpus(str(path))


def test_invalid_utf8_can_be_replaced_or_decoded_otherwise(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes("café".encode("latin-1"))
    assert load_file_corpus(str(path), errors="replace").text == "caf\ufffd"
    assert load_file_corpus(str(path), encoding="latin-1").text == "café"


@pytest.mark.parametrize("options", ["alphabet=26,order=4", "alphabet=8,order=6", "length=100000000"])
def test_a_markov_chain_too_big_to_build_in_seconds_is_refused_naming_the_limit(options):
    with pytest.raises(CorpusError, match=r"length ≤ 5,000,000.*alphabet\^\(order\+1\) ≤ 200,000"):
        load_corpus(f"markov:{options}")


def test_utf16_text_is_text_when_its_encoding_is_named(tmp_path):
    path = tmp_path / "wide.txt"
    path.write_bytes("time traveller".encode("utf-16"))
    assert load_file_corpus(str(path), encoding="utf-16").text == "time traveller"
    with pytest.raises(CorpusError, match="binary"):
        load_file_corpus(str(path))  # without it, its NUL bytes do look binary


def test_tang_poems_load_with_their_large_alphabet():
    corpus = load_file_corpus(str(shared_corpus("tang_poems.txt")))
    assert len(set(corpus.text)) == 5510  # 5,509 characters plus newline


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads peak memory from Linux's /proc")
def test_huge_file_reads_only_what_max_tokens_needs(tmp_path):
    """A 4 GiB sparse file: text at the start, then a hole. Memory stays bounded."""
    path = tmp_path / "huge.txt"
    with open(path, "wb") as handle:
        handle.write(b"hello world, " * 100_000)  # 1.3 MB of text, then a 4 GiB hole
        handle.truncate(4 * 2**30)
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the (large) pytest parent across exec.
    code = ("from rnn_tui.corpora import load_file_corpus; "
            f"t = load_file_corpus({str(path)!r}, max_tokens=50_000).text; "
            "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]; "
            "print(len(t), hwm)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    length, peak_kib = map(int, out.stdout.split())
    assert 50_000 <= length <= 8 * 50_000
    assert peak_kib < 200 * 1024  # far below the 4 GiB file
    with pytest.raises(CorpusError, match="above the .* memory budget; pass --max-tokens"):
        load_file_corpus(str(path))


def test_tang_poems_come_from_the_data_folder_and_say_where_to_put_them(tmp_path, monkeypatch):
    shared_corpus("tang_poems.txt")
    corpus = load_corpus("tang-poems")
    assert corpus.text.count("\n") == 6003 and corpus.preprocess == "raw"
    monkeypatch.setenv("RNN_TUI_DATA", str(tmp_path))
    with pytest.raises(CorpusError, match=f"put tang_poems.txt .* in {tmp_path}"):
        load_corpus("tang-poems")
