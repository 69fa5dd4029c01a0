"""Where the store lives: like git finds `.git`, we find `.mlops`."""

from __future__ import annotations

import os
from pathlib import Path

STORE_DIRNAME = ".mlops"
ENV_VAR = "JUPYTER_MLOPS_STORE"


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
