"""Diagnostics of a run's model from the predictions ``%%track --eval X y`` kept.

``classifier_diagnostics(source, run_id)`` reads the predictions from a
:class:`PredictionSource` (a :class:`~jupyter_mlops.store.Store` is one);
``classifier_diagnostics_figure(predictions)`` draws :class:`~jupyter_mlops.entities.Predictions`
already in hand. Likewise for regressors, and ``diagnostics`` picks whichever fits.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..entities import Predictions
from ._common import PALETTE, thin

MAX_ROC_POINTS = 1_000
MAX_SCATTER_POINTS = 5_000
MAX_CLASSES = 50
MAX_HISTOGRAM_BINS = 60


class PredictionSource(Protocol):
    """Where the diagnostics read a run's ``--eval`` predictions from."""

    def eval_predictions(self, run_ref: str) -> Predictions:
        """The predictions a run (id, unique id prefix or name) kept."""
        ...


def _who(p: Predictions) -> str:
    return f"run {p.run_id} ({p.run_name})"


def _title(p: Predictions) -> str:
    return (f"{p.run_name} · {p.run_id[:10]} · {p.model} on {p.X}, {p.y} "
            f"({p.arrays['y_true'].size:,} rows)")


def _is_classification(arrays: dict[str, np.ndarray]) -> bool:
    if "task" in arrays:  # recorded by --eval since it knew the model (older runs: inferred)
        return str(arrays["task"]) == "classification"
    if "proba" in arrays:
        return True
    y_true, y_pred = arrays["y_true"], arrays["y_pred"]
    if y_true.dtype.kind in "bOUS" or y_pred.dtype.kind in "bOUS":
        return True
    labels = np.unique(y_true)
    return labels.size <= MAX_CLASSES and bool(np.isin(y_pred, labels).all())


def _class_labels(arrays: dict[str, np.ndarray]) -> np.ndarray:
    seen = np.unique(np.concatenate([arrays["y_true"], arrays["y_pred"]]))
    classes = arrays.get("classes")
    if classes is not None and bool(np.isin(seen, classes).all()):
        return classes
    return seen


def _confusion(fig: go.Figure, y_true: np.ndarray, y_pred: np.ndarray,
               labels: np.ndarray) -> None:
    from sklearn.metrics import confusion_matrix

    counts = confusion_matrix(y_true, y_pred, labels=labels)
    names = [str(label) for label in labels]
    fig.add_trace(go.Heatmap(
        z=counts, x=names, y=names, texttemplate="%{z}", colorscale="Blues",
        showscale=False, name="confusion matrix",
        hovertemplate="actual %{y}<br>predicted %{x}<br>%{z} rows<extra></extra>",
    ), row=1, col=1)
    fig.update_xaxes(title_text="predicted", type="category", row=1, col=1)
    fig.update_yaxes(title_text="actual", type="category", autorange="reversed", row=1, col=1)


def _diagonal(fig: go.Figure, row: int, col: int, name: str) -> None:
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name=name, showlegend=False,
                             line={"dash": "dash", "color": "grey"}, hoverinfo="skip"),
                  row=row, col=col)


def _roc(fig: go.Figure, positive: np.ndarray, score: np.ndarray, name: str, color: str,
         row: int, col: int) -> None:
    from sklearn.metrics import roc_auc_score, roc_curve

    fpr, tpr, _ = roc_curve(positive, score)
    keep = thin(fpr.size, MAX_ROC_POINTS)
    auc = roc_auc_score(positive, score)
    fig.add_trace(go.Scatter(x=fpr[keep], y=tpr[keep], mode="lines", line={"color": color},
                             name=f"{name} (AUC {auc:.4f})",
                             hovertemplate="FPR %{x:.3f}<br>TPR %{y:.3f}<extra></extra>"),
                  row=row, col=col)
    fig.update_xaxes(title_text="false positive rate", range=[0, 1], row=row, col=col)
    fig.update_yaxes(title_text="true positive rate", range=[0, 1.02], row=row, col=col)


def _bin_edges(values: np.ndarray) -> np.ndarray:
    """Histogram bins (numpy's ``auto``, at most 60); one bin when the values are equal but
    for rounding (a constant offset), a range too narrow for floats to split."""
    try:
        edges = np.histogram_bin_edges(values, bins="auto")
        if edges.size - 1 > MAX_HISTOGRAM_BINS:
            edges = np.histogram_bin_edges(values, bins=MAX_HISTOGRAM_BINS)
    except ValueError:
        edges = np.histogram_bin_edges(values, bins=1)
    return edges


