"""Comparing runs: metrics by run, parameters against a metric, metric curves over steps.

Each chart comes twice: ``compare_runs(source, run_ids)`` reads the runs from a
:class:`RunSource` (a :class:`~jupyter_mlops.store.Store` is one), ``compare_runs_figure(runs)``
draws a :class:`~jupyter_mlops.entities.RunSet` already in hand.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..entities import MetricPoint, RunSet
from ._common import PALETTE, run_labels, thin

RunRefs = Sequence[str] | str
# run id → metric key → its logged points (by step)
Series = Mapping[str, Mapping[str, Sequence[MetricPoint]]]


class RunSource(Protocol):
    """Where the run charts read runs and curves from."""

    def run_set(self, run_refs: RunRefs) -> RunSet:
        """The runs (ids, unique id prefixes or names), each once, in order."""
        ...

    def metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        """Every logged point of one metric of a run, by step."""
        ...


MAX_CURVE_POINTS = 5_000
PREFERRED_METRICS = ("roc_auc", "accuracy", "f1", "r2", "rmse", "val_loss", "loss")
_MISSING = object()  # a parameter a run does not have


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def _grid(count: int, columns: int = 4) -> tuple[int, int]:
    cols = min(count, columns)
    return math.ceil(count / cols), cols


def compare_runs(
    source: RunSource, run_ids: RunRefs, metrics: Sequence[str] | None = None
) -> go.Figure:
    """Each metric's latest value by run: one panel of bars per metric.

    Parameters
    ----------
    source : where the runs are read from: the lineage store.
    run_ids : run ids, unique id prefixes or run names (a name means its latest run).
    metrics : metric keys to show; by default every metric any of the runs logged.

    Returns
    -------
    plotly.graph_objects.Figure
        See :func:`compare_runs_figure`.
    """
    return compare_runs_figure(source.run_set(run_ids), metrics)


def compare_runs_figure(runs: RunSet, metrics: Sequence[str] | None = None) -> go.Figure:
    """Each metric's latest value by run, drawn from the runs' data (see :func:`compare_runs`).

    Returns
    -------
    plotly.graph_objects.Figure
        One bar trace per metric (``trace.name`` is the key), ``x`` the run labels
        (``name · id``), bars coloured by run. Each metric has its own axis, so metrics of
        different scales (``rmse`` and ``r2``) stay readable side by side.
    """
    ids, values = runs.ids, runs.metrics
    available = sorted({key for run in values.values() for key in run})
    if not available:
        raise ValueError(
            "these runs logged no metrics: log some with mlops.log_metric(), --metric VAR or "
            "%%track --eval X_test y_test"
        )
    keys = available if metrics is None else list(dict.fromkeys(metrics))
    unknown = [key for key in keys if key not in available]
    if unknown:
        raise ValueError(f"none of these runs logged {', '.join(unknown)}; they logged "
                         f"{', '.join(available)}")
    labels = run_labels(runs.runs)
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(ids))]
    rows, cols = _grid(len(keys))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=keys)
    for i, key in enumerate(keys):
        y = [values[run_id].get(key) for run_id in ids]
        fig.add_trace(go.Bar(
            x=labels, y=y, name=key, marker_color=colors, text=[_fmt(v) for v in y],
            textposition="auto", showlegend=False,
            hovertemplate=f"%{{x}}<br>{key} = %{{y:.6g}}<extra></extra>",
        ), row=i // cols + 1, col=i % cols + 1)
    fig.update_xaxes(type="category")
    fig.update_layout(title=f"{len(ids)} run{'s' * (len(ids) > 1)} by metric",
                      height=max(360, 300 * rows), bargap=0.25)
    return fig


def _category_key(text: str) -> tuple[int, float, str]:
    try:
        return 0, float(text), text
    except ValueError:
        return 1, 0.0, text


def _dimension(label: str, values: list[Any]) -> dict[str, Any]:
    """A parallel-coordinates axis: numeric values as they are, anything else as categories."""
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
           for v in values):
        return {"label": label, "values": [float(v) for v in values]}
    texts = ["(not set)" if v is _MISSING else v if isinstance(v, str) else json.dumps(v)
             for v in values]
    categories = sorted(set(texts), key=_category_key)
    index = {text: i for i, text in enumerate(categories)}
    return {"label": label, "values": [index[t] for t in texts],
            "tickvals": list(range(len(categories))), "ticktext": categories,
            "range": [0, max(len(categories) - 1, 1)]}


def _default_metric(values: dict[str, dict[str, float]]) -> str:
    counts: dict[str, int] = {}
    for run in values.values():
        for key in run:
            counts[key] = counts.get(key, 0) + 1
    if not counts:
        raise ValueError("these runs logged no metrics to compare their parameters against")
    most = max(counts.values())
    common = sorted(key for key, n in counts.items() if n == most)
    return next((key for key in PREFERRED_METRICS if key in common), common[0])


def parallel_coordinates(
    source: RunSource, run_ids: RunRefs, params: Sequence[str] | None = None,
    metric: str | None = None,
) -> go.Figure:
    """Parameters against a metric, one line per run, as parallel coordinates.

    Parameters
    ----------
    source : where the runs are read from: the lineage store.
    run_ids : run ids, unique id prefixes or run names.
    params : parameter keys, one axis each (see :func:`parallel_coordinates_figure`).
    metric : the metric on the last axis and colouring the lines.
    """
    return parallel_coordinates_figure(source.run_set(run_ids), params, metric)


def parallel_coordinates_figure(
    runs: RunSet, params: Sequence[str] | None = None, metric: str | None = None,
) -> go.Figure:
    """Parameters against a metric, one line per run, drawn from the runs' data.

    Parameters
    ----------
    runs : the runs, with their params and latest metrics.
    params : parameter keys, one axis each; by default those whose value differs between
        the runs (all of them when none differs).
    metric : the metric on the last axis and colouring the lines; by default the one most
        runs logged (``roc_auc``, ``accuracy``, ``f1``, ``r2``, ``rmse``... first). Runs that
        did not log it are left out.

    Returns
    -------
    plotly.graph_objects.Figure
        One ``Parcoords`` trace. Numeric parameters keep their values; other parameters
        (strings, booleans, ``None``, lists, a value missing from a run) become integer
        positions with the category names as tick text.
    """
    scores = runs.metrics
    metric = metric if metric is not None else _default_metric(scores)
    ids = [run_id for run_id in runs.ids if metric in scores[run_id]]
    if not ids:
        logged = sorted({key for run in scores.values() for key in run})
        raise ValueError(f"none of these runs logged {metric!r}; they logged "
                         f"{', '.join(logged) or 'no metrics'}")
    values = {run_id: runs.params[run_id] for run_id in ids}
    available = sorted({key for run in values.values() for key in run})
    if params is None:
        texts = {key: {json.dumps(run[key]) if key in run else None for run in values.values()}
                 for key in available}
        keys = [key for key in available if len(texts[key]) > 1] or available
    else:
        keys = list(dict.fromkeys(params))
        unknown = [key for key in keys if key not in available]
        if unknown:
            raise ValueError(f"none of these runs has the parameter {', '.join(unknown)}; "
                             f"their parameters are {', '.join(available) or 'none'}")
    dimensions = [_dimension(key, [values[run_id].get(key, _MISSING) for run_id in ids])
                  for key in keys]
    metric_values = [scores[run_id][metric] for run_id in ids]
    dimensions.append({"label": metric, "values": metric_values})
    fig = go.Figure(go.Parcoords(
        dimensions=dimensions,
        line={"color": metric_values, "colorscale": "Viridis", "showscale": True,
              "colorbar": {"title": {"text": metric}}},
    ))
    fig.update_layout(title=f"{len(keys)} parameter{'s' * (len(keys) != 1)} against {metric} "
                            f"over {len(ids)} run{'s' * (len(ids) != 1)}")
    return fig


def _curve_keys(runs: RunSet, key: str | None) -> list[str]:
    """The metrics to draw: ``key``, else those logged at two or more steps, else all."""
    logged = sorted({k for run in runs.metrics.values() for k in run})
    if not logged:
        return []
    if key is None:
        return sorted({k for keys in runs.curves.values() for k in keys}) or logged
    if key not in logged:
        raise ValueError(f"none of these runs logged {key!r}; they logged {', '.join(logged)}")
    return [key]


def metric_series(
    source: RunSource, runs: RunSet, keys: Sequence[str]
) -> dict[str, dict[str, list[MetricPoint]]]:
    """Each run's logged points of each of ``keys`` it logged."""
    return {run_id: {key: source.metric_history(run_id, key) for key in keys
                     if key in runs.metrics[run_id]} for run_id in runs.ids}


