"""The documents say what the code does: events, keys, d2l's names, links, the set-up commands."""
import re
from dataclasses import fields
from pathlib import Path

import pytest

from rnn_tui.engine import events as ev
from rnn_tui.tui.app import RnnTuiApp
from rnn_tui.tui.screens import key_map

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def sections(markdown: str) -> dict[str, str]:
    """``## title`` -> the text under it."""
    parts = re.split(r"^## (.+)$", markdown, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2]))


def first_column(section: str) -> list[str]:
    """The first cell of each table row, backticks removed, header and rule left out."""
    rows = [line.split("|")[1].strip() for line in section.splitlines() if line.startswith("|")]
    return [cell.strip("`") for cell in rows[2:]]


def test_events_page_lists_every_event_and_field_of_the_code():
    documented = sections((ROOT / "docs" / "events.md").read_text(encoding="utf-8"))
    assert list(documented) == list(ev.EVENT_TYPES)
    for name, cls in ev.EVENT_TYPES.items():
        assert first_column(documented[name]) == [f.name for f in fields(cls)], name


def test_readme_key_table_is_the_apps_key_map():
    rows = [tuple(cell.strip() for cell in line.split("|")[1:3]) for line in sections(README)["Keys"].splitlines()
            if line.startswith("|")][2:]
    assert rows == key_map(RnnTuiApp)


def test_architecture_names_each_d2l_function_where_it_is_defined():
    table = sections((ROOT / "docs" / "architecture.md").read_text(encoding="utf-8"))["Where d2l's functions are"]
    rows = [line.split("|")[1:4] for line in table.splitlines() if line.startswith("|")][2:]
    assert len(rows) >= 10
    for _d2l, ours, where in rows:
        name = re.search(r"`(\w+)`", ours).group(1)
        path = ROOT / re.search(r"\((\.\./)?([^)]+)\)", where).group(2)
        assert re.search(rf"^\s*(def|class) {name}\b", path.read_text(encoding="utf-8"), re.MULTILINE), (name, path)


@pytest.mark.parametrize("document", ["README.md", "docs/architecture.md", "docs/benchmarks.md", "docs/events.md",
                                      "docs/runs.md"])
def test_every_link_to_a_file_of_the_project_leads_to_one(document):
    path = ROOT / document
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", path.read_text(encoding="utf-8")):
        if "://" not in target:
            assert (path.parent / target).exists(), f"{document} links to {target}, which is not there"


def test_every_promise_names_a_test_that_exists():
    table = sections((ROOT / "docs" / "runs.md").read_text(encoding="utf-8"))["What is promised, and the test that holds it"]
    named = re.findall(r"`(tests/\w+\.py)::(\w+)`", table)
    assert len(named) >= 20
    for path, test in named:
        assert re.search(rf"^(async )?def {test}\(", (ROOT / path).read_text(encoding="utf-8"), re.MULTILINE), (path, test)


def test_ci_runs_the_readmes_test_command():
    setup = re.findall(r"^python3 -m pip .*$", README, flags=re.MULTILINE)
    assert len(setup) == 2 and setup[1].endswith("python3 -m pytest -q")
    assert setup[1] in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_runs_page_names_every_field_of_status_json_and_every_command(tmp_path):
    from rnn_tui.engine.control import COMMANDS, TrainControl
    from rnn_tui.engine.live import LiveRun
    from rnn_tui.engine.runs import RunDir
    documented = sections((ROOT / "docs" / "runs.md").read_text(encoding="utf-8"))
    run = RunDir(tmp_path / "run")
    with LiveRun(run, TrainControl()):
        written = list(run.read_status())
    assert first_column(documented["status.json"]) == written
    assert first_column(documented["The control socket"]) == list(COMMANDS)
    files = first_column(documented["Files"])
    for name in ("config", "metrics", "events", "status", "socket", "lock", "log", "checkpoint", "best", "note"):
        assert getattr(run, f"{name}_path").name in files, name
