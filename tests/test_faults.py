"""Tracking never breaks the cell: faults become one warning, the cell's result stays."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from conftest import Shell

from jupyter_mlops.store import store as store_module


def test_locked_store_warns_and_keeps_the_result(
    shell: Shell, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_S", 0.2)
    shell.run("%reload_ext jupyter_mlops")
    shell.store()  # opened with the short timeout
    blocker = sqlite3.connect(store_dir / "lineage.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        cell = shell.run("%%track locked\nanswer = 6 * 7\nanswer")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert cell.result.success and cell.value == 42 and shell.ns["answer"] == 42
    assert "jupyter-mlops" in cell.stderr and "could not be recorded" in cell.stderr
    assert "locked" in cell.stderr
    assert shell.run("%%track after\nx = 1").result.success
    assert list(shell.store().runs()["name"]) == ["after"]


def test_full_disk_warns_keeps_the_result_and_the_loop_speed(
    shell: Shell, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = shell.store()
    shell.run("%%track before\nx = 1")
    pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    # SQLite's own "database or disk is full" (SQLITE_FULL), as on a full disk.
    store.conn.execute(f"PRAGMA max_page_count = {pages}")
    flushes: list[int] = []
    log_metrics = store.log_metrics
    monkeypatch.setattr(store, "log_metrics", lambda run_id, points: (
        flushes.append(len(points)), log_metrics(run_id, points)))
    cell = shell.run("%%track full\nimport jupyter_mlops as mlops\ntotal = 0\n"
                     "for step in range(20_000):\n"
                     "    total += step\n    mlops.log_metric('loss', 1 / (step + 1), step)\n"
                     "total")
    assert cell.result.success and cell.value == shell.ns["total"] == 199_990_000
    assert "could not be recorded" in cell.stderr and "full" in cell.stderr
    assert len(flushes) == 1  # one failed live flush, then the points wait for the end
    store.conn.execute("PRAGMA max_page_count = 1073741823")
    assert shell.run("%%track after\ny = 2").result.success
    runs = store.runs().set_index("name")
    assert list(runs.index) == ["after", "full", "before"]
    assert runs.loc["full", "status"] == "interrupted"  # not left `running` for ever
    assert "could not record the end of this run" in store.get_run("full").error


def test_unusable_store_location_warns_and_the_cell_runs(
    shell: Shell, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "plainfile").write_text("not a directory")
    monkeypatch.setenv("JUPYTER_MLOPS_STORE", str(tmp_path / "plainfile" / "store"))
    shell.run("%reload_ext jupyter_mlops")
    cell = shell.run("%%track nowhere\nimport jupyter_mlops as mlops\n"
                     "mlops.log_metric('acc', 0.5)\nvalue = 'kept'\nvalue")
    assert cell.result.success and cell.value == "kept"
    assert "will not be recorded" in cell.stderr and "cannot open the store" in cell.stderr


def test_corrupt_store_warns_naming_the_file(shell: Shell, store_dir: Path) -> None:
    store_dir.mkdir(parents=True)
    (store_dir / "lineage.db").write_bytes(b"garbage" * 1000)
    shell.run("%reload_ext jupyter_mlops")
    cell = shell.run("%%track\nx = 3")
    assert cell.result.success and shell.ns["x"] == 3
    assert "lineage.db is not a readable jupyter-mlops store" in cell.stderr
    assert (store_dir / "lineage.db").read_bytes() == b"garbage" * 1000


def test_unfingerprintable_input_is_skipped_with_a_warning(shell: Shell) -> None:
    shell.run("import pandas as pd\nweird = pd.DataFrame({'f': [[lambda: 1]]})\n"
              "fine = pd.DataFrame({'a': [1, 2]})")
    cell = shell.run("%%track odd\nrows = len(weird) + len(fine)\nrows")
    assert cell.result.success and cell.value == 3
    run = shell.store().get_run("odd")
    assert [e.name for e in run.inputs] == ["fine"]
    assert any("input weird not recorded" in w for w in run.warnings)
    assert "input weird not recorded" in cell.stdout


def test_data_option_on_non_data_warns(shell: Shell) -> None:
    shell.run("numbers = [1, 2, 3]")
    cell = shell.run("%%track --data numbers\ntotal = sum(numbers)")
    assert cell.result.success and shell.ns["total"] == 6
    run = shell.store().get_run(shell.store().runs()["run_id"][0])
    assert any("--data numbers is a list" in w for w in run.warnings)


def test_model_option_on_non_model_warns(shell: Shell) -> None:
    cell = shell.run("%%track --model thing\nthing = 'not a model'")
    assert cell.result.success
    run = shell.store().get_run(shell.store().runs()["run_id"][0])
    assert any("--model thing is a str" in w for w in run.warnings)
