"""The rollout chart: latency, error rate and metric per arm, and the improvement's interval.

Takes plain data (one dict per arm, as :class:`~jupyter_mlops.lifecycle.rollout.RolloutReport`
holds them, and the comparison's numbers); queries nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ._common import PALETTE


def _number(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) \
        else float(value)


def rollout_figure(arms: Sequence[Mapping[str, Any]], comparison: Mapping[str, Any] | None = None,
                   *, title: str = "rollout") -> go.Figure:
    """Panels: latency p50/p99 per arm (ms), error rate per arm, and, when labels were
    compared, the metric per arm beside the challenger's improvement with its interval.

    Parameters
    ----------
    arms : one mapping per arm: ``arm``, ``latency_p50_ms``, ``latency_p99_ms``,
        ``error_rate`` and optionally a metric (``accuracy``, ``mse``, ``mae``)
    comparison : ``metric``, ``improvement``, ``low``, ``high``
    """
    names = [str(a["arm"]) for a in arms]
    panels = ["latency (ms)", "error rate"] + (
        [f"{comparison['metric']} per arm", "challenger improvement"] if comparison else [])
    figure = make_subplots(rows=1, cols=len(panels), subplot_titles=panels)
    for label, key, color in (("p50", "latency_p50_ms", PALETTE[0]),
                              ("p99", "latency_p99_ms", PALETTE[1])):
        figure.add_trace(go.Bar(x=names, y=[_number(a.get(key)) for a in arms], name=label,
                                marker_color=color), row=1, col=1)
    figure.add_trace(go.Bar(x=names, y=[_number(a.get("error_rate")) for a in arms],
                            name="error rate", marker_color=PALETTE[2], showlegend=False),
                     row=1, col=2)
    if comparison:
        metric = str(comparison["metric"])
        figure.add_trace(go.Bar(x=names, y=[_number(a.get(metric)) for a in arms], name=metric,
                                marker_color=PALETTE[3], showlegend=False), row=1, col=3)
        improvement = float(comparison["improvement"])
        figure.add_trace(go.Scatter(
            x=["challenger − champion"], y=[improvement], mode="markers", showlegend=False,
            marker={"size": 12, "color": PALETTE[4]},
            error_y={"type": "data", "symmetric": False,
                     "array": [float(comparison["high"]) - improvement],
                     "arrayminus": [improvement - float(comparison["low"])]}), row=1, col=4)
        figure.add_hline(y=0, line_dash="dot", row=1, col=4)
    figure.update_layout(title=title, barmode="group", height=360)
    return figure
