"""Which installed distributions provide a top-level module: the answer of
:func:`importlib.metadata.packages_distributions`, without its cost on a tracked cell's path.

``packages_distributions()`` parses the metadata and builds a path object for every file of
every installed distribution (0.1 s of CPU for 200 distributions). :func:`providers` reads
each distribution's ``top_level.txt`` or ``RECORD`` once, as text, and notes for each top-level
name the distributions that surely provide it: a declared name, or a ``.py`` file at or under
it, which every Python's rule counts. A name that some distribution might provide otherwise
(a compiled module alone, data files: the rules differ between Python versions), a dotted name,
or an environment with a distribution that has neither file (egg-info) falls back to
``packages_distributions()`` itself, so the answer is always the same as its. (Python 3.10's
reads ``top_level.txt`` only, and so does this module there.)
"""

from __future__ import annotations

import csv
import importlib.metadata as metadata
import sys
from collections import defaultdict
from dataclasses import dataclass
from functools import cache

__all__ = ["providers"]

_INFERS = sys.version_info >= (3, 11)  # names from the files too, not only top_level.txt


@dataclass(frozen=True)
class _Index:
    """Top-level names → the distributions that surely provide them, and the names some
    distribution might provide (only ``packages_distributions()`` says which)."""

    sure: dict[str, list[metadata.Distribution]]
    maybe: frozenset[str]
    complete: bool  # False: a distribution was not read here


def _without_dot(path: str) -> str:
    """``./a/b`` → ``a/b``, as :mod:`pathlib` reads it."""
    while path.startswith("./"):
        path = path[2:]
    return path


def _record_names(record: str) -> tuple[set[str], set[str]]:
    """The top-level names a ``RECORD`` surely provides (a ``.py`` file at or under the name)
    and those it might (any other file)."""
    lines = record.splitlines()
    if '"' in record:  # quoted paths: read as importlib.metadata does
        paths = [row[0] for row in csv.reader(lines) if row]
    else:
        paths = [line.partition(",")[0] for line in lines]
    paths = [_without_dot(path) if path.startswith("./") else path for path in paths]
    sure = {path.partition("/")[0] if "/" in path else path[: -len(".py")]
            for path in paths
            if path.endswith(".py") and path != ".py" and not path.endswith("/.py")}
    maybe = {path.partition("/")[0] if "/" in path else path.split(".")[0] for path in paths}
    return sure, maybe - sure


@cache
def _index() -> _Index:
    sure: defaultdict[str, list[metadata.Distribution]] = defaultdict(list)
    maybe: set[str] = set()
    complete = True
    for dist in metadata.distributions():
        names = (dist.read_text("top_level.txt") or "").split()
        if not names and _INFERS:
            record = dist.read_text("RECORD")
            if not record:
                complete = False
                continue
            surely, perhaps = _record_names(record)
            names = sorted(surely)
            maybe |= perhaps
        for name in names:
            sure[name].append(dist)
    return _Index(dict(sure), frozenset(maybe), complete)


@cache
def _all_providers() -> dict[str, list[str]]:
    return dict(metadata.packages_distributions())


def warm_up() -> None:
    """Read the index now (off a cell's path)."""
    _index()


@cache
def providers(module: str) -> tuple[str, ...]:
    """Names of the installed distributions that provide the top-level module ``module``,
    as :func:`importlib.metadata.packages_distributions` gives them."""
    index = _index()
    if not index.complete or module in index.maybe or "." in module:
        return tuple(_all_providers().get(module, []))
    return tuple(dist.metadata["Name"] for dist in index.sure.get(module, []))
