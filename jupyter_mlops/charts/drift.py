"""Drift charts: one report's verdicts and distributions, and drift over monitoring batches.

Both take data: a :class:`~jupyter_mlops.drift.DriftReport`, and the frames
:func:`~jupyter_mlops.lifecycle.monitoring.drift_history` and
:func:`~jupyter_mlops.lifecycle.monitoring.performance_history` return.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

if TYPE_CHECKING:
    import pandas as pd

    from ..drift import DriftReport

DRIFTED, STABLE, UNTESTED = "#ef553b", "#00cc96", "#b0b0b0"
MAX_PANELS = 12


def _verdict_table(report: DriftReport) -> go.Table:
    frame = report.to_frame()
    colors = [DRIFTED if d else (STABLE if t else UNTESTED)
              for d, t in zip(frame["drifted"], frame["test"], strict=True)]

    def fmt(values: Any) -> list[str]:
        return ["" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4g}"
                for v in values]

    return go.Table(
        header={"values": ["column", "test", "statistic", "p-value", "threshold", "drifted"],
                "align": "left"},
        cells={"values": [frame["column"], frame["test"], fmt(frame["statistic"]),
                          fmt(frame["column_p_value"].fillna(frame["p_value"])),
                          fmt(frame["threshold"]),
                          ["yes" if d else "no" for d in frame["drifted"]]],
               "fill_color": [["white"] * len(frame)] * 5 + [colors], "align": "left"},
    )


def drift_figure(report: DriftReport, columns: list[str] | None = None) -> go.Figure:
    """The per-column table coloured by verdict, then reference/current distributions
    overlaid for each column (drifted columns first, at most 12)."""
    distributions = report.distributions
    verdicts = {c.column: c.drifted for c in report.columns}
    names = columns or sorted(distributions, key=lambda n: (not verdicts.get(n), n))
    names = [n for n in names if n in distributions][:MAX_PANELS]
    rows = 1 + math.ceil(len(names) / 3)
    specs: list[list[dict[str, Any] | None]] = [[{"type": "table", "colspan": 3}, None, None]]
    specs += [[{"type": "xy"}] * 3 for _ in range(rows - 1)]
    fig = make_subplots(rows=rows, cols=3, specs=specs, subplot_titles=[""] + names,
                        row_heights=[1.4] + [1.0] * (rows - 1), vertical_spacing=0.08)
    fig.add_trace(_verdict_table(report), row=1, col=1)
    for i, name in enumerate(names):
        dist = distributions[name]
        row, col = 2 + i // 3, 1 + i % 3
        if dist.edges is not None:
            centers = (np.asarray(dist.edges[:-1]) + np.asarray(dist.edges[1:])) / 2
            x: Any = centers.tolist()
        else:
            x = list(dist.labels)
        for side, values, color in (("reference", dist.reference, "#636efa"),
                                    ("current", dist.current, DRIFTED if verdicts.get(name)
                                     else "#fecb52")):
            fig.add_trace(go.Bar(x=x, y=np.asarray(values).tolist(), name=side,
                                 marker_color=color, opacity=0.6, showlegend=i == 0,
                                 legendgroup=side), row=row, col=col)
    fig.update_layout(barmode="overlay", height=260 + 220 * (rows - 1),
                      title=f"drift: {len(report.drifted_columns)} of {len(report.compared)} "
                            f"columns drifted; dataset drift needs {report.needed} — dataset "
                            f"{'DRIFTED' if report.drifted else 'ok'}")
    return fig


def drift_over_time(history: pd.DataFrame, performance: pd.DataFrame | None = None, *,
                    model: str) -> go.Figure:
    """Per column, the drift statistic across monitoring batches with its threshold; below,
    the model's performance across batches (with its training value) when labels were given.

    Parameters
    ----------
    history : per batch and column, as :func:`~jupyter_mlops.lifecycle.monitoring.drift_history`
        returns it (``batch, at, column, statistic, threshold, drifted`` are drawn).
    performance : per batch and metric, as
        :func:`~jupyter_mlops.lifecycle.monitoring.performance_history` returns it
        (``at, metric, current, training``); none or empty: no performance panel.
    model : what was monitored, for the title and messages.

    Raises
    ------
    ValueError : ``history`` holds no batch.
    """
    if history.empty:
        raise ValueError(f"no monitoring batches for {model!r}: run mlops.monitor({model!r}, "
                         "data) first")
    if performance is not None and performance.empty:
        performance = None
    panels = ["drift statistic per column (dashed: threshold)"] + ["performance"] * (
        performance is not None)
    fig = make_subplots(rows=len(panels), cols=1, shared_xaxes=True, subplot_titles=panels)
    for i, (column, part) in enumerate(history.groupby("column", sort=False)):
        color = f"hsl({(i * 47) % 360},60%,45%)"
        fig.add_trace(go.Scatter(x=part["at"], y=part["statistic"], name=str(column),
                                 mode="lines+markers", line={"color": color},
                                 marker={"symbol": ["x" if d else "circle"
                                                    for d in part["drifted"]]}), row=1, col=1)
        fig.add_trace(go.Scatter(x=part["at"], y=part["threshold"], mode="lines",
                                 line={"dash": "dash", "color": color, "width": 1},
                                 showlegend=False, hoverinfo="skip"), row=1, col=1)
    for metric, part in [] if performance is None else performance.groupby("metric", sort=False):
        fig.add_trace(go.Scatter(x=part["at"], y=part["current"], name=f"{metric}",
                                 mode="lines+markers"), row=2, col=1)
        fig.add_trace(go.Scatter(x=part["at"], y=part["training"], mode="lines",
                                 name=f"{metric} at training", line={"dash": "dot"}),
                      row=2, col=1)
    batches = history["batch"].nunique()
    fig.update_layout(title=f"{model}: drift over {batches} monitoring batch"
                            f"{'es' * (batches != 1)}", height=160 + 260 * len(panels))
    return fig
