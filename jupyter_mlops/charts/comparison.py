"""Runs side by side, as one JSON document: the table and the figures a comparison shows.

The sidebar's comparison view and any other front end draw this document; the figures are
plotly figure specifications (``application/vnd.plotly.v1+json`` data), built here once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from ..store import Store
from ._common import in_clause, latest_metrics, resolve_runs, run_labels, run_params
from .runs import metric_curves, parallel_coordinates

MAX_COMPARED = 50
MAX_CURVE_FIGURES = 8


def _figure_json(figure: go.Figure, dark: bool) -> dict[str, Any]:
    """A figure as plain JSON data (``data`` and ``layout``), in the page's theme."""
    if dark:
        figure.update_layout(template="plotly_dark", paper_bgcolor="rgba(0,0,0,0)")
    return json.loads(figure.to_json())  # type: ignore[no-any-return]


def _rows(keys: Sequence[str], values: dict[str, dict[str, Any]],
          ids: Sequence[str]) -> list[dict[str, Any]]:
    rows = []
    for key in keys:
        cells = [values[run_id].get(key) for run_id in ids]
        texts = {json.dumps(values[run_id][key], sort_keys=True) if key in values[run_id]
                 else None for run_id in ids}
        rows.append({"key": key, "values": cells, "differs": len(texts) > 1})
    return rows


def _curve_keys(store: Store, ids: Sequence[str]) -> list[str]:
    """Metric keys some run logged at two or more steps: the training curves."""
    rows = store.conn.execute(
        f"SELECT key FROM metrics WHERE run_id IN {in_clause(ids)} GROUP BY run_id, key "
        "HAVING count(*) >= 2", list(ids)).fetchall()
    return sorted({key for (key,) in rows})


def comparison(store: Store, run_ids: Sequence[str], *, dark: bool = False) -> dict[str, Any]:
    """What a comparison of runs shows, as JSON-friendly data.

    Parameters
    ----------
    store : the lineage store.
    run_ids : two or more run ids, unique id prefixes or run names (at most 50).
    dark : draw the figures for a dark page (plotly's ``plotly_dark`` template).

    Returns
    -------
    dict
        ``runs`` (id, name, label, experiment, status, started_at, duration_s, in order),
        ``params`` and ``metrics`` (rows of ``key``, ``values`` in the runs' order and
        ``differs``: whether the runs disagree, a missing value counting as different),
        ``curves`` (one plotly figure per metric logged at two or more steps, a line per run)
        and ``parallel`` (parameters against the most common metric, or null when the runs
        logged no metric).
    """
    ids = resolve_runs(store, run_ids)
    if len(ids) < 2:
        raise ValueError("compare at least two runs: select two or more in the runs table")
    if len(ids) > MAX_COMPARED:
        raise ValueError(f"compare at most {MAX_COMPARED} runs at once, not {len(ids)}")
    labels = run_labels(store, ids)
    found = {row[0]: row for row in store.conn.execute(
        "SELECT r.run_id, r.name, e.name, r.status, r.started_at, r.duration_s FROM runs r "
        f"JOIN experiments e ON e.id = r.experiment_id WHERE r.run_id IN {in_clause(ids)}",
        ids)}
    runs = [{"run_id": run_id, "name": found[run_id][1], "label": label,
             "experiment": found[run_id][2], "status": found[run_id][3],
             "started_at": found[run_id][4], "duration_s": found[run_id][5]}
            for run_id, label in zip(ids, labels, strict=True)]
    params = run_params(store, ids)
    metrics = latest_metrics(store, ids)
    param_keys = sorted({key for run in params.values() for key in run})
    metric_keys = sorted({key for run in metrics.values() for key in run})
    curves = [_figure_json(metric_curves(store, ids, key), dark)
              for key in _curve_keys(store, ids)[:MAX_CURVE_FIGURES]]
    parallel = None
    if metric_keys and param_keys:
        parallel = _figure_json(parallel_coordinates(store, ids), dark)
    return {"runs": runs, "params": _rows(param_keys, params, ids),
            "metrics": _rows(metric_keys, metrics, ids), "curves": curves,
            "parallel": parallel}
