"""Recognising fitted models, reading their hyperparameters and scoring them (``--eval``)."""

from __future__ import annotations

import io
import math
import re
from typing import Any

import numpy as np

from .registry import final_step, framework_of, native_framework

METRIC_NAME = re.compile(
    r"(^|_)(acc|accuracy|auc|roc_auc|pr_auc|ap|f1|f1_score|precision|recall|loss|logloss|"
    r"log_loss|rmse|mse|mae|mape|r2|score|error|err)(_|$|\d)",
    re.IGNORECASE,
)


def is_model(obj: Any) -> bool:
    """Anything with ``fit`` and ``predict`` (scikit-learn estimators and look-alikes), and
    the native models of the frameworks in :mod:`.registry` (a LightGBM ``Booster``)."""
    if isinstance(obj, type):
        return False
    return (callable(getattr(obj, "fit", None)) and callable(getattr(obj, "predict", None))
            ) or native_framework(obj) is not None


def is_fitted(model: Any) -> bool:
    """Whether a model has been fitted (models that do not follow scikit-learn count as fitted,
    unless they say otherwise with an ``is_fitted()`` method, as CatBoost's do)."""
    try:
        from sklearn.base import BaseEstimator
        from sklearn.exceptions import NotFittedError
        from sklearn.utils.validation import check_is_fitted
    except ImportError:  # pragma: no cover - scikit-learn is a dependency
        return True
    if not isinstance(model, BaseEstimator):
        says = getattr(model, "is_fitted", None)
        try:
            return bool(says()) if callable(says) else True
        except Exception:
            return True
    try:
        check_is_fitted(model)
    except NotFittedError:
        return False
    except Exception:
        return True
    return True


def keeps_fitted_state(model: Any) -> bool:
    """Whether refitting ``model`` starts from its fitted state (``warm_start=True``)."""
    try:
        params = model.get_params(deep=True)
    except Exception:
        return False
    return any(value is True for key, value in params.items()
               if key == "warm_start" or key.endswith("__warm_start"))


def _plain_param(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, np.generic):
        return _plain_param(value.item())
    if isinstance(value, (list, tuple)) and len(value) <= 20:
        return [_plain_param(v) for v in value]
    if hasattr(value, "get_params"):
        return type(value).__name__
    if callable(value):
        return getattr(value, "__name__", type(value).__name__)
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def model_params(model: Any) -> dict[str, Any]:
    """Hyperparameters of a model: ``get_params(deep=True)``, flattened through pipelines.

    Nested estimators appear by class name under their own key (``clf``) and their
    parameters with scikit-learn's ``clf__C`` keys. A framework's native model (a LightGBM
    ``Booster``) gives its training parameters.
    """
    framework = native_framework(model)
    if framework is not None:
        return {key: _plain_param(value) for key, value in sorted(framework.params(model).items())}
    get_params = getattr(model, "get_params", None)
    if not callable(get_params):
        return {}
    try:
        params = get_params(deep=True)
    except Exception:
        return {}
    return {key: _plain_param(value) for key, value in sorted(params.items())
            if key not in ("steps", "transformer_list", "estimators")}


def training_setup(model: Any, source: str, namespace: dict[str, Any]) -> dict[str, Any]:
    """What a cell trained a native model with that the model does not keep (PyTorch: the
    optimizer, its learning rate, the epochs of the cell's loop), from the cell's ``source``
    and the kernel's ``namespace``."""
    framework = native_framework(model)
    setup = getattr(framework, "training_params", None)
    if setup is None:
        return {}
    return {key: _plain_param(value) for key, value in setup(model, source, namespace).items()}


def input_features(model: Any) -> tuple[list[str] | None, int | None]:
    """The input column names a model was fitted on (None when it saw an unnamed array) and
    their count (None when unknown)."""
    framework = native_framework(model)
    if framework is not None:
        names, width = framework.features(model)
        return names, width
    names = getattr(model, "feature_names_in_", None)
    return ([str(n) for n in names] if names is not None else None,
            getattr(model, "n_features_in_", None))


def as_estimator(model: Any) -> Any:
    """The model as scoring code calls it (``predict`` gives labels, ``predict_proba`` and
    ``classes_`` where it classifies): a framework's native model through its framework's
    view (a LightGBM Booster predicts its encoded labels 0..k-1), any other as it is."""
    framework = native_framework(model)
    return framework.scorer(model) if framework is not None else model


def training_history(model: Any) -> tuple[dict[str, list[float]], int | None]:
    """What the model's framework kept of its training: evaluation curves (``{"valid_0.
    binary_logloss": [per iteration]}``) and the early-stopping best iteration (or None)."""
    framework = framework_of(model)
    if framework is None:
        return {}, None
    final = final_step(model)
    return framework.curves(final), framework.best_iteration(final)


