"""XGBoost: its models as jupyter-mlops sees them (sklearn API and ``xgb.train`` Boosters).

Every XGBoost model is kept in XGBoost's own UBJSON (``model.ubj``), read by a small bounded
decoder here and checked structurally before XGBoost parses it: XGBoost's C++ predict follows
child indices and split features without bounds checks. A sklearn-API model's file carries
its class in the ``scikit_learn`` attribute XGBoost itself writes; the loader rebuilds only
the exact classes of :data:`ESTIMATORS`, with the plain parameters the file records. Inside
a scikit-learn Pipeline the model goes through skops, whose file holds the same UBJSON
(``Booster.__getstate__``), checked the same way before anything is built.

Standalone: imports only the standard library, numpy and :mod:`.boosting` (XGBoost inside
functions), because bundles carry it as ``code/mlops_xgboost.py`` for their loader.
"""

from __future__ import annotations

import json
import struct
from contextlib import nullcontext
from typing import Any

import numpy as np

try:  # inside jupyter_mlops
    from . import boosting
except ImportError:  # inside a bundle
    import mlops_boosting as boosting  # type: ignore[import-not-found,no-redef]

NAME = "xgboost"  # the MLflow flavor and the store's format name
DISTRIBUTION = "xgboost"  # what requirements.txt pins
SUFFIX = ".ubj"  # the bundle's native model file: model.ubj
BOOSTER = "xgboost.core.Booster"
# The sklearn-API classes a file may ask to be rebuilt as (never another type).
ESTIMATORS = ("xgboost.sklearn.XGBClassifier", "xgboost.sklearn.XGBRegressor",
              "xgboost.sklearn.XGBRanker", "xgboost.sklearn.XGBRFClassifier",
              "xgboost.sklearn.XGBRFRegressor")
# Exact types a skops file of a Pipeline ending in an XGBoost model holds.
SKOPS_TYPES = (*ESTIMATORS, BOOSTER)
META = "scikit_learn"  # the Booster attribute XGBoost's save_model writes for the sklearn API
MAX_DEPTH = 32  # nesting of a model document (XGBoost writes 7 levels)


def owns(obj: Any) -> bool:
    """Whether ``obj`` is an XGBoost model (by its type's module; XGBoost is not imported)."""
    return boosting.owned_by(obj, "xgboost")


def is_native(obj: Any) -> bool:
    """Every XGBoost model: a Booster or a sklearn-API model, stored as UBJSON."""
    return boosting.type_name(obj) in SKOPS_TYPES


def dump(model: Any) -> bytes:
    """The model's UBJSON; a sklearn-API model's carries its class (as ``save_model`` does)
    and its plain parameters (``n_jobs``... which XGBoost's own file forgets)."""
    if boosting.type_name(model) == BOOSTER:
        return bytes(model.save_raw("ubj"))
    booster = model.get_booster()
    booster.set_attr(**{META: json.dumps({"_estimator_type": model._get_type(),
                                           "class": boosting.type_name(model),
                                           "params": _scalars(model.get_params())})})
    try:
        return bytes(booster.save_raw("ubj"))
    finally:
        booster.set_attr(**{META: None})


def load(data: bytes, label: str) -> Any:
    """A Booster or sklearn-API model from UBJSON, checked first (:func:`check_model`);
    ValueError if refused."""
    import xgboost

    document = decode(data, label)
    check_model(document, label)
    attributes = document["learner"].get("attributes") or {}
    meta = attributes.get(META)
    try:
        if meta is None:
            model = xgboost.Booster()
        else:
            found = _meta(meta)
            name = found.get("class")
            if not isinstance(name, str) or name not in ESTIMATORS:
                raise ValueError(f"{label} asks to be built as {name!r}, not one of "
                                 f"{', '.join(ESTIMATORS)}: refused")
            model = getattr(xgboost, name.rsplit(".", 1)[1])()
            given = found.get("params")
            given = given if isinstance(given, dict) else {}
            model.set_params(**{k: v for k, v in _scalars(given).items()
                                if k in model.get_params()})
        model.load_model(bytearray(data))
    except ValueError:
        raise
    except Exception as exc:  # XGBoost's own parser said no
        raise ValueError(f"{label} could not be loaded by XGBoost ({exc})") from None
    return model


