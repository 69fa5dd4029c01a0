"""jupyter-mlops: experiment tracking, lineage, promotion and monitoring from a notebook cell.

``%load_ext jupyter_mlops`` registers ``%%track`` and ``%mlops``; ``import jupyter_mlops as
mlops`` gives the Python API below.
"""

from __future__ import annotations

from typing import Any

from ._version import __version__
from .api import log_artifact, log_metric, log_metrics, log_param
from .bundle import Bundle, export_bundle, load_bundle
from .drift import DriftReport, drift
from .drift_reference import reference_profile
from .entities import Entity, MetricPoint, Run
from .errors import MLOpsError
from .monitoring import MonitorResult, monitor
from .promotion import promote, transition
from .retrain import retrain
from .store import Store, open_store
from .store.registry import ModelVersion
from .watch import watch

__all__ = [
    "Bundle", "DriftReport", "Entity", "MLOpsError", "MetricPoint", "ModelVersion",
    "MonitorResult", "Run", "RunBrowser", "Store", "__version__", "drift", "export_bundle",
    "load_bundle", "log_artifact", "log_metric", "log_metrics", "log_param", "monitor",
    "open_store", "promote", "reference_profile", "retrain", "transition", "watch",
]


def __getattr__(name: str) -> Any:
    if name == "RunBrowser":  # imports ipywidgets only when asked for
        from .widgets import RunBrowser

        return RunBrowser
    raise AttributeError(f"module 'jupyter_mlops' has no attribute {name!r}")


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
