"""Logging calls for use inside a ``%%track`` cell: they attach to that cell's run."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from ..errors import NoActiveRunError
from .fits import watching
from .recorder import RunRecorder

_active: RunRecorder | None = None


@contextlib.contextmanager
def activate(recorder: RunRecorder | None) -> Iterator[None]:
    """Make ``recorder`` the target of the logging calls while the block runs."""
    global _active
    previous, _active = _active, recorder
    try:
        with watching(recorder.fits if recorder is not None else None), \
                watching(recorder.training if recorder is not None else None):
            yield
    finally:
        _active = previous


def _recorder(call: str) -> RunRecorder:
    __tracebackhide__ = True  # IPython shows the user's line, not our frames
    if _active is None:
        raise NoActiveRunError(call)
    return _active


def log_metric(key: str, value: float, step: int | None = None) -> None:
    """Log one value of a metric; repeated calls with steps make a training curve.

    Parameters
    ----------
    key : metric name
    value : a real number
    step : the step (epoch, iteration); defaults to the key's previous step + 1
    """
    __tracebackhide__ = True  # IPython shows the user's line, not our frames
    _recorder("log_metric").log_metric(key, value, step)


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    """Log several metrics at once (all at the same ``step``)."""
    __tracebackhide__ = True  # IPython shows the user's line, not our frames
    recorder = _recorder("log_metrics")
    for key, value in metrics.items():
        recorder.log_metric(key, value, step)


def log_param(key: str, value: Any) -> None:
    """Record a parameter of the run (overrides one captured automatically)."""
    __tracebackhide__ = True  # IPython shows the user's line, not our frames
    _recorder("log_param").log_param(key, value)


def log_artifact(path_or_object: Any, name: str | None = None) -> str:
    """Store a file, bytes, DataFrame or figure with the run; returns its fingerprint."""
    __tracebackhide__ = True  # IPython shows the user's line, not our frames
    return _recorder("log_artifact").log_artifact(path_or_object, name)
