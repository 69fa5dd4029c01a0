"""What differs between the two front ends, in one place: the ``%mlops`` magic names data by
notebook variable, the ``jupyter-mlops`` CLI by file; each is named in the hints it prints.

Everything else (arguments, references, messages, command bodies) is the same for both.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Front:
    """A front end, as the commands see it.

    Attributes
    ----------
    prog : how a user types the front end (``%mlops``, ``jupyter-mlops``), for hints
    source : what names data: ``"variable"`` or ``"file"``
    metavar : the placeholder of such a name in usages (``VAR``, ``FILE``)
    value : a name → its data (a variable; a .csv/.parquet/.jsonl file, one column → Series)
    table : a name → a batch of rows (a variable; a file as a DataFrame, a served bundle's
        request log with its fields: ``monitor`` reads them, others drop them)
    """

    prog: str
    source: str
    metavar: str
    value: Callable[[str], Any]
    table: Callable[[str], Any]

    @property
    def notebook(self) -> bool:
        """Whether data comes from the notebook's namespace (the magic)."""
        return self.source == "variable"


def notebook(namespace: Mapping[str, Any]) -> Front:
    """The ``%mlops`` front end: data are the notebook's variables."""

    def variable(name: str) -> Any:
        if name not in namespace:
            raise LookupError(f"no variable {name!r} in this notebook")
        return namespace[name]

    return Front("%mlops", "variable", "VAR", variable, variable)


def _file(path: str) -> Any:
    from ..data.tables import read_table

    return read_table(path)


def _batch(path: str) -> Any:
    from ..data.tables import read_table

    return read_table(path, squeeze=False)


COMMAND_LINE = Front("jupyter-mlops", "file", "FILE", _file, _batch)
"""The ``jupyter-mlops`` front end: data are .csv, .parquet or .jsonl files."""


def this_command() -> str:
    """How to run the CLI from the current shell, as it would be typed: plain
    ``jupyter-mlops`` when that is on PATH and is this installation, else the script beside
    this Python (``.venv/bin/jupyter-mlops``), else ``python -m jupyter_mlops.cli``."""
    here = Path(sys.executable).parent
    script = here / "jupyter-mlops"
    found = shutil.which("jupyter-mlops")
    if found and script.exists() and Path(found).resolve() == script.resolve():
        return "jupyter-mlops"

    def typed(path: Path) -> str:
        relative = os.path.relpath(path)
        shown = relative if not relative.startswith("..") else str(path)
        return shlex.quote(shown if os.sep in shown else f".{os.sep}{shown}")

    if script.exists():
        return typed(script)
    return f"{typed(Path(sys.executable))} -m jupyter_mlops.cli"