def _meta(text: Any) -> dict[str, Any]:
    """The sklearn-API description :func:`dump` writes (empty when it is not a JSON object)."""
    try:
        found = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        found = None
    return found if isinstance(found, dict) else {}


def _scalars(params: dict[str, Any]) -> dict[str, Any]:
    """The parameters that are None, a bool, a number or text (never objects or callables)."""
    return {k: v for k, v in params.items() if isinstance(k, str) and (
        v is None or isinstance(v, (bool, int, float, str)))}


def serialized_once() -> Any:
    """Nothing to share: a model's UBJSON is cheap next to LightGBM's model text."""
    return nullcontext()


# --- UBJSON, decoded with limits ------------------------------------------------------------
# XGBoost writes objects and arrays with optional "$type#count" headers, keys as an integer
# length then UTF-8, numbers big-endian. Counts are checked against the bytes left before
# anything is allocated; typed numeric arrays become numpy arrays without a copy per value.
_NUMBERS = {b"i": ">i1", b"U": ">u1", b"I": ">i2", b"l": ">i4", b"L": ">i8", b"d": ">f4",
            b"D": ">f8"}
_SCALARS = {marker: struct.Struct(code.replace("i1", "b").replace("u1", "B").replace(
    "i2", "h").replace("i4", "i").replace("i8", "q").replace("f4", "f").replace("f8", "d"))
    for marker, code in _NUMBERS.items()}
_CONSTANTS = {b"Z": None, b"T": True, b"F": False}


class _Decoder:
    def __init__(self, data: bytes, label: str) -> None:
        self.data, self.label, self.at = bytes(data), label, 0

    def fail(self, why: str) -> ValueError:
        return ValueError(f"{self.label} is not XGBoost UBJSON ({why}): refused")

    def take(self, size: int) -> bytes:
        if size < 0 or self.at + size > len(self.data):
            raise self.fail("it ends early")
        self.at += size
        return self.data[self.at - size:self.at]

    def marker(self) -> bytes:
        return self.take(1)

    def number(self, marker: bytes) -> Any:
        scalar = _SCALARS[marker]
        return scalar.unpack(self.take(scalar.size))[0]

    def count(self, marker: bytes | None = None) -> int:
        marker = marker or self.marker()
        if marker not in _NUMBERS or marker in (b"d", b"D"):
            raise self.fail("a length is not an integer")
        value = int(self.number(marker))
        if value < 0 or value > len(self.data) - self.at:
            raise self.fail("a length exceeds the file")
        return value

    def text(self) -> str:
        try:
            return self.take(self.count()).decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail("text is not UTF-8") from None

    def value(self, marker: bytes, depth: int) -> Any:
        if marker in _NUMBERS:
            return self.number(marker)
        if marker in _CONSTANTS:
            return _CONSTANTS[marker]
        if marker in (b"S", b"H"):
            return self.text()
        if marker == b"C":
            return self.take(1).decode("latin-1")
        if marker in (b"[", b"{"):
            if depth >= MAX_DEPTH:
                raise self.fail(f"nested deeper than {MAX_DEPTH}")
            return self.container(marker == b"{", depth + 1)
        raise self.fail(f"unknown marker {marker!r}")

    def container(self, is_object: bool, depth: int) -> Any:
        kind = count = None
        ahead: bytes | None = self.marker()
        if ahead == b"$":
            kind = self.marker()
            if kind in _CONSTANTS or self.marker() != b"#":
                raise self.fail("a typed container without a count, or of constants")
        if ahead in (b"$", b"#"):
            count, ahead = self.count(), None
        if kind in _NUMBERS and not is_object:
            dtype = np.dtype(_NUMBERS[kind])
            return np.frombuffer(self.take(count * dtype.itemsize), dtype)  # type: ignore[operator]
        items: Any = {} if is_object else []
        end = b"}" if is_object else b"]"
        while count is None or len(items) < count:  # each item takes a byte at least
            marker = ahead or (kind if kind and not is_object else self.marker())
            ahead = None
            if count is None and marker == end:
                return items
            if is_object:
                key = self.take(self.count(marker)).decode("utf-8", "replace")
                items[key] = self.value(kind or self.marker(), depth)
            else:
                items.append(self.value(kind or marker, depth))
        return items


