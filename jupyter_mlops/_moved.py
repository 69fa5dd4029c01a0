"""Import paths of modules that moved into subpackages keep working.

``import jupyter_mlops.monitoring`` (say) gives the module that now lives at
``jupyter_mlops.lifecycle.monitoring``: the same module object, so its names, ``isinstance``
checks and ``monkeypatch.setattr`` all behave as before. Nothing is imported until an old path
is used.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

MOVED = {  # old path → new path, both under jupyter_mlops
    "api": "capture.log", "champion": "lifecycle.champion", "drift_reference": "drift.reference",
    "fingerprint": "data.fingerprint", "gates": "lifecycle.gates",
    "importance": "frameworks.importance", "lineage": "store.lineage",
    "modelio": "frameworks.serialize", "monitoring": "lifecycle.monitoring",
    "profile": "data.profile", "promotion": "lifecycle.promotion", "report": "commands.views",
    "retrain": "lifecycle.retrain", "tables": "data.tables", "watch": "lifecycle.watch",
    "capture.models": "frameworks.models",
}
PACKAGE = __name__.rpartition(".")[0]


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the old paths of :data:`MOVED` and loads them as the moved module."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        old = fullname.removeprefix(PACKAGE + ".")
        if old == fullname or old not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: ModuleSpec) -> ModuleType:
        return importlib.import_module(f"{PACKAGE}.{MOVED[spec.name.removeprefix(PACKAGE + '.')]}")

    def exec_module(self, module: ModuleType) -> None:
        """The moved module ran when it was imported under its own name; importlib has just
        set its ``__spec__`` to the old path's, which is put back."""
        module.__spec__ = _own_spec(module)


def _own_spec(module: ModuleType) -> ModuleSpec:
    spec = importlib.util.spec_from_file_location(module.__name__, module.__file__)
    assert spec is not None
    return spec


def install() -> None:
    """Put the finder on ``sys.meta_path`` once."""
    if not any(isinstance(finder, _Alias) for finder in sys.meta_path):
        sys.meta_path.append(_Alias())
