"""jupyter-mlops: experiment tracking, lineage, promotion and monitoring from a notebook cell.

``%load_ext jupyter_mlops`` registers ``%%track`` and ``%mlops``; ``import jupyter_mlops as
mlops`` gives the Python API below.
"""

from __future__ import annotations

import sys
from importlib import import_module
from types import ModuleType
from typing import TYPE_CHECKING, Any

from . import _moved
from ._version import __version__

_moved.install()  # modules that moved into subpackages keep their old import paths

# The public API, imported on first use (PEP 562): ``import jupyter_mlops`` stays cheap, and
# scipy.stats, plotly, scikit-learn and ipywidgets load only when a name that needs them is used.
_LAZY = {
    "log_artifact": "capture.log", "log_metric": "capture.log", "log_metrics": "capture.log",
    "log_param": "capture.log",
    "Bundle": "bundle", "export_bundle": "bundle", "load_bundle": "bundle",
    "export_rollout": "bundle", "rollout_report": "lifecycle.rollout",
    "DriftReport": "drift", "drift": "drift", "reference_profile": "drift",
    "Entity": "entities", "MetricPoint": "entities", "Run": "entities",
    "MLOpsError": "errors", "MonitorResult": "lifecycle.monitoring",
    "monitor": "lifecycle.monitoring", "promote": "lifecycle.promotion",
    "transition": "lifecycle.promotion", "retrain": "lifecycle.retrain",
    "Store": "store", "open_store": "store", "ModelVersion": "store.registry",
    "watch": "lifecycle.watch", "RunBrowser": "widgets", "push": "sync", "pull": "sync",
    "load_model": "sync",
}

if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from .bundle import Bundle, export_bundle, export_rollout, load_bundle
    from .capture.log import log_artifact, log_metric, log_metrics, log_param
    from .drift import DriftReport, drift
    from .drift.reference import reference_profile
    from .entities import Entity, MetricPoint, Run
    from .errors import MLOpsError
    from .lifecycle.monitoring import MonitorResult, monitor
    from .lifecycle.promotion import promote, transition
    from .lifecycle.retrain import retrain
    from .lifecycle.rollout import rollout_report
    from .lifecycle.watch import watch
    from .store import Store, open_store
    from .store.registry import ModelVersion
    from .sync import load_model, pull, push
    from .widgets import RunBrowser

__all__ = [
    "Bundle", "DriftReport", "Entity", "MLOpsError", "MetricPoint", "ModelVersion",
    "MonitorResult", "Run", "RunBrowser", "Store", "__version__", "drift", "export_bundle",
    "export_rollout", "load_bundle", "load_model", "log_artifact", "log_metric", "log_metrics",
    "log_param", "monitor", "open_store", "promote", "pull", "push", "reference_profile", "retrain",
    "rollout_report", "transition", "watch",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'jupyter_mlops' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


class _Package(ModuleType):
    """This package, keeping ``drift``, ``retrain`` and ``watch`` the public functions.

    Importing a submodule binds it on its package, so the first ``import jupyter_mlops.drift``
    (by any module) would otherwise shadow the function ``jupyter_mlops.drift``; the eager
    imports of earlier versions had the function win, and so does this.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, ModuleType) and name in _LAZY:
            return  # the submodule stays in sys.modules; the package name is the function
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """Jupyter Server finds the REST extension here (``jupyter_mlops.server``)."""
    return [{"module": "jupyter_mlops.server"}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where the built JupyterLab sidebar is (``jupyter labextension develop``)."""
    return [{"src": "labextension", "dest": "jupyter-mlops"}]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext jupyter_mlops``: register the magics and the cell-history hooks."""
    from .magics import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext jupyter_mlops``: remove them again."""
    from .magics import unload

    unload(ipython)