def classifier_diagnostics(source: PredictionSource, run_id: str) -> go.Figure:
    """Confusion matrix, ROC, precision-recall and calibration of a run's ``--eval`` model
    (see :func:`classifier_diagnostics_figure`).

    Raises
    ------
    RunNotFoundError : no such run.
    NoPredictionsError : the run was not tracked with ``--eval``.
    ValueError : the run evaluated a regressor, or its ``y`` holds a single class.
    """
    return classifier_diagnostics_figure(source.eval_predictions(run_id))


def classifier_diagnostics_figure(predictions: Predictions) -> go.Figure:
    """Confusion matrix, ROC, precision-recall and calibration of a run's ``--eval`` model.

    Computed from the predictions a ``%%track --eval X y`` run kept. A binary classifier
    gets a 2×2 figure: the confusion matrix (counts), the ROC curve with its AUC in the
    legend, the precision-recall curve with its average precision, and the calibration
    curve (10 bins). A multiclass classifier gets the confusion matrix and one-vs-rest ROC
    curves per class. A model without ``predict_proba`` gets the confusion matrix only.

    Raises
    ------
    ValueError : the run evaluated a regressor, or its ``y`` holds a single class.
    """
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import average_precision_score, precision_recall_curve

    arrays, title = predictions.arrays, _title(predictions)
    if not _is_classification(arrays):
        raise ValueError(f"{_who(predictions)} evaluated a regressor: draw "
                         f"regressor_diagnostics(store, {predictions.run_id!r}) instead")
    y_true, y_pred, proba = arrays["y_true"], arrays["y_pred"], arrays.get("proba")
    labels = _class_labels(arrays)
    if proba is None:
        fig = make_subplots(rows=1, cols=1, subplot_titles=["confusion matrix"])
        _confusion(fig, y_true, y_pred, labels)
        fig.update_layout(title=f"{title}<br><sup>ROC, precision-recall and calibration need "
                                "a model with predict_proba</sup>", height=460)
        return fig
    classes = arrays["classes"]
    if proba.shape[1] > 2:
        fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12, subplot_titles=[
            "confusion matrix", "ROC, one class against the rest"])
        _confusion(fig, y_true, y_pred, labels)
        for i, label in enumerate(classes):
            positive = y_true == label
            if positive.all() or not positive.any():
                continue  # no ROC for a class absent from y (or the only one in it)
            _roc(fig, positive, proba[:, i], f"class {label}", PALETTE[i % len(PALETTE)],
                 row=1, col=2)
        _diagonal(fig, 1, 2, "chance")
        fig.update_layout(title=title, height=480)
        return fig
    positive, score = y_true == classes[1], proba[:, 1]
    if positive.all() or not positive.any():
        raise ValueError(f"{_who(predictions)}: its y holds only one class, so ROC "
                         "and precision-recall are undefined; evaluate on data with both classes")
    fig = make_subplots(rows=2, cols=2, horizontal_spacing=0.12, vertical_spacing=0.14,
                        subplot_titles=["confusion matrix", f"ROC (positive class {classes[1]})",
                                        "precision-recall", "calibration"])
    _confusion(fig, y_true, y_pred, labels)
    _roc(fig, positive, score, "ROC", PALETTE[0], row=1, col=2)
    _diagonal(fig, 1, 2, "chance")
    precision, recall, _ = precision_recall_curve(positive, score)
    keep = thin(recall.size, MAX_ROC_POINTS)
    ap = average_precision_score(positive, score)
    fig.add_trace(go.Scatter(x=recall[keep], y=precision[keep], mode="lines",
                             name=f"precision-recall (AP {ap:.4f})",
                             line={"color": PALETTE[1]}), row=2, col=1)
    base = float(positive.mean())
    fig.add_trace(go.Scatter(x=[0, 1], y=[base, base], mode="lines", showlegend=False,
                             line={"dash": "dash", "color": "grey"}, hoverinfo="skip"),
                  row=2, col=1)
    fig.update_xaxes(title_text="recall", range=[0, 1], row=2, col=1)
    fig.update_yaxes(title_text="precision", range=[0, 1.02], row=2, col=1)
    observed, predicted = calibration_curve(positive, score, n_bins=10)
    fig.add_trace(go.Scatter(x=predicted, y=observed, mode="lines+markers", name="calibration",
                             line={"color": PALETTE[2]}), row=2, col=2)
    _diagonal(fig, 2, 2, "perfectly calibrated")
    fig.update_xaxes(title_text="mean predicted probability", range=[0, 1], row=2, col=2)
    fig.update_yaxes(title_text="fraction of positives", range=[0, 1.02], row=2, col=2)
    fig.update_layout(title=title, height=820)
    return fig


