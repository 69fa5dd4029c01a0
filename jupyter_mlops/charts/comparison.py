"""Runs side by side, as one JSON document: the table and the figures a comparison shows.

The sidebar's comparison view and any other front end draw this document; the figures are
plotly figure specifications (``application/vnd.plotly.v1+json`` data), built here once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from ..entities import RunSet
from ._common import run_labels
from .runs import (
    RunRefs,
    RunSource,
    Series,
    metric_curves_figure,
    metric_series,
    parallel_coordinates_figure,
)

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


def _check_count(runs: RunSet) -> None:
    if len(runs.runs) < 2:
        raise ValueError("compare at least two runs: select two or more in the runs table")
    if len(runs.runs) > MAX_COMPARED:
        raise ValueError(f"compare at most {MAX_COMPARED} runs at once, not {len(runs.runs)}")


def _curve_keys(runs: RunSet) -> list[str]:
    """Metric keys some run logged at two or more steps (the first 8): the training curves."""
    return sorted({key for keys in runs.curves.values() for key in keys})[:MAX_CURVE_FIGURES]


def comparison(source: RunSource, run_ids: RunRefs, *, dark: bool = False) -> dict[str, Any]:
    """What a comparison of runs shows, as JSON-friendly data.

    Parameters
    ----------
    source : where the runs and their curves are read from: the lineage store.
    run_ids : two or more run ids, unique id prefixes or run names (at most 50).
    dark : draw the figures for a dark page (plotly's ``plotly_dark`` template).

    Returns
    -------
    dict
        See :func:`comparison_document`.
    """
    runs = source.run_set(run_ids)
    _check_count(runs)  # before reading any curve
    return comparison_document(runs, metric_series(source, runs, _curve_keys(runs)), dark=dark)


def comparison_document(runs: RunSet, series: Series, *, dark: bool = False) -> dict[str, Any]:
    """What a comparison of runs shows, from the runs' data and their curves.

    Parameters
    ----------
    runs : two to 50 runs, with their params and latest metrics.
    series : run id → metric key → its logged points; a figure is drawn for each metric
        some run logged at two or more steps (the first 8 by name) that ``series`` holds.
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
    _check_count(runs)
    ids = runs.ids
    summaries = [{"run_id": run.run_id, "name": run.name, "label": label,
                  "experiment": run.experiment, "status": run.status,
                  "started_at": run.started_at, "duration_s": run.duration_s}
                 for run, label in zip(runs.runs, run_labels(runs.runs), strict=True)]
    param_keys = sorted({key for run in runs.params.values() for key in run})
    metric_keys = sorted({key for run in runs.metrics.values() for key in run})
    curves = []
    for key in _curve_keys(runs):
        one = {run_id: {key: points[key]} for run_id, points in series.items()
               if points.get(key)}
        if one:
            curves.append(_figure_json(metric_curves_figure(runs, one), dark))
    parallel = None
    if metric_keys and param_keys:
        parallel = _figure_json(parallel_coordinates_figure(runs), dark)
    return {"runs": summaries, "params": _rows(param_keys, runs.params, ids),
            "metrics": _rows(metric_keys, runs.metrics, ids), "curves": curves,
            "parallel": parallel}