def is_metric_value(name: str, value: Any) -> bool:
    """A real number bound to a metric-like name (``acc``, ``val_loss``, ``rmse``...)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return False
    return bool(METRIC_NAME.search(name))


def is_classifier(model: Any, y: np.ndarray) -> bool:
    """Whether ``model`` classifies (scikit-learn says so, or the target ``y`` looks like
    labels: strings, booleans, or at most 20 distinct integers)."""
    estimator_type = getattr(model, "_estimator_type", None)
    try:
        from sklearn.base import is_classifier

        if is_classifier(model):
            return True
    except Exception:
        pass
    if estimator_type in ("classifier", "regressor"):
        return estimator_type == "classifier"
    return y.dtype.kind in "bOUS" or (y.dtype.kind in "iu" and np.unique(y).size <= 20)


def evaluate(model: Any, X: Any, y: Any) -> tuple[dict[str, float], bytes]:
    """Standard metrics of ``model`` on ``(X, y)`` and its predictions as ``.npz`` bytes.

    A framework's native model is scored through :func:`as_estimator`."""
    from sklearn import metrics as skm

    model = as_estimator(model)
    y_true = np.asarray(y).ravel()
    y_pred = np.asarray(model.predict(X)).ravel()
    arrays: dict[str, np.ndarray] = {"y_true": y_true, "y_pred": y_pred}
    scores: dict[str, float] = {}
    classification = is_classifier(model, y_true)
    arrays["task"] = np.array("classification" if classification else "regression")
    if classification:
        _same_kind_of_labels(y_true, y_pred)
        labels = np.unique(np.concatenate([y_true, y_pred]))
        binary = labels.size == 2
        average = "binary" if binary else "macro"
        pos_label = labels[-1] if binary else 1
        scores["accuracy"] = skm.accuracy_score(y_true, y_pred)
        kwargs: dict[str, Any] = {"average": average, "zero_division": 0}
        if binary:
            kwargs["pos_label"] = pos_label
        scores["precision"] = skm.precision_score(y_true, y_pred, **kwargs)
        scores["recall"] = skm.recall_score(y_true, y_pred, **kwargs)
        scores["f1"] = skm.f1_score(y_true, y_pred, **kwargs)
        proba = None
        if callable(getattr(model, "predict_proba", None)):
            try:
                proba = np.asarray(model.predict_proba(X))
            except Exception:
                proba = None
        if proba is not None:
            arrays["proba"] = proba
            classes = np.asarray(getattr(model, "classes_", labels))
            arrays["classes"] = classes
            if set(np.unique(y_true)) <= set(classes.tolist()):
                try:
                    if proba.shape[1] == 2:
                        scores["roc_auc"] = skm.roc_auc_score(y_true == classes[1], proba[:, 1])
                    else:
                        scores["roc_auc"] = skm.roc_auc_score(
                            y_true, proba, multi_class="ovr", labels=classes
                        )
                    scores["log_loss"] = skm.log_loss(y_true, proba, labels=classes)
                except ValueError:
                    pass  # a single class in y: AUC is undefined
    else:
        y_true_f, y_pred_f = y_true.astype(float), y_pred.astype(float)
        scores["rmse"] = math.sqrt(skm.mean_squared_error(y_true_f, y_pred_f))
        scores["mae"] = skm.mean_absolute_error(y_true_f, y_pred_f)
        scores["r2"] = skm.r2_score(y_true_f, y_pred_f)
    buffer = io.BytesIO()
    savable: dict[str, Any] = {k: _savable(v) for k, v in arrays.items()}
    np.savez_compressed(buffer, allow_pickle=False, **savable)
    return {k: float(v) for k, v in scores.items()}, buffer.getvalue()


def _is_text(values: np.ndarray) -> bool:
    return values.dtype.kind in "US" or (values.dtype.kind == "O" and values.size > 0
                                         and isinstance(values.flat[0], str))


def _same_kind_of_labels(y_true: np.ndarray, y_pred: np.ndarray) -> None:
    """Refuse to score class names against encoded labels (a model trained on 0..k-1, as
    XGBoost's classifiers must be, given the names, or the other way round): every metric
    would be silently wrong."""
    if _is_text(y_true) != _is_text(y_pred):
        def some(values: np.ndarray) -> str:
            return ", ".join(repr(v.item() if isinstance(v, np.generic) else v)
                             for v in np.unique(values.astype(str) if _is_text(values)
                                                else values)[:3])

        raise ValueError(f"the model predicts labels like {some(y_pred)} but the given labels "
                         f"are like {some(y_true)}: pass the labels it was trained on (e.g. "
                         "the encoded ones)")


def _savable(array: np.ndarray) -> np.ndarray:
    return array.astype(str) if array.dtype.kind == "O" else array
