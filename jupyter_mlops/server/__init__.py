"""The Jupyter Server extension (L5): the REST API the JupyterLab sidebar talks to.

Enabled automatically on install (``jupyter-config/server-config/jupyter_mlops.json``).
The store is found like the kernel finds it, from the server's root directory, unless
``c.MLOpsServer.store_path`` says otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from traitlets import Unicode
from traitlets.config import Configurable

from ..store import Store, find_store_dir, open_store


class MLOpsServer(Configurable):
    """Settings of the jupyter-mlops server extension."""

    store_path = Unicode(
        "", config=True,
        help="The store directory; empty: $JUPYTER_MLOPS_STORE, else the nearest .mlops/ "
             "from the server's root directory upwards, else one at the git root or there.",
    )

    def __init__(self, root_dir: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.root_dir = root_dir
        self._store: Store | None = None

    @property
    def directory(self) -> Path:
        return Path(self.store_path) if self.store_path else find_store_dir(self.root_dir)

    def store(self) -> Store:
        """The store, opened once (again after a failure, so a fixed store recovers)."""
        if self._store is None:
            self._store = open_store(self.directory)
        return self._store


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "jupyter_mlops.server"}]


def _load_jupyter_server_extension(server_app: Any) -> None:
    from .handlers import setup_handlers

    holder = MLOpsServer(server_app.root_dir, parent=server_app)
    server_app.web_app.settings["jupyter_mlops"] = holder
    setup_handlers(server_app.web_app)
    server_app.log.info(f"jupyter-mlops: REST API on, store {holder.directory}")