def decode(data: bytes, label: str) -> Any:
    """The model document of XGBoost UBJSON ``data``, read within size and depth limits."""
    boosting.check_size(len(data), label)
    decoder = _Decoder(data, label)
    if decoder.marker() != b"{":
        raise decoder.fail("it does not start with an object")
    document = decoder.container(True, 1)
    if decoder.at != len(data):
        raise decoder.fail("bytes follow the model")
    return document


# --- structural checks ----------------------------------------------------------------------
# Before XGBoost parses the file: the learner's sizes agree, each tree's child links point
# forward inside it (leaves on both sides), split features exist, categorical splits point
# inside their category lists, and the trees' group and iteration tables point at trees.
TREE_ARRAYS = ("left_children", "right_children", "parents", "split_indices",
               "split_conditions", "default_left", "loss_changes", "sum_hessian")


def _int(value: Any, what: str, label: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{label}: {what} is not a number: refused") from None


def _array(tree: dict[str, Any], key: str, size: int | None, label: str) -> np.ndarray:
    values = tree.get(key, [])
    if isinstance(values, list) and all(isinstance(v, (int, float)) for v in values):
        values = np.array(values, dtype=np.float64 if any(isinstance(v, float) for v in values)
                          else np.int64)
    if not isinstance(values, np.ndarray) or values.ndim != 1 or (
            size is not None and values.size != size):
        raise ValueError(f"{label} holds a tree whose {key} has the wrong size: refused")
    return values


def _check_tree(tree: Any, n_features: int, label: str) -> None:
    bad = f"{label} holds a tree whose %s: the file is corrupt or crafted; refused"
    if not isinstance(tree, dict) or not isinstance(tree.get("tree_param"), dict):
        raise ValueError(bad % "parameters are missing")
    param = tree["tree_param"]
    nodes = _int(param.get("num_nodes"), "a tree's num_nodes", label)
    if _int(param.get("size_leaf_vector", 1), "size_leaf_vector", label) > 1:
        raise ValueError(bad % "leaves are vectors (multi-output trees are not checked here)")
    if nodes < 1 or _int(param.get("num_feature"), "num_feature", label) != n_features:
        raise ValueError(bad % "size or width is impossible")
    left, right, _, feature, *_ = (_array(tree, k, nodes, label).astype(np.int64)
                                   for k in TREE_ARRAYS)
    _array(tree, "base_weights", nodes, label)
    split_type = _array(tree, "split_type", nodes, label).astype(np.int64)
    index = np.arange(nodes)
    leaf = left == -1
    if not (right[leaf] == -1).all():
        raise ValueError(bad % "leaves have children")
    for child in (left[~leaf], right[~leaf]):
        if not ((child > index[~leaf]) & (child < nodes)).all():
            raise ValueError(bad % "node links are out of range")
    if not ((feature[~leaf] >= 0) & (feature[~leaf] < n_features)).all():
        raise ValueError(bad % "split features are out of range")
    categorical = _array(tree, "categories_nodes", None, label).astype(np.int64)
    segments = _array(tree, "categories_segments", categorical.size, label).astype(np.int64)
    sizes = _array(tree, "categories_sizes", categorical.size, label).astype(np.int64)
    categories = _array(tree, "categories", None, label)
    if not (((categorical >= 0) & (categorical < nodes)).all() and (segments >= 0).all()
            and (sizes >= 0).all() and (segments + sizes <= categories.size).all()
            and (split_type[categorical[(categorical >= 0) & (categorical < nodes)]] == 1).all()
            and ((split_type == 0) | (split_type == 1)).all()
            and (split_type[~leaf] == 1).sum() <= categorical.size):
        raise ValueError(bad % "categorical splits point outside their categories")


def check_model(document: Any, label: str) -> None:
    """Refuse an XGBoost model document that could make its parser or predict read out of
    bounds (see above). Linear boosters (gblinear) are checked for their weight count."""
    try:
        _check_model(document, label)
    except (KeyError, TypeError, AttributeError, IndexError):  # a value of the wrong shape
        raise ValueError(f"{label} is not a well-formed XGBoost model document: refused"
                         ) from None


def _check_model(document: Any, label: str) -> None:
    learner = document["learner"]
    param = learner["learner_model_param"]
    booster = learner["gradient_booster"]
    kind = booster["name"]
    n_features = _int(param.get("num_feature"), "num_feature", label)
    groups = max(1, _int(param.get("num_class", 0), "num_class", label),
                 _int(param.get("num_target", 1), "num_target", label))
    if n_features < 1 or not isinstance(learner.get("attributes", {}), dict):
        raise ValueError(f"{label} has an impossible XGBoost header: refused")
    if kind == "gblinear":
        weights = np.asarray(booster.get("model", {}).get("weights", []))
        if weights.ndim != 1 or weights.size != (n_features + 1) * groups:
            raise ValueError(f"{label} holds linear weights of the wrong size: refused")
        return
    model = booster.get("gbtree", {}).get("model") if kind == "dart" else booster.get("model")
    if kind not in ("gbtree", "dart") or not isinstance(model, dict) or not isinstance(
            model.get("trees"), list):
        raise ValueError(f"{label} holds an unknown XGBoost booster {kind!r}: refused")
    trees = model["trees"]
    count = _int(model.get("gbtree_model_param", {}).get("num_trees"), "num_trees", label)
    info = _array(model, "tree_info", len(trees), label).astype(np.int64)
    indptr = _array(model, "iteration_indptr", None, label).astype(np.int64)
    if count != len(trees) or not ((info >= 0) & (info < groups)).all() or (indptr.size and (
            indptr[0] != 0 or (np.diff(indptr) < 0).any() or indptr[-1] != len(trees))):
        raise ValueError(f"{label} has tree tables that do not match its trees: refused")
    if kind == "dart":
        _array(booster, "weight_drop", len(trees), label)
    for tree in trees:
        _check_tree(tree, n_features, label)


def check_state(state: dict[str, Any], label: str) -> None:
    """Check the UBJSON a skops file holds for a Booster (its ``__getstate__``: the model
    document beside the Booster's training configuration)."""
    data = state.get("handle")
    if data is not None:
        if not isinstance(data, (bytes, bytearray)):
            raise ValueError(f"{label} holds an XGBoost Booster without its UBJSON: refused")
        document = decode(bytes(data), label)
        if not isinstance(document, dict) or set(document) != {"Config", "Model"}:
            raise ValueError(f"{label} holds an XGBoost Booster state that is not a model "
                             "and its configuration: refused")
        check_model(document["Model"], label)


# --- what a tracked cell records ------------------------------------------------------------


def _config(booster: Any) -> dict[str, Any]:
    learner = json.loads(booster.save_config())["learner"]
    return {"objective": learner["objective"]["name"],
            "booster": learner["gradient_booster"]["name"],
            "num_class": int(learner["learner_model_param"].get("num_class", 0))}


def params(model: Any) -> dict[str, Any]:
    """A model's parameters: ``get_params`` of a sklearn-API model, a Booster's objective,
    booster and class count from its config (``xgb.train``'s own are observed)."""
    if boosting.type_name(model) != BOOSTER:
        return boosting.plain(model.get_params())
    found = _config(model)
    return {k: v for k, v in found.items() if k != "num_class" or v > 1}


def curves(model: Any) -> dict[str, list[float]]:
    """The evaluation history a sklearn-API model keeps (``evals_result_``, as
    ``"validation_0.logloss": [per iteration]``); a Booster keeps none (see the capture's
    ``xgb.train`` observer)."""
    return boosting.flatten(getattr(model, "evals_result_", None))


def best_iteration(model: Any) -> int | None:
    """The early-stopping best iteration (0-based, as XGBoost counts), when there was one."""
    try:
        best = model.best_iteration
    except Exception:  # no early stopping: XGBoost raises AttributeError
        return None
    return int(best) if isinstance(best, (int, np.integer)) and best >= 0 else None


def features(model: Any) -> tuple[list[str] | None, int | None]:
    """The input column names (None when fitted on an unnamed array) and their count."""
    if boosting.type_name(model) != BOOSTER:
        names = getattr(model, "feature_names_in_", None)
        return ([str(n) for n in names] if names is not None else None,
                getattr(model, "n_features_in_", None))
    names = model.feature_names
    return ([str(n) for n in names] if names else None), int(model.num_features())


def predictor(model: Any) -> Any:
    """What a bundle's server calls with the request's frame (a Booster wants a DMatrix)."""
    if boosting.type_name(model) != BOOSTER:
        return model.predict

    def predict(X: Any) -> Any:
        import xgboost

        return model.predict(xgboost.DMatrix(X))

    return predict


def scorer(model: Any) -> Any:
    """What ``--eval`` scores: a sklearn-API model itself, or a Booster as an estimator
    (its classes are the encoded labels 0..k-1 it was trained on)."""
    if boosting.type_name(model) != BOOSTER:
        return model
    config = _config(model)
    objective = config["objective"]
    if objective.startswith("multi:"):
        classes = config["num_class"]
    else:
        classes = 2 if objective.startswith("binary:") else 0
    predict = predictor(model)
    if objective in ("multi:softmax", "binary:hinge"):  # labels, not probabilities
        return _LabelScorer(predict, classes)
    if objective == "binary:logitraw":
        return boosting.BoosterScorer(lambda X: 1 / (1 + np.exp(-np.asarray(predict(X)))), 2)
    return boosting.BoosterScorer(predict, classes)


class _LabelScorer(boosting.BoosterScorer):
    """A Booster whose objective predicts labels (``multi:softmax``): no probabilities."""

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self._predict(X)).astype(np.int64)

    def predict_proba(self, X: Any) -> np.ndarray:  # pragma: no cover - never offered
        raise AttributeError("this Booster predicts labels, not probabilities")


