"""What the extension keeps per kernel, and what both magics share."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from IPython.core.error import UsageError
from IPython.core.interactiveshell import ExecutionInfo, ExecutionResult, InteractiveShell

from ..capture.analysis import analyze
from ..capture.cells import CellHistory
from ..store import Store, open_store

TRACK_PREFIX = "%%track"


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
    """What the extension keeps per kernel: the store, the cell history, the current cell."""

    def __init__(self, shell: InteractiveShell) -> None:
        self.shell = shell
        self.history = CellHistory()
        self.store_path: Path | None = None
        self._store: Store | None = None
        self.nesting = 0
        self.current: ExecutionInfo | None = None

    def store(self) -> Store:
        """The store of this kernel, opened on first use."""
        if self._store is None:
            self._store = open_store(self.store_path)
        return self._store

    def use_store(self, path: str | None) -> Store:
        """Switch to another store directory (``None``: discover again); the current store
        stays in use when the new one cannot be opened."""
        store_path = Path(path).expanduser() if path else None
        opened = open_store(store_path)
        self.close()
        self._store, self.store_path = opened, store_path
        return opened

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

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