def regressor_diagnostics(source: PredictionSource, run_id: str) -> go.Figure:
    """Predicted against actual, residuals against predicted, and the residual histogram
    (see :func:`regressor_diagnostics_figure`).

    Raises
    ------
    RunNotFoundError : no such run.
    NoPredictionsError : the run was not tracked with ``--eval``.
    ValueError : the run evaluated a classifier.
    """
    return regressor_diagnostics_figure(source.eval_predictions(run_id))


def regressor_diagnostics_figure(predictions: Predictions) -> go.Figure:
    """Predicted against actual, residuals against predicted, and the residual histogram.

    Computed from the predictions a ``%%track --eval X y`` run kept. Scatter panels show a
    seeded random sample of 5,000 rows when there are more; the histogram counts every row.

    Raises
    ------
    ValueError : the run evaluated a classifier.
    """
    arrays, title = predictions.arrays, _title(predictions)
    if _is_classification(arrays):
        raise ValueError(f"{_who(predictions)} evaluated a classifier: draw "
                         f"classifier_diagnostics(store, {predictions.run_id!r}) instead")
    y_true = arrays["y_true"].astype(float)
    y_pred = arrays["y_pred"].astype(float)
    finite = np.isfinite(y_true) & np.isfinite(y_pred)
    y_true, y_pred = y_true[finite], y_pred[finite]
    residual = y_true - y_pred
    n = y_true.size
    sample = np.arange(n)
    if n > MAX_SCATTER_POINTS:
        sample = np.sort(np.random.default_rng(0).choice(n, MAX_SCATTER_POINTS, replace=False))
    rmse = math.sqrt(float(np.mean(residual**2)))
    spread = float(np.sum((y_true - y_true.mean()) ** 2))
    r2 = 1 - float(np.sum(residual**2)) / spread if spread else math.nan
    # float32 halves the figure; the scatter needs no more precision than the screen has.
    actual, predicted, off = (a[sample].astype(np.float32) for a in (y_true, y_pred, residual))
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.08, subplot_titles=[
        "predicted vs actual", "residuals vs predicted", "residuals"])
    marker = {"size": 5, "opacity": 0.6, "color": PALETTE[0]}
    fig.add_trace(go.Scatter(x=actual, y=predicted, mode="markers", marker=marker,
                             name="rows", hovertemplate="actual %{x:.4g}<br>predicted "
                             "%{y:.4g}<extra></extra>"), row=1, col=1)
    low, high = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
    fig.add_trace(go.Scatter(x=[low, high], y=[low, high], mode="lines", name="identity",
                             line={"dash": "dash", "color": "grey"}), row=1, col=1)
    fig.add_trace(go.Scatter(x=predicted, y=off, mode="markers", marker=marker,
                             showlegend=False, hovertemplate="predicted %{x:.4g}<br>residual "
                             "%{y:.4g}<extra></extra>"), row=1, col=2)
    fig.add_trace(go.Scatter(x=[float(y_pred.min()), float(y_pred.max())], y=[0, 0],
                             mode="lines", showlegend=False, hoverinfo="skip",
                             line={"dash": "dash", "color": "grey"}), row=1, col=2)
    counts, edges = np.histogram(residual, bins=_bin_edges(residual))
    fig.add_trace(go.Bar(x=(edges[:-1] + edges[1:]) / 2, y=counts, width=np.diff(edges),
                         name="residuals", marker_color=PALETTE[1], showlegend=False,
                         hovertemplate="residual %{x:.4g}<br>%{y} rows<extra></extra>"),
                  row=1, col=3)
    fig.update_xaxes(title_text="actual", row=1, col=1)
    fig.update_yaxes(title_text="predicted", row=1, col=1)
    fig.update_xaxes(title_text="predicted", row=1, col=2)
    fig.update_yaxes(title_text="actual − predicted", row=1, col=2)
    fig.update_xaxes(title_text="actual − predicted", row=1, col=3)
    fig.update_yaxes(title_text="rows", row=1, col=3)
    sampled = f" · scatter: {MAX_SCATTER_POINTS:,} sampled rows" if n > MAX_SCATTER_POINTS else ""
    fig.update_layout(title=f"{title}<br><sup>RMSE {rmse:.4g} · R² {r2:.4f}{sampled}</sup>",
                      height=440, bargap=0)
    return fig


def diagnostics(source: PredictionSource, run_id: str) -> go.Figure:
    """Classifier or regressor diagnostics, whichever the run's ``--eval`` predictions are."""
    return diagnostics_figure(source.eval_predictions(run_id))


def diagnostics_figure(predictions: Predictions) -> go.Figure:
    """Classifier or regressor diagnostics, whichever ``predictions`` are."""
    if _is_classification(predictions.arrays):
        return classifier_diagnostics_figure(predictions)
    return regressor_diagnostics_figure(predictions)
