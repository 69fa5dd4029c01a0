"""Executing notebooks headless for CI: each in a fresh kernel (nbclient), against a store
that is by default a throwaway copy of the team's, its new runs tagged ``ci``."""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..store import Store
from ..store.discovery import DB_FILENAME, ENV_VAR
from ..sync.auto import OFF_VAR

CI_TAG = "ci"


@dataclass
class Execution:
    """One notebook executed: how long it took, the runs it recorded, the cell that raised.

    Attributes
    ----------
    notebook : the notebook's path
    seconds : wall time of the execution (kernel start included)
    run_ids : the runs its tracked cells recorded, in order
    error : ``None``, or which cell raised and what (execution stops there)
    cell_ids : the ids of the notebook's cells (those that have one)
    """

    notebook: Path
    seconds: float
    run_ids: list[str] = field(default_factory=list)
    error: str | None = None
    cell_ids: set[str] = field(default_factory=set)


def execute_notebook(path: Path, *, timeout: int = 600,
                     env: dict[str, str] | None = None) -> Any:
    """Run every cell of the notebook at ``path`` in a fresh kernel, in its own directory;
    returns the executed notebook (``nbclient.exceptions.CellExecutionError`` on a raising
    cell, the notebook's outputs up to it kept in the exception's notebook)."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    _execute(notebook, path, timeout, env)
    return notebook


def _execute(notebook: Any, path: Path, timeout: int, env: dict[str, str] | None) -> None:
    from nbclient import NotebookClient

    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.on_cell_execute = _cell_ids(client)
    # Jupyter Server tells a notebook's kernel its path this way; so do we.
    client.execute(env={**(env if env is not None else os.environ),
                        "JPY_SESSION_NAME": str(path)})


def _cell_ids(client: Any) -> Any:
    """A hook that sends each cell's id with its execute request, as JupyterLab does (as
    ``cellId`` metadata; nbclient sends none), so runs record the cell they came from."""
    current: dict[str, str | None] = {}

    def on_cell_execute(cell: Any, cell_index: int) -> None:
        current["id"] = cell.get("id")
        session = client.kc.session
        if getattr(session, "_sends_cell_ids", False):
            return
        make = session.msg

        def msg(msg_type: str, content: Any = None, parent: Any = None, header: Any = None,
                metadata: Any = None) -> Any:
            if msg_type == "execute_request" and current.get("id"):
                metadata = {**(metadata or {}), "cellId": current["id"]}
            return make(msg_type, content, parent, header, metadata)

        session.msg = msg
        session._sends_cell_ids = True

    return on_cell_execute


def copy_store(source: Path, target: Path) -> Path:
    """A consistent copy of the store directory ``source`` at ``target`` (the database through
    SQLite's backup, so a kernel writing meanwhile is no harm; the content-addressed artifacts,
    never rewritten, hard-linked where the file system allows)."""
    target.mkdir(parents=True, exist_ok=True)
    database = source / DB_FILENAME
    if database.exists():
        with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as src, \
                closing(sqlite3.connect(target / DB_FILENAME)) as dst:
            src.backup(dst)
    for item in source.iterdir():
        if item.name.startswith(DB_FILENAME):
            continue
        if item.is_dir():
            shutil.copytree(item, target / item.name, copy_function=_link_or_copy,
                            dirs_exist_ok=True)
        else:
            shutil.copy2(item, target / item.name)
    return target


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def run_notebook(path: Path, store: Store, *, timeout: int = 600) -> Execution:
    """Execute ``path`` with ``store`` as its kernel's store; tag the runs it recorded ``ci``."""
    import nbformat
    from nbclient.exceptions import CellExecutionError

    path = path.resolve()
    started = time.time()
    error = None
    notebook = nbformat.read(path, as_version=4)
    try:
        _execute(notebook, path, timeout, {**os.environ, ENV_VAR: str(store.directory),
                                           OFF_VAR: "0"})  # CI's runs stay off the server
    except CellExecutionError as exc:
        error = f"{_raising_cell(notebook)} raised {_first_line(exc)}"
    except Exception as exc:  # a kernel that died, a timeout
        error = f"{type(exc).__name__}: {_first_line(exc)}"
    seconds = time.time() - started
    rows = store.conn.execute(
        "SELECT run_id FROM runs WHERE notebook = ? AND started_at >= ? ORDER BY started_at",
        [str(path), started]).fetchall()
    run_ids = [row[0] for row in rows]
    for run_id in run_ids:
        store.set_tag(run_id, CI_TAG, "true")
    cell_ids = {cell["id"] for cell in notebook.cells if cell.get("id")}
    return Execution(path, seconds, run_ids, error, cell_ids)


def _first_line(exc: Exception) -> str:
    """The raising cell's error, without nbclient's echo of the source and traceback."""
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    if ename:
        return f"{ename}: {evalue}"
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def _raising_cell(notebook: Any) -> str:
    for number, cell in enumerate(notebook.cells, 1):
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            return f"cell {number} (id {cell.get('id', '?')})"
    return "a cell"
