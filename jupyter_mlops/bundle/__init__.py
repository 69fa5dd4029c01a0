"""Deployment bundles: export a tracked model, load it back, serve it (L2)."""

from .export import export_bundle
from .load import Bundle, load_bundle

__all__ = ["Bundle", "export_bundle", "load_bundle"]
