"""Where the store lives: like git finds `.git`, we find `.mlops`."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import StoreError

STORE_DIRNAME = ".mlops"
ENV_VAR = "JUPYTER_MLOPS_STORE"
_DB_FILENAME = "lineage.db"  # store.DB_FILENAME (store.py imports this module)


class StoreNotFoundError(StoreError):
    """A store was asked for without creating one, and there is none at that place.

    ``origin`` says where the place came from: ``"path"`` (given explicitly), ``"env"``
    (``$JUPYTER_MLOPS_STORE``), ``"found"`` (the nearest ``.mlops/``, without a database) or
    ``"discovered"`` (no ``.mlops/`` upwards).
    """

    def __init__(self, directory: Path, origin: str) -> None:
        self.directory = directory
        self.origin = origin
        if origin == "discovered":
            message = (f"no jupyter-mlops store found: no {STORE_DIRNAME}/ in {Path.cwd()} or "
                       f"above, and ${ENV_VAR} is not set; run a tracked cell first, or give "
                       "the store's path")
        else:
            where = {"env": f", where ${ENV_VAR} points",
                     "found": f", the nearest {STORE_DIRNAME}/"}
            check = {"env": f"check ${ENV_VAR}", "found": "give the store's path"}
            message = (f"no jupyter-mlops store at {directory}{where.get(origin, '')} (it has no "
                       f"{_DB_FILENAME}); {check.get(origin, 'check the path')}, or run a tracked "
                       "cell first")
        super().__init__(message)


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
                             f"holds or will hold {_DB_FILENAME}")
        if place.exists():
            break
    if not create and not (directory / _DB_FILENAME).is_file():
        raise StoreNotFoundError(directory, origin)
