"""Reading a batch of data from a file, for the command line and the watch loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

SUFFIXES = (".csv", ".parquet", ".jsonl")


def read_table(path: str | Path, *, squeeze: bool = True) -> Any:
    """A DataFrame from a .csv, .parquet or .jsonl file; with ``squeeze``, a Series when it has
    one column (targets, a vector). Batches of features keep their frame: ``squeeze=False``."""
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
    return frame.iloc[:, 0] if squeeze and frame.shape[1] == 1 else frame