def metric_curves(source: RunSource, run_ids: RunRefs, key: str | None = None) -> go.Figure:
    """Metric values over steps, one line per run and metric key.

    Parameters
    ----------
    source : where the runs and their curves are read from: the lineage store.
    run_ids : run ids, unique id prefixes or run names.
    key : one metric to draw; by default every metric logged at two or more steps
        (every metric when none was).

    Returns
    -------
    plotly.graph_objects.Figure
        See :func:`metric_curves_figure`.
    """
    runs = source.run_set(run_ids)
    return metric_curves_figure(runs, metric_series(source, runs, _curve_keys(runs, key)))


def metric_curves_figure(runs: RunSet, series: Series) -> go.Figure:
    """Metric values over steps, one line per run and metric key, drawn from the points.

    Parameters
    ----------
    runs : the runs, for their order and labels.
    series : run id → metric key → its logged points (a run or key missing is skipped).

    Returns
    -------
    plotly.graph_objects.Figure
        One ``Scatter`` per run × key with the logged steps as ``x`` and values as ``y``,
        named ``name · id · key``. Curves of more than 5,000 points are thinned evenly
        (first and last point kept).
    """
    keys = sorted({key for run in series.values() for key, points in run.items() if points})
    if not keys:
        raise ValueError("these runs logged no metrics: log a curve with "
                         "mlops.log_metric('loss', value, step=epoch) inside a %%track cell")
    fig = go.Figure()
    thinned = False
    for run_id, label in zip(runs.ids, run_labels(runs.runs), strict=True):
        for metric in keys:
            points = series.get(run_id, {}).get(metric)
            if not points:
                continue
            keep = thin(len(points), MAX_CURVE_POINTS)
            thinned |= keep.size < len(points)
            steps = np.array([p.step for p in points])[keep]
            values = np.array([p.value for p in points], dtype=float)[keep]
            fig.add_trace(go.Scatter(
                x=steps, y=values, name=f"{label} · {metric}",
                mode="lines+markers" if keep.size <= 50 else "lines",
                hovertemplate=f"{label}<br>{metric} = %{{y:.6g}} at step %{{x}}<extra></extra>",
            ))
    title = keys[0] if len(keys) == 1 else f"{len(keys)} metrics"
    fig.update_layout(
        title=f"{title} over steps" + (" (long curves thinned to 5,000 points)" * thinned),
        xaxis_title="step", yaxis_title=keys[0] if len(keys) == 1 else "value",
        hovermode="closest",
    )
    return fig
