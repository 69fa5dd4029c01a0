"""Plotly figures of runs: comparisons, metric curves, ``--eval`` diagnostics and lineage.

Every function takes a :class:`~jupyter_mlops.store.Store` and returns a
:class:`plotly.graph_objects.Figure`; none displays anything. In a notebook the figure's
``application/vnd.plotly.v1+json`` output is drawn by the renderer that ships inside the plotly
wheel: no CDN, no external script. Figures carry only what they plot: long curves are thinned,
large scatter plots sampled and histograms binned before plotting.

Runs are named by id, unique id prefix or run name (its latest run), as everywhere else.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

from .comparison import comparison
from .diagnostics import classifier_diagnostics, diagnostics, regressor_diagnostics
from .drift import drift_figure, drift_over_time
from .lineage import lineage_graph
from .runs import compare_runs, metric_curves, parallel_coordinates

__all__ = ["classifier_diagnostics", "compare_runs", "comparison", "diagnostics", "drift_figure",
           "drift_over_time", "lineage_graph", "metric_curves", "mimebundle",
           "parallel_coordinates", "regressor_diagnostics"]


def mimebundle(figure: go.Figure) -> dict[str, Any]:
    """The figure as JupyterLab's plotly output (``application/vnd.plotly.v1+json``).

    Independent of plotly's default renderer, which differs between kernels and terminals;
    display it with ``IPython.display.display(bundle, raw=True)``.
    """
    bundle: dict[str, Any] = pio.renderers["plotly_mimetype"].to_mimebundle(figure.to_dict())
    bundle["text/plain"] = f"<plotly figure: {figure.layout.title.text or 'untitled'}>"
    return bundle
