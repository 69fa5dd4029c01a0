"""What a fitted model needs of each input column, read from the model itself.

A bundle's schema must accept every value the model can score: the categories its fitted
encoders know (``categories_`` of OneHotEncoder, OrdinalEncoder, TargetEncoder, also inside
ColumnTransformers, Pipelines and HistGradientBoosting's own preprocessing), any value where
the encoder handles unknown categories, and any text for columns the model drops or reads
as text (vectorizers). A training profile's most frequent values say nothing about that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Need:
    """What the model does with one input column.

    Attributes
    ----------
    used : False when the model drops the column (any value is accepted)
    text : the column is read as free text (a vectorizer)
    categories : the categories a fitted encoder knows, or None
    unknown_ok : whether the encoder accepts categories it did not see at fit
    """

    used: bool = True
    text: bool = False
    categories: list[Any] | None = None
    unknown_ok: bool = True


def _plain_categories(values: Any) -> list[Any]:
    """An encoder's categories as JSON values (missing-value markers left out)."""
    plain = []
    for value in np.asarray(values, dtype=object).tolist():
        if value is None or (isinstance(value, float) and value != value):
            continue
        plain.append(value.item() if isinstance(value, np.generic) else value)
    return plain


def _input_indices(transformer: Any, name: str, spec: Any, columns: list[str]) -> list[int]:
    """The input positions a fitted ColumnTransformer routes to one of its transformers."""
    routed = getattr(transformer, "_transformer_to_input_indices", None)
    if isinstance(routed, dict) and name in routed:
        return [int(i) for i in routed[name]]
    specs = [spec] if isinstance(spec, (str, int)) else list(np.atleast_1d(spec))
    if specs and all(isinstance(s, (bool, np.bool_)) for s in specs):
        return [i for i, keep in enumerate(specs) if keep]
    return [columns.index(s) if isinstance(s, str) else int(s) for s in specs
            if not isinstance(s, str) or s in columns]


def _visit(model: Any, columns: list[str], needs: dict[str, Need]) -> None:
    """Note in ``needs`` what ``model`` does with its input ``columns``."""
    if model is None or isinstance(model, str):
        return
    steps = getattr(model, "steps", None)
    if isinstance(steps, list):
        # The first step reads the raw columns; a step that keeps them (e.g. a
        # FunctionTransformer adding features) passes the names on to the next one.
        after_function = False  # a function may read any column: none is known unused
        for _, step in steps:
            if step is None or step == "passthrough":
                continue
            found: dict[str, Need] = {}
            _visit(step, columns, found)
            for name, need in found.items():
                need.used = need.used or after_function
                needs.setdefault(name, need)
            after_function = after_function or type(step).__name__ == "FunctionTransformer"
            if not _keeps_columns(step, columns):
                break
        return
    # A step that was fitted on named columns knows its own input names (which may differ
    # from the raw columns when an earlier step added features).
    columns = [str(n) for n in getattr(model, "feature_names_in_", columns)]
    transformers = getattr(model, "transformers_", None)
    if isinstance(transformers, list):
        for name, transformer, spec in transformers:
            routed = [columns[i] for i in _input_indices(model, name, spec, columns)
                      if i < len(columns)]
            if isinstance(transformer, str) and transformer == "drop":
                for column in routed:
                    needs.setdefault(column, Need()).used = False
            elif not isinstance(transformer, str):
                _visit(transformer, routed, needs)
        return
    if hasattr(model, "vocabulary_") or type(model).__name__ == "HashingVectorizer":
        for column in columns:
            needs.setdefault(column, Need()).text = True
        return
    categories = getattr(model, "categories_", None)
    if isinstance(categories, list) and len(categories) == len(columns):
        unknown_ok = getattr(model, "handle_unknown", "ignore") != "error"
        for column, known in zip(columns, categories, strict=True):
            need = needs.setdefault(column, Need())
            need.categories = _plain_categories(known)
            need.unknown_ok = unknown_ok
        return
    # scikit-learn estimators that encode categories themselves (HistGradientBoosting*).
    _visit(getattr(model, "_preprocessor", None), columns, needs)


def _keeps_columns(step: Any, columns: list[str]) -> bool:
    """Whether a pipeline step hands its input columns on by name: one output per input
    (imputers, scalers), or a function adding features (FunctionTransformer)."""
    if type(step).__name__ == "FunctionTransformer":
        return True
    try:
        return [str(n) for n in step.get_feature_names_out(columns)] == columns
    except Exception:  # no names out, or they cannot be computed for these inputs
        return False


def column_needs(model: Any, columns: list[str]) -> dict[str, Need]:
    """What ``model`` needs of each of its input ``columns`` (absent: nothing known).

    Parameters
    ----------
    model : a fitted estimator or Pipeline
    columns : the input columns, in the order the model was fitted on

    Returns
    -------
    dict
        Column name to :class:`Need`, for the columns the model's steps say something about.
    """
    needs: dict[str, Need] = {}
    _visit(model, list(columns), needs)
    return {name: need for name, need in needs.items() if name in columns}
