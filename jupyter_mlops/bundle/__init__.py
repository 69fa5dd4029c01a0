"""Deployment bundles (L3): export a tracked model, load it back, serve it, verify it.

May import: ``errors``, ``entities``, ``data``, ``frameworks``, ``store``. ``serve.py``,
``trust.py`` and ``pyfunc.py`` also ship inside every bundle (and ``rollout.py`` inside every
rollout bundle): they import only the standard library and the model's own libraries.
"""

from .export import export_bundle
from .load import Bundle, load_bundle
from .rollout_export import export_rollout

__all__ = ["Bundle", "export_bundle", "export_rollout", "load_bundle"]
