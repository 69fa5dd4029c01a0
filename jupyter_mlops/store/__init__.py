"""The SQLite lineage store (L2): runs, datasets, models, artifacts, the registry tables, the
audit log, migrations and the read-side queries (listing, lineage, run names).

May import: ``errors``, ``entities``, ``frameworks`` (to load a stored model); sqlite-utils,
numpy, pandas. Never capture, drift, bundle, lifecycle or a front end.
"""

from .discovery import ENV_VAR, find_store_dir
from .records import DatasetInfo, EnvironmentInfo, ModelInfo, RunResult
from .store import DB_FILENAME, Store, open_store

__all__ = [
    "DB_FILENAME", "ENV_VAR", "DatasetInfo", "EnvironmentInfo", "ModelInfo", "RunResult",
    "Store", "find_store_dir", "open_store",
]
