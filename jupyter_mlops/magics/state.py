"""What the extension keeps per kernel, and what both magics share.

``%load_ext`` imports only this, :mod:`.track` and the cell analysis. At the end of the cell
that loaded the extension, a daemon thread warms up what the first tracked cell needs (the
recorder and its libraries, the package index, an existing store), so that cell does not pay
for it, then what ``%mlops`` needs; what the warm-up did not do, the kernel's thread does.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shlex
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from IPython.core.error import UsageError
from IPython.core.interactiveshell import ExecutionInfo, ExecutionResult, InteractiveShell

from ..capture.analysis import analyze
from ..capture.cells import CellHistory

if TYPE_CHECKING:
    from ..store import Store

TRACK_PREFIX = "%%track"
EXIT_WAIT_S = 5.0  # how long an exiting kernel waits for an unfinished warm-up


def warn(message: str) -> None:
    """One line on stderr: tracking problems never raise into the user's cell."""
    print(f"⚠ jupyter-mlops: {message}", file=sys.stderr)


def split_line(line: str) -> list[str]:
    """A magic's arguments, split as a shell would (quotes group words and are removed)."""
    try:
        return shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"cannot read the arguments {line!r} ({exc}): quote a value with "
                         "spaces as \"two words\"") from None


class KernelState:
    """What the extension keeps per kernel: the store, the cell history, the current cell.

    ``warm_up_last`` is the warm-up's last step (importing what the other magics need).
    """

    def __init__(self, shell: InteractiveShell,
                 warm_up_last: Callable[[], object] | None = None) -> None:
        self.shell = shell
        self.history = CellHistory()
        self.store_path: Path | None = None
        self._store: Store | None = None
        self.nesting = 0
        self.current: ExecutionInfo | None = None
        self._warm_up_last = warm_up_last
        self._warm_up_due = True
        self._warming: threading.Thread | None = None
        self._warmed_for: Path | None = None  # where discovery led when the warm-up opened
        self._stop = threading.Event()  # set: the warm-up starts no further step

    def store(self) -> Store:
        """The store of this kernel, opened on first use."""
        from ..store import open_store

        self._end_warm_up()
        if self._store is None:
            self._store = open_store(self.store_path)
        return self._store

    def auto_push(self) -> None:
        """After a run is recorded: push the store in the background when its ``sync.uri``
        setting names a server (``jupyter-mlops config sync.uri URI``)."""
        from ..store.settings import get

        try:
            store = self.store()
            uri = get(store, "sync.uri")
            if uri:
                from ..sync.auto import request

                request(store.directory, uri, warn)
        except Exception as exc:  # never into the cell
            warn(f"auto-push not started: {exc}")

    def use_store(self, path: str | None) -> Store:
        """Switch to another store directory (``None``: discover again); the current store
        stays in use when the new one cannot be opened."""
        from ..store import open_store

        self._end_warm_up()
        store_path = Path(path).expanduser() if path else None
        opened = open_store(store_path)
        self.close()
        self._store, self.store_path = opened, store_path
        return opened

    def close(self) -> None:
        self._end_warm_up()
        if self._store is not None:
            self._store.close()
            self._store = None

    # -- warm-up ---------------------------------------------------------------------------
    def _start_warm_up(self) -> None:
        """Start the warm-up thread, once per kernel state."""
        if not self._warm_up_due:
            return
        self._warm_up_due = False
        thread = threading.Thread(target=self._warm_up, daemon=True, name="jupyter-mlops-warm-up")
        thread.start()
        self._warming = thread
        atexit.register(self._end_warm_up, EXIT_WAIT_S)

    def _warm_up(self) -> None:
        """On the warm-up thread: import the recorder, read the package index, open an
        existing store, then the last step (the imports of ``%mlops``).

        A step that fails is skipped, and no step starts once someone waits for the thread:
        the kernel's thread does what is left (and reports what fails). It creates no store
        (loading the extension writes nothing) and prints nothing.
        """
        steps = (self._import_recorder, self._read_package_index, self._open_existing_store,
                 self._warm_up_last or (lambda: None))
        for step in steps:
            if self._stop.is_set():
                return
            with contextlib.suppress(Exception):  # e.g. no store yet, or the kernel exits
                step()

    @staticmethod
    def _import_recorder() -> None:
        from ..capture import log  # noqa: F401  the recorder, numpy, the data and model layers
        from ..store import schema  # noqa: F401  sqlite-utils, the store's migrations

    @staticmethod
    def _read_package_index() -> None:
        from ..capture import packages

        packages.warm_up()

    def _open_existing_store(self) -> None:
        from ..store import find_store_dir, open_store

        if self._store is None:
            where = find_store_dir()
            self._store = open_store(where, create=False)
            self._warmed_for = where

    def _end_warm_up(self, timeout: float | None = None) -> None:
        """Wait for the warm-up thread (at most ``timeout`` s), before the kernel's thread
        touches the store; drop a store it opened where discovery no longer leads (the
        working directory or ``$JUPYTER_MLOPS_STORE`` changed since)."""
        if self._warming is None:
            return
        self._stop.set()
        self._warming.join(timeout)
        if self._warming.is_alive():
            return  # the kernel is exiting: the daemon thread ends with it
        self._warming = None
        atexit.unregister(self._end_warm_up)
        warmed, self._warmed_for = self._warmed_for, None
        if warmed is not None and self.store_path is None:
            from ..store import find_store_dir

            if find_store_dir() != warmed:
                self.close()

    def notebook(self) -> str | None:
        """The notebook path, when the kernel knows it."""
        return self.shell.user_ns.get("__session__") or os.environ.get("JPY_SESSION_NAME")

    # -- hooks -----------------------------------------------------------------------------
    def pre_run_cell(self, info: ExecutionInfo) -> None:
        if self.nesting == 0:
            self.current = info

    def post_run_cell(self, result: ExecutionResult) -> None:
        if self.nesting:
            return
        try:
            raw = (result.info.raw_cell if result.info else "") or ""
            if raw.lstrip().startswith(TRACK_PREFIX):
                raw = raw.lstrip().partition("\n")[2]
            source = self.shell.transform_cell(raw)
            self.history.add(
                source, analyze(source), execution_count=result.execution_count,
                cell_id=getattr(result.info, "cell_id", None), succeeded=result.success,
            )
        except Exception as exc:  # a hook must never disturb the user's session
            warn(f"could not record the cell in the history: {exc}")
        try:
            self._start_warm_up()  # after the cell that loaded the extension
        except RuntimeError:  # no thread to be had: the first tracked cell does the work
            pass

