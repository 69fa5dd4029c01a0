"""``pull``: bring a team's runs and registered models from an MLflow tracking server."""

from __future__ import annotations

from ..store import Store
from .remote import SyncReport


def pull(from_: str | None = None, experiment: str | None = None, *,
         store: Store | None = None) -> SyncReport:
    """Placeholder until the pull lands."""
    raise NotImplementedError
