"""Capturing runs (L3): cell analysis, history, environment (and the installed distributions
behind a module), fit calls, effects, the run recorder and the logging API (:mod:`.log`) that
attaches to the run of the tracked cell.

May import: ``errors``, ``entities``, ``store``, ``data``, ``frameworks``. Nothing here imports
IPython: the magic passes source, namespace and store in. The recorder (numpy, the data and
model layers) loads on first use, so the cell hooks can import :mod:`.analysis` cheaply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .recorder import RunRecorder, TrackOptions

__all__ = ["RunRecorder", "TrackOptions"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import recorder

    return getattr(recorder, name)
