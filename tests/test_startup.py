"""The warm-up after ``%load_ext``: it prepares the first tracked cell (imports, the package
index, an existing store) off the cell's path, and changes nothing that cell or ``%mlops`` do."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import Shell

from jupyter_mlops import magics
from jupyter_mlops.store import open_store

WARM_UP = "jupyter-mlops-warm-up"


def warm_up_done() -> None:
    for thread in threading.enumerate():
        if thread.name == WARM_UP:
            thread.join(60)
            assert not thread.is_alive()


def test_loading_the_extension_creates_no_store(shell: Shell, store_dir: Path,
                                                tmp_path: Path) -> None:
    shell.run("x = 1")
    warm_up_done()
    assert not store_dir.exists() and not (tmp_path / ".mlops").exists()
    assert shell.run("%%track first\ny = x + 1").result.success
    assert list(shell.store().runs()["name"]) == ["first"]


def test_the_warm_up_opens_an_existing_store_for_the_first_cell(shell: Shell,
                                                                 store_dir: Path) -> None:
    open_store(store_dir).close()
    shell.run("%reload_ext jupyter_mlops")
    warm_up_done()
    assert magics._state is not None and magics._state._store is not None
    assert magics._state._store.directory == store_dir
    assert shell.run("%%track first\nx = 1").result.success
    assert list(shell.store().runs()["name"]) == ["first"]


@pytest.mark.parametrize("move", ["environment", "directory"])
def test_the_first_cell_records_where_the_store_is_found_when_it_runs(
    shell: Shell, store_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, move: str
) -> None:
    """Given a store opened by the warm-up, when $JUPYTER_MLOPS_STORE or the working directory
    changes before the first tracked cell, then that cell records in the store found now."""
    open_store(store_dir).close()
    shell.run("%reload_ext jupyter_mlops")
    warm_up_done()
    if move == "environment":
        other = tmp_path / "other"
        monkeypatch.setenv("JUPYTER_MLOPS_STORE", str(other))
    else:
        monkeypatch.delenv("JUPYTER_MLOPS_STORE")
        project = tmp_path / "project"
        other = project / ".mlops"
        open_store(other).close()
        monkeypatch.chdir(project)
    assert shell.run("%%track moved\nx = 1").result.success
    with open_store(other) as moved, open_store(store_dir) as first:
        assert list(moved.runs()["name"]) == ["moved"] and first.count_runs() == 0


def test_the_store_chosen_in_the_loading_cell_is_kept(shell: Shell, store_dir: Path,
                                                      tmp_path: Path) -> None:
    open_store(store_dir).close()  # the one discovery would find
    other = tmp_path / "chosen"
    shell.run(f"%reload_ext jupyter_mlops\n%mlops store {other}")
    warm_up_done()
    shell.run("%%track here\nx = 1")
    with open_store(other) as chosen:
        assert list(chosen.runs()["name"]) == ["here"]


def test_mlops_help_and_first_use_need_no_warm_up(shell: Shell) -> None:
    assert "Browse the store and run the lifecycle commands" in shell.run("%mlops?").stdout
    assert "store:" in shell.run("%mlops store").stdout
    assert "Browse the store and run the lifecycle commands" in shell.run("%mlops?").stdout


def test_a_kernel_that_exits_during_the_warm_up_exits_cleanly(tmp_path: Path) -> None:
    """The thread is waited for at exit: nothing is printed, no run is left half-written."""
    open_store(tmp_path / "store").close()
    code = ("from IPython.core.interactiveshell import InteractiveShell\n"
            "shell = InteractiveShell.instance()\n"
            "shell.run_cell('%load_ext jupyter_mlops')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120,
                          env={**os.environ, "JUPYTER_MLOPS_STORE": str(tmp_path / "store")})
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    with open_store(tmp_path / "store") as store:
        assert store.check() == []


RUN_ALL = """
import sys, threading
from IPython.core.interactiveshell import InteractiveShell
touched = set()  # the installed distributions whose metadata the kernel's thread reads

def audit(event, args):
    path = str(args[0]) if event == 'open' else ''
    if (watching and path.endswith(('/METADATA', '/entry_points.txt'))
            and threading.current_thread() is threading.main_thread()):
        touched.add(path.split('/')[-2])

watching = False
sys.addaudithook(audit)
shell = InteractiveShell.instance()
shell.run_cell('%load_ext jupyter_mlops\\nx = 1')
watching = True
assert shell.run_cell(CELL).success
watching = False
print(len(touched), sorted(touched))
"""


@pytest.mark.parametrize("cell", ["%%track first\ny = x + 1",
                                  "%%track first\nimport numpy\ny = numpy.int64(x) + 1"])
def test_a_cell_right_after_loading_reads_only_its_own_distributions(cell: str,
                                                                     tmp_path: Path) -> None:
    """Run All: the first tracked cell comes straight after the loading cell. It reads the
    metadata of no installed distribution but those of its modules (before: of every one,
    twice: the package index and sqlite-utils' plugins, 0.15 s of CPU)."""
    open_store(tmp_path / "store").close()
    done = subprocess.run([sys.executable, "-c", f"CELL = {cell!r}\n" + RUN_ALL],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120, check=True,
                          env={**os.environ, "JUPYTER_MLOPS_STORE": str(tmp_path / "store")})
    count, names = done.stdout.splitlines()[-1].split(" ", 1)
    assert int(count) <= 3, names  # numpy's; python-ulid's version if this thread imports it
