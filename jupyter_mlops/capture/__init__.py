"""Capturing runs (L2): cell analysis, history, environment, models, the run recorder.

Nothing here imports IPython: the magic passes source, namespace and store in.
"""

from .recorder import RunRecorder, TrackOptions

__all__ = ["RunRecorder", "TrackOptions"]
