"""How much a fitted model relies on each input column, read from the model itself.

Tree ensembles and boosting models report ``feature_importances_``. Linear models report
``coef_``, whose size depends on the column's unit, so a column's importance is ``|coef|``
(the largest over classes) times its spread as the model sees it: after the earlier steps
of a pipeline, measured on the rows given. A model that reports neither, or whose inputs are
not the table's columns one to one (one-hot encoders, column transformers), has no
importance here: the caller then treats every column as important. Permutation importance
was not chosen: it needs labelled rows with the training columns, and a run keeps its
``--eval`` predictions and profile, not those rows, while a monitored batch seldom has labels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["column_importance", "important_columns"]

SPREAD_ROWS = 5000  # rows used to measure the spread of a linear model's inputs


def column_importance(model: Any, frame: pd.DataFrame) -> dict[str, float] | None:
    """Each column's share of the model's importance (they sum to 1), or None when the
    model does not say (see the module docstring).

    Parameters
    ----------
    model : a fitted estimator or scikit-learn ``Pipeline`` taking ``frame``'s columns.
    frame : rows with the model's input columns (for a linear model's input spread).
    """
    final, inputs = model, frame.iloc[:SPREAD_ROWS]
    steps = getattr(model, "steps", None)
    if isinstance(steps, list) and steps:
        final = steps[-1][1]
        if len(steps) > 1 and hasattr(final, "coef_"):
            try:
                inputs = model[:-1].transform(inputs)
            except Exception:  # a step that cannot transform these rows: no importance
                return None
    if getattr(final, "n_features_in_", None) != frame.shape[1]:
        return None
    names = getattr(final, "feature_names_in_", None)
    if names is not None and [str(n) for n in names] != [str(c) for c in frame.columns]:
        return None
    values = _raw_importance(final, inputs)
    if values is None or values.shape != (frame.shape[1],) or not np.isfinite(values).all():
        return None
    total = float(values.sum())
    if total <= 0:
        return None
    return {str(name): float(v) / total for name, v in zip(frame.columns, values, strict=True)}


def _raw_importance(final: Any, inputs: Any) -> np.ndarray | None:
    if hasattr(final, "feature_importances_"):
        return np.asarray(final.feature_importances_, dtype=float)
    if not hasattr(final, "coef_"):
        return None
    try:
        matrix = np.asarray(inputs, dtype=float)
    except (TypeError, ValueError):  # sparse or non-numeric inputs
        return None
    if matrix.ndim != 2:
        return None
    with np.errstate(invalid="ignore"):
        spread = np.nanstd(matrix, axis=0) if matrix.shape[0] > 1 else np.ones(matrix.shape[1])
    coef = np.abs(np.atleast_2d(np.asarray(final.coef_, dtype=float))).max(axis=0)
    return coef * np.nan_to_num(spread, nan=0.0)


def important_columns(shares: dict[str, float] | None, columns: list[str]) -> list[str]:
    """The columns that matter: those with at least half an even share of the importance
    (``1 / (2k)`` of it for k columns); all of them when the importance is unknown."""
    if shares is None:
        return list(columns)
    floor = 1.0 / (2 * len(shares))
    return [c for c in columns if shares.get(c, 1.0) >= floor]
