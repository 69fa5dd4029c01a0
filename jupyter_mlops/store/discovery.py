"""Where the store lives: like git finds `.git`, we find `.mlops`."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import StoreError, StoreNotFoundError

STORE_DIRNAME = ".mlops"
ENV_VAR = "JUPYTER_MLOPS_STORE"
DB_FILENAME = "lineage.db"


def find_store_dir(start: str | os.PathLike[str] | None = None) -> Path:
    """Return the store directory to use from ``start`` (default: the working directory).

    Order: ``$JUPYTER_MLOPS_STORE``; the nearest ``.mlops/`` from ``start`` upwards; a new
    ``.mlops/`` at the enclosing git repository's root; else a new one in ``start``.
    The directory is not created here.
    """
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser().resolve()
    here = Path(start or os.getcwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / STORE_DIRNAME).is_dir():
            return directory / STORE_DIRNAME
    for directory in (here, *here.parents):
        if (directory / ".git").exists():
            return directory / STORE_DIRNAME
    return here / STORE_DIRNAME


def check_store_dir(directory: Path, *, origin: str = "path", create: bool = True) -> None:
    """Raise :class:`StoreError` when ``directory`` cannot be a store directory: it (or a
    folder on its path) is a file; or, unless ``create``, it holds no ``lineage.db``."""
    for place in (directory, *directory.parents):
        if place.is_file():
            at = "" if place == directory else f" at {directory}"
            raise StoreError(f"cannot open the store{at}: {place} is a file, not a store "
                             f"directory; give a directory (the path, or ${ENV_VAR}) that "
                             f"holds or will hold {DB_FILENAME}")
        if place.exists():
            break
    if not create and not (directory / DB_FILENAME).is_file():
        raise StoreNotFoundError(directory, origin)
