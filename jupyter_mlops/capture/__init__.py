"""Capturing runs (L3): cell analysis, history, environment, fit calls, effects, the run
recorder and the logging API (:mod:`.log`) that attaches to the run of the tracked cell.

May import: ``errors``, ``entities``, ``store``, ``data``, ``frameworks``. Nothing here imports
IPython: the magic passes source, namespace and store in.
"""

from .recorder import RunRecorder, TrackOptions

__all__ = ["RunRecorder", "TrackOptions"]
