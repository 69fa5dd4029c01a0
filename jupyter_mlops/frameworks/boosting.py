"""What the gradient-boosting frameworks (LightGBM, XGBoost, CatBoost) share: recognising
their models, plain parameters, evaluation histories as curves, a Booster seen as an
estimator for ``--eval``, the calls of their ``train`` functions, and the size limit of a
native model file.

Standalone (the standard library and numpy only): bundles carry it as
``code/mlops_boosting.py`` beside each framework's ``code/mlops_<name>.py``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

MAX_MODEL_BYTES = 2 * 1024**3  # a native model file larger than this is refused unread


def owned_by(obj: Any, package: str) -> bool:
    """Whether ``obj``'s type comes from ``package`` (the package itself is not imported)."""
    return (type(obj).__module__ or "").split(".")[0] == package


def type_name(obj: Any) -> str:
    """``module.Class`` of ``obj``'s type."""
    return f"{type(obj).__module__}.{type(obj).__name__}"


def check_size(size: int, label: str) -> None:
    """Refuse a model file larger than :data:`MAX_MODEL_BYTES` before reading it further."""
    if size > MAX_MODEL_BYTES:
        raise ValueError(f"{label} is larger than {MAX_MODEL_BYTES} bytes: refused")


def plain(params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters whose values are plain (None, bool, number, text, list)."""
    return {k: v for k, v in params.items()
            if v is None or isinstance(v, (bool, int, float, str, list))}


def flatten(history: Any) -> dict[str, list[float]]:
    """An evaluation history ``{data: {metric: [per iteration]}}`` (LightGBM's
    ``evals_result_``, XGBoost's ``evals_result()``, CatBoost's ``get_evals_result()``) as
    curves ``{"data.metric": [per iteration]}``; values that are not numbers are left out."""
    if not isinstance(history, Mapping):
        return {}
    curves: dict[str, list[float]] = {}
    for data, results in history.items():
        if not isinstance(results, Mapping):
            continue
        for metric, values in results.items():
            numbers = [float(v) for v in values if isinstance(v, (int, float, np.number))
                       and not isinstance(v, bool)]
            if numbers and len(numbers) == len(values):
                curves[f"{data}.{metric}"] = numbers
    return curves


class BoosterScorer:
    """A Booster seen as an estimator for ``--eval``: ``predict`` gives labels (a classifying
    Booster's classes are its encoded labels 0..k-1) and ``predict_proba`` probabilities.

    Parameters
    ----------
    predict : the Booster's prediction on rows: probabilities of class 1 (one column) or of
        each class (k columns) when it classifies, values when it regresses
    classes : the number of classes (0 for a regressor)
    """

    def __init__(self, predict: Callable[[Any], Any], classes: int) -> None:
        self._predict = predict
        self.classifies = classes > 0
        self.classes_ = np.arange(max(2, classes)) if self.classifies else None
        self._estimator_type = "classifier" if self.classifies else "regressor"

    def predict_proba(self, X: Any) -> np.ndarray:
        raw = np.asarray(self._predict(X))
        return np.column_stack([1 - raw, raw]) if raw.ndim == 1 else raw

    def predict(self, X: Any) -> np.ndarray:
        if not self.classifies:
            return np.asarray(self._predict(X))
        return np.argmax(self.predict_proba(X), axis=1)


def bind(function: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
         ) -> inspect.BoundArguments | None:
    """The arguments of a ``train`` call by name (None when they do not fit its signature:
    the framework then says what is wrong with the call)."""
    try:
        return inspect.signature(function).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return None


def callable_name(value: Any) -> str:
    """How a function argument (``feval``, ``obj``...) is recorded as a parameter."""
    return str(getattr(value, "__name__", type(value).__name__))
