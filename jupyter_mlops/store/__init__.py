"""The SQLite lineage store (L1: sqlite-utils, numpy, pandas only)."""

from .discovery import ENV_VAR, find_store_dir
from .records import DatasetInfo, EnvironmentInfo, ModelInfo, RunResult
from .store import DB_FILENAME, Store, open_store

__all__ = [
    "DB_FILENAME", "ENV_VAR", "DatasetInfo", "EnvironmentInfo", "ModelInfo", "RunResult",
    "Store", "find_store_dir", "open_store",
]