def flavor(model: Any, data: str, trusted: list[str]) -> dict[str, Any]:
    """MLflow's ``xgboost`` flavor: ``mlflow.xgboost.load_model`` builds ``model_class`` and
    loads the UBJSON into it."""
    import xgboost

    return {"xgb_version": xgboost.__version__, "data": data,
            "model_class": boosting.type_name(model), "model_format": "ubj", "code": None}


# --- xgboost.train, observed while a tracked cell runs --------------------------------------
TRAIN = ("xgboost", "train")  # the module function a notebook trains Boosters with


def observed_train(function: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
                   ) -> tuple[Any, dict[str, Any], dict[str, list[float]], Any]:
    """Call ``xgboost.train`` and say what it was given: ``(booster, params and train()
    arguments, evaluation curves, training data)``. The curves come from an ``evals_result``
    dict passed to the call (the cell's own when it gave one)."""
    bound = boosting.bind(function, args, kwargs)
    if bound is None:  # let XGBoost say what is wrong with the call
        return function(*args, **kwargs), {}, {}, None
    arguments = bound.arguments
    history: dict[str, Any] = {}
    if arguments.get("evals"):
        if arguments.get("evals_result") is None:
            arguments["evals_result"] = history
        else:
            history = arguments["evals_result"]
    booster = function(*bound.args, **bound.kwargs)
    given = boosting.plain(dict(arguments.get("params") or {}))
    given["num_boost_round"] = arguments.get("num_boost_round", 10)
    if arguments.get("evals"):
        given["evals"] = len(arguments["evals"])
    for name in ("early_stopping_rounds",):
        if arguments.get(name) is not None:
            given[name] = arguments[name]
    for name in ("obj", "custom_metric"):
        if arguments.get(name) is not None:
            given[name] = boosting.callable_name(arguments[name])
    # A DMatrix keeps no reference to its rows: the bundle finds the training frame among
    # the datasets the cell read (``xgb.DMatrix(X_train, ...)``).
    return booster, given, boosting.flatten(history), None
