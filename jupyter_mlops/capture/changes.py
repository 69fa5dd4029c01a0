"""What a cell changed: its names and files as they were before it ran, compared after.

A failed cell made only what it bound or wrote before its exception; a name still holding the
object it held before the cell, or a file still as it was, was not made by it. References to
values are weak where the type allows, so large frames the cell replaces can still be freed.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data.fingerprint import fingerprint_file
from ..entities import Entity


def file_entity(path: str) -> Entity:
    """A file as a dataset entity, fingerprinted by content (the same whether read or written)."""
    return Entity("dataset", path, fingerprint_file(path),
                  {"path": str(Path(path).resolve()), "size": os.path.getsize(path)})


def _stat(path: str) -> tuple[int, int] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size


def _reference(value: Any) -> Callable[[], Any]:
    try:
        return weakref.ref(value)
    except TypeError:  # ints, strings, tuples: small, or owned by the namespace anyway
        return lambda: value


@dataclass
class Before:
    """The objects some names held and the state of some files, before a cell ran."""

    values: dict[str, Callable[[], Any]] = field(default_factory=dict)
    files: dict[str, tuple[int, int] | None] = field(default_factory=dict)

    @classmethod
    def take(cls, namespace: dict[str, Any], names: Iterable[str],
             paths: Iterable[str]) -> Before:
        """Note what ``names`` hold in ``namespace`` and the size and time of ``paths``."""
        return cls({n: _reference(namespace[n]) for n in names if n in namespace},
                   {p: _stat(p) for p in paths})

    def rebound(self, name: str, namespace: dict[str, Any]) -> bool:
        """Whether ``name`` now holds another object than before (or exists only now)."""
        if name not in namespace:
            return False
        reference = self.values.get(name)
        return reference is None or reference() is not namespace[name]

    def written(self, path: str) -> bool:
        """Whether the file at ``path`` exists now and was created or rewritten since."""
        now = _stat(path)
        return now is not None and os.path.isfile(path) and now != self.files.get(path)
