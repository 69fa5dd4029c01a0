"""What the charts draw, read from the store: runs side by side and ``--eval`` predictions.

The charts know nothing of SQLite: :class:`Store` hands them these plain objects (its
``run_set`` and ``eval_predictions`` delegate here), and its ``metric_history`` and
``lineage`` give the curves and the lineage graph.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..entities import Predictions, RunSet, RunSummary
from ..errors import NoPredictionsError

if TYPE_CHECKING:
    from .store import Store

NPZ = "application/x-npz"


def _in(ids: Sequence[str]) -> str:
    return "(" + ",".join("?" * len(ids)) + ")"


def run_set(store: Store, run_refs: Sequence[str] | str) -> RunSet:
    """Runs by id, unique id prefix, model reference or name (its latest run), each once and
    in the order given, with their latest metrics, params and which metrics are curves.

    Raises
    ------
    ValueError : no run given.
    RunNotFoundError : a reference names no run.
    """
    refs = [run_refs] if isinstance(run_refs, str) else list(run_refs)
    if not refs:
        raise ValueError("give at least one run: a run id, a unique prefix of one, or a name")
    ids = list(dict.fromkeys(store.resolve_run_id(ref) for ref in refs))
    conn, where = store.conn, _in(ids)
    found = {row[0]: RunSummary(*row) for row in conn.execute(
        "SELECT r.run_id, r.name, e.name, r.status, r.started_at, r.duration_s FROM runs r "
        f"JOIN experiments e ON e.id = r.experiment_id WHERE r.run_id IN {where}", ids)}
    metrics: dict[str, dict[str, float]] = {run_id: {} for run_id in ids}
    for run_id, key, value in conn.execute(
            f"SELECT run_id, key, value FROM latest_metrics WHERE run_id IN {where}", ids):
        metrics[run_id][key] = value
    params: dict[str, dict[str, Any]] = {run_id: {} for run_id in ids}
    for run_id, key, value in conn.execute(
            f"SELECT run_id, key, value FROM params WHERE run_id IN {where}", ids):
        params[run_id][key] = json.loads(value)
    # A curve has a second point: two index probes per run and key, however long the curve.
    curves: dict[str, set[str]] = {run_id: set() for run_id in ids}
    for run_id, key in conn.execute(
            f"SELECT l.run_id, l.key FROM latest_metrics l WHERE l.run_id IN {where} AND "
            "(SELECT count(*) FROM (SELECT 1 FROM metrics m WHERE m.run_id = l.run_id AND "
            "m.key = l.key LIMIT 2)) = 2", ids):
        curves[run_id].add(key)
    return RunSet([found[run_id] for run_id in ids], metrics, params, curves)


def eval_predictions(store: Store, run_ref: str) -> Predictions:
    """The predictions a ``%%track --eval X y`` run kept (an ``.npz`` artifact output).

    Raises
    ------
    RunNotFoundError : no such run.
    NoPredictionsError : the run was not tracked with ``--eval``.
    """
    run = store.get_run(run_ref)
    entity = next((e for e in run.outputs if e.kind == "artifact" and e.name == "predictions"
                   and e.detail.get("media_type") == NPZ), None)
    if entity is None:
        raise NoPredictionsError(f"{run.run_id} ({run.name})")
    data = store.artifacts.get(entity.fingerprint.removeprefix("sha256:"))
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    if "y_true" not in arrays or "y_pred" not in arrays:
        raise NoPredictionsError(f"{run.run_id} ({run.name})")
    detail = entity.detail
    return Predictions(run.run_id, run.name, arrays, model=detail.get("model", "model"),
                       X=detail.get("X", "X"), y=detail.get("y", "y"))
