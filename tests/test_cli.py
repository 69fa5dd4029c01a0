"""The jupyter-mlops command line, run as a user runs it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from jupyter_mlops import open_store
from jupyter_mlops.store import RunResult

CLI = [sys.executable, "-m", "jupyter_mlops.cli"]


def cli(*args: str, store: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "--store", str(store), *args], capture_output=True, text=True)


def seeded(tmp_path: Path) -> Path:
    with open_store(tmp_path) as store:
        store.start_run("01CLI", name="cli-run", experiment="e", source="x = 1",
                        source_hash="h", started_at=time.time())
        store.finish_run("01CLI", RunResult(status="finished", ended_at=time.time(),
                                            params={"C": 1}, metrics=[("acc", 0.9, 0, 1.0)]))
    return tmp_path


def test_runs_show_lineage(tmp_path: Path) -> None:
    store = seeded(tmp_path)
    listing = cli("runs", store=store)
    assert listing.returncode == 0 and "cli-run" in listing.stdout and "acc" in listing.stdout
    shown = cli("show", "cli-run", store=store)
    assert shown.returncode == 0 and "C = 1" in shown.stdout
    assert cli("lineage", "01CLI", store=store).returncode == 0


def test_unknown_run_is_a_clear_error(tmp_path: Path) -> None:
    done = cli("show", "nope", store=seeded(tmp_path))
    assert done.returncode == 2 and "no run 'nope'" in done.stderr
    assert "Traceback" not in done.stderr


def test_doctor_reports_problems_with_exit_code(tmp_path: Path) -> None:
    store = seeded(tmp_path)
    assert cli("doctor", store=store).returncode == 0
    with open_store(store) as opened:
        sha = opened.put_artifact(b"model bytes")
        opened.artifacts.path(sha).write_bytes(b"changed")
    done = cli("doctor", store=store)
    assert done.returncode == 1 and "no longer matches" in done.stdout


def test_corrupt_store_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "lineage.db").write_bytes(b"nonsense" * 100)
    done = cli("runs", store=tmp_path)
    assert done.returncode == 2 and "not a readable jupyter-mlops store" in done.stderr


def test_jupyter_subcommand_is_installed() -> None:
    bindir = Path(sys.executable).parent
    done = subprocess.run([str(bindir / "jupyter"), "mlops", "--help"], capture_output=True,
                          text=True)
    assert done.returncode == 0 and "doctor" in done.stdout
