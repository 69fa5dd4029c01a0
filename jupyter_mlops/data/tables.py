"""Reading a batch of data from a file, for the command line and the watch loop."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

SUFFIXES = (".csv", ".parquet", ".jsonl")
MAX_JSONL_BYTES = 256 * 2**20  # a .jsonl file (a serving log rotates at 50 MB by default)
MAX_JSONL_LINE = 2**20  # characters of one line (a logged row, an event)
MAX_TABLE_BYTES = 2 * 2**30  # a .csv or .parquet batch (1M rows x 20 floats as CSV: ~0.4 GB)


def read_table(path: str | Path, *, squeeze: bool = True) -> Any:
    """A DataFrame from a .csv, .parquet or .jsonl file; with ``squeeze``, a Series when it has
    one column (targets, a vector). Batches of features keep their frame: ``squeeze=False``."""
    suffix = Path(path).suffix.lower()
    readers: dict[str, Any] = {".csv": pd.read_csv, ".parquet": pd.read_parquet,
                               ".jsonl": _read_jsonl}
    if suffix not in readers:
        raise ValueError(f"{path}: use a .csv, .parquet or .jsonl file")
    if suffix != ".jsonl":  # jsonl_lines checks its own, smaller limit line by line
        regular_file(Path(path), MAX_TABLE_BYTES, "split it into smaller batches")
    try:
        frame = readers[suffix](path)
    except ImportError:
        raise ValueError(f"reading {path} needs pyarrow: pip install pyarrow") from None
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    return frame.iloc[:, 0] if squeeze and frame.shape[1] == 1 else frame


def _read_jsonl(path: str | Path) -> pd.DataFrame:
    """A .jsonl file's objects as rows, within :func:`jsonl_lines`' limits. A last line
    without its newline that is not JSON was cut by a crash (a server killed mid-write):
    it is left out, and the rest of the file still counts."""
    lines = [line for _, line in jsonl_lines(Path(path))]
    for number, line in enumerate(lines, 1):
        if line.strip() and not line.lstrip().startswith("{"):
            raise ValueError(f"{path} line {number} is not a JSON object")
    if lines and not lines[-1].endswith("\n"):
        try:
            json.loads(lines[-1])
        except (ValueError, RecursionError):
            lines.pop()
    try:
        return pd.read_json(io.StringIO("".join(lines)), lines=True)
    except TypeError:  # pandas' message for a line it cannot make a row of
        raise ValueError(f"{path}: every line must be a JSON object") from None


def jsonl_lines(path: Path) -> Iterator[tuple[int, str]]:
    """The numbered lines of a .jsonl file; :class:`ValueError` for a file larger than
    :data:`MAX_JSONL_BYTES` or a line longer than :data:`MAX_JSONL_LINE` characters (neither
    is read whole), text that is not UTF-8, or a path that is no regular file (a FIFO or a
    device would block or never end)."""
    regular_file(path, MAX_JSONL_BYTES,
                 "split it, or rotate a serving log sooner: serve --log-max-mb")
    with path.open(encoding="utf-8") as stream:
        number = 0
        try:
            while line := stream.readline(MAX_JSONL_LINE + 1):
                number += 1
                if len(line.rstrip("\n")) > MAX_JSONL_LINE:
                    raise ValueError(f"{path} line {number} is longer than {MAX_JSONL_LINE} "
                                     "characters")
                yield number, line
        except UnicodeDecodeError:
            raise ValueError(f"{path} line {number + 1} is not UTF-8 text") from None


def regular_file(path: Path, limit: int, advice: str) -> None:
    """:class:`ValueError` unless ``path`` is a regular file of at most ``limit`` bytes (a FIFO
    or a device would block a reader or never end)."""
    if not path.exists():
        raise ValueError(f"cannot read {path}: no such file")
    if not path.is_file():
        raise ValueError(f"{path} is not a regular file")
    if (size := path.stat().st_size) > limit:
        raise ValueError(f"{path} is {size:,} bytes, larger than {limit} bytes ({advice})")
