import os
import signal
import tempfile
import sys
from pathlib import Path

import pytest

SHARED_CORPORA = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Runs write under a temp folder; downloads never hit the network unless a test says so."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RNN_TUI_DATA", str(SHARED_CORPORA) if SHARED_CORPORA.is_dir() else str(tmp_path / "data"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # the per-user index of runs: this test's own


@pytest.fixture(autouse=True)
def _no_run_outlives_its_test(tmp_path):
    """A failing test may leave a detached run training: it would slow every later test, so it ends here."""
    yield
    from rnn_tui.engine.watch import run_info
    for status in tmp_path.rglob("status.json"):
        info = run_info(status.parent)
        if info.state == "live" and info.on_this_host and info.pid != os.getpid():
            os.kill(info.pid, signal.SIGKILL)


@pytest.fixture(autouse=True)
def _default_c_kernels():
    """Tests may pick the C module's kernels for an instruction set (helpers.use_c_kernels): undone after."""
    yield
    native = sys.modules.get("rnn_tui.engine.kernels.native")  # not imported here: a test checks what --help imports
    if native is not None:
        native.use(native.default_instruction_set())  # the import's choice


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
    # runs made outside any test (module fixtures) are named in an index of the session's, not the user's
    os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="rnn-tui-test-state-")
