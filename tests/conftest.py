import os
from pathlib import Path

import pytest

SHARED_CORPORA = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Runs write under a temp folder; downloads never hit the network unless a test says so."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RNN_TUI_DATA", str(SHARED_CORPORA) if SHARED_CORPORA.is_dir() else str(tmp_path / "data"))
    monkeypatch.setenv("NO_COLOR", "1")


def shared_corpus(name: str) -> Path:
    path = SHARED_CORPORA / name
    if not path.is_file():
        pytest.skip(f"{path} is absent: the shared corpora folder is not beside this checkout")
    return path


@pytest.fixture
def timemachine_text() -> str:
    return shared_corpus("timemachine.txt").read_text(encoding="utf-8")


def pytest_configure(config):
    os.environ.setdefault("OMP_NUM_THREADS", "2")
