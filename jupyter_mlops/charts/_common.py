"""What the chart modules share: resolving runs, batch reads of the store, thinning."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
from plotly.colors import qualitative

from ..store import Store

PALETTE: list[str] = list(qualitative.Plotly)
RunRefs = Sequence[str] | str


def resolve_runs(store: Store, run_ids: RunRefs) -> list[str]:
    """Full run ids (deduplicated, in order) from ids, unique id prefixes or run names."""
    refs = [run_ids] if isinstance(run_ids, str) else list(run_ids)
    if not refs:
        raise ValueError("give at least one run: a run id, a unique prefix of one, or a name")
    return list(dict.fromkeys(store.resolve_run_id(ref) for ref in refs))


def in_clause(ids: Sequence[str]) -> str:
    return "(" + ",".join("?" * len(ids)) + ")"


def run_labels(store: Store, ids: Sequence[str]) -> list[str]:
    """``name · id-prefix`` per run, the prefix long enough to tell these runs apart."""
    names = dict(store.conn.execute(
        f"SELECT run_id, name FROM runs WHERE run_id IN {in_clause(ids)}", list(ids)
    ).fetchall())
    width = 10
    while len({run_id[:width] for run_id in ids}) < len(ids):
        width += 2
    return [f"{names[run_id]} · {run_id[:width]}" for run_id in ids]


def latest_metrics(store: Store, ids: Sequence[str]) -> dict[str, dict[str, float]]:
    values: dict[str, dict[str, float]] = {run_id: {} for run_id in ids}
    for run_id, key, value in store.conn.execute(
        f"SELECT run_id, key, value FROM latest_metrics WHERE run_id IN {in_clause(ids)}", list(ids)
    ):
        values[run_id][key] = value
    return values


def run_params(store: Store, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    values: dict[str, dict[str, Any]] = {run_id: {} for run_id in ids}
    for run_id, key, value in store.conn.execute(
        f"SELECT run_id, key, value FROM params WHERE run_id IN {in_clause(ids)}", list(ids)
    ):
        values[run_id][key] = json.loads(value)
    return values


def thin(n: int, limit: int) -> np.ndarray:
    """At most ``limit`` evenly spaced indices into ``n`` points, first and last included."""
    if n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(np.int64))

