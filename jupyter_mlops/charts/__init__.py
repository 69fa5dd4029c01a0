"""Plotly figures of runs: comparisons, metric curves, ``--eval`` diagnostics, lineage, drift.

The charts take plain data and return a :class:`plotly.graph_objects.Figure`; none queries a
store or displays anything. Each run chart comes twice:

- ``compare_runs(source, run_ids)``, ``metric_curves``, ``parallel_coordinates``,
  ``classifier_diagnostics``, ``regressor_diagnostics``, ``diagnostics``, ``lineage_graph``
  and ``comparison`` read what they draw from a *source*: any object with the few methods
  their protocol names (:class:`RunSource`, :class:`PredictionSource`,
  :class:`LineageSource`). A :class:`~jupyter_mlops.store.Store` is one: pass the store.
- ``compare_runs_figure(runs)``, ``metric_curves_figure``, ``parallel_coordinates_figure``,
  ``classifier_diagnostics_figure``, ``regressor_diagnostics_figure``, ``diagnostics_figure``,
  ``lineage_figure`` and ``comparison_document`` draw the plain objects of
  :mod:`jupyter_mlops.entities` (``RunSet``, ``MetricPoint``, ``Predictions``,
  ``LineageGraph``) already in hand. ``drift_figure`` and ``drift_over_time`` take a drift
  report and the monitoring history frames; ``rollout_figure`` a rollout report's per-arm
  figures.

In a notebook the figure's ``application/vnd.plotly.v1+json`` output is drawn by the renderer
that ships inside the plotly wheel: no CDN, no external script. Figures carry only what they
plot: long curves are thinned, large scatter plots sampled and histograms binned before
plotting. Runs are named by id, unique id prefix or run name (its latest run), as everywhere
else.

May import: ``entities`` (L0), plotly, numpy; scikit-learn inside the diagnostics.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

from .comparison import comparison, comparison_document
from .diagnostics import (
    PredictionSource,
    classifier_diagnostics,
    classifier_diagnostics_figure,
    diagnostics,
    diagnostics_figure,
    regressor_diagnostics,
    regressor_diagnostics_figure,
)
from .drift import drift_figure, drift_over_time
from .lineage import LineageSource, lineage_figure, lineage_graph
from .rollout import rollout_figure
from .runs import (
    RunSource,
    compare_runs,
    compare_runs_figure,
    metric_curves,
    metric_curves_figure,
    parallel_coordinates,
    parallel_coordinates_figure,
)

__all__ = [
    "LineageSource", "PredictionSource", "RunSource", "classifier_diagnostics",
    "classifier_diagnostics_figure", "compare_runs", "compare_runs_figure", "comparison",
    "comparison_document", "diagnostics", "diagnostics_figure", "drift_figure",
    "drift_over_time", "lineage_figure", "lineage_graph", "metric_curves",
    "metric_curves_figure", "mimebundle", "parallel_coordinates", "parallel_coordinates_figure",
    "regressor_diagnostics", "regressor_diagnostics_figure", "rollout_figure",
]


def mimebundle(figure: go.Figure) -> dict[str, Any]:
    """The figure as JupyterLab's plotly output (``application/vnd.plotly.v1+json``).

    Independent of plotly's default renderer, which differs between kernels and terminals;
    display it with ``IPython.display.display(bundle, raw=True)``.
    """
    bundle: dict[str, Any] = pio.renderers["plotly_mimetype"].to_mimebundle(figure.to_dict())
    bundle["text/plain"] = f"<plotly figure: {figure.layout.title.text or 'untitled'}>"
    return bundle
