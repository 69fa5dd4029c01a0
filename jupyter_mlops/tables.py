"""Reading a batch of data from a file, for the command line and the watch loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

SUFFIXES = (".csv", ".parquet", ".jsonl")


def read_table(path: str | Path) -> Any:
    """A DataFrame (a Series when it has one column) from a .csv, .parquet or .jsonl file."""
    suffix = Path(path).suffix.lower()
    readers: dict[str, Any] = {".csv": pd.read_csv, ".parquet": pd.read_parquet,
                               ".jsonl": lambda p: pd.read_json(p, lines=True)}
    if suffix not in readers:
        raise ValueError(f"{path}: use a .csv, .parquet or .jsonl file")
    try:
        frame = readers[suffix](path)
    except ImportError:
        raise ValueError(f"reading {path} needs pyarrow: pip install pyarrow") from None
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    return frame.iloc[:, 0] if frame.shape[1] == 1 else frame
