"""LightGBM: its models as jupyter-mlops sees them (sklearn API and ``lgb.train`` Boosters).

A ``Booster`` is kept in LightGBM's own model text, checked before LightGBM parses it; the
sklearn-API models (``LGBMClassifier``...) go through skops, whose file holds the same model
text (``Booster.__getstate__``), checked the same way before anything is built.

Standalone: imports only the standard library, numpy and :mod:`.boosting` (LightGBM inside
functions), because bundles carry it as ``code/mlops_lightgbm.py`` for their loader.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

try:  # inside jupyter_mlops
    from . import boosting
except ImportError:  # inside a bundle
    import mlops_boosting as boosting  # type: ignore[import-not-found,no-redef]

NAME = "lightgbm"  # the MLflow flavor and the store's format name
DISTRIBUTION = "lightgbm"  # what requirements.txt pins
SUFFIX = ".lgb"  # the bundle's native model file: model.lgb
# Exact types a skops file of a LightGBM sklearn-API model holds (never the whole module).
SKOPS_TYPES = ("lightgbm.sklearn.LGBMClassifier", "lightgbm.sklearn.LGBMRegressor",
               "lightgbm.sklearn.LGBMRanker", "lightgbm.basic.Booster")
BOOSTER = "lightgbm.basic.Booster"
CLASSIFYING = ("binary", "cross_entropy", "xentropy", "multiclass", "softmax", "multiclassova",
               "multiclass_ova", "ova", "ovr")


def owns(obj: Any) -> bool:
    """Whether ``obj`` is a LightGBM model (by its type's module; LightGBM is not imported)."""
    return boosting.owned_by(obj, "lightgbm")


def is_native(obj: Any) -> bool:
    """A ``Booster``: stored as model text, not through skops."""
    return boosting.type_name(obj) == BOOSTER


def dump(model: Any) -> bytes:
    """The Booster's model text (all iterations)."""
    return str(model.model_to_string(num_iteration=-1)).encode()


def load(data: bytes, label: str) -> Any:
    """A Booster from model text, checked first (:func:`check_text`); ValueError if refused."""
    import lightgbm

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{label} is not LightGBM model text: refused") from None
    check_text(text, label)
    try:
        return lightgbm.Booster(model_str=text)
    except Exception as exc:  # LightGBM's own parser said no
        raise ValueError(f"{label} could not be loaded by LightGBM ({exc})") from None


@contextmanager
def serialized_once() -> Iterator[None]:
    """While the block runs, each Booster makes its model text once: fingerprinting (pickle),
    storing (skops) and comparing a model each ask for it, and for 200 trees it costs more than
    the rest of a tracked cell's bookkeeping. For the recorder's own steps only, between the
    user's code: a Booster must not change inside the block. Imports nothing."""
    module = sys.modules.get("lightgbm.basic")
    if module is None:
        yield
        return
    booster = module.Booster
    original = booster.__dict__["model_to_string"]
    made: dict[tuple[Any, ...], tuple[Any, str]] = {}

    def model_to_string(self: Any, *args: Any, **kwargs: Any) -> str:
        key = (id(self), args, tuple(sorted(kwargs.items())))
        if key not in made:  # the Booster is kept with its text: its id is not reused
            made[key] = (self, original(self, *args, **kwargs))
        return made[key][1]

    booster.model_to_string = model_to_string
    try:
        yield
    finally:
        booster.model_to_string = original


# --- structural checks ----------------------------------------------------------------------
# LightGBM's C++ predict follows child indices without bounds checks, and its parser trusts
# tree_sizes to cut the text: a crafted file could read outside its arrays. Before the text is
# parsed, each tree's links must point forward and inside it, split features must exist,
# categorical splits must point inside their bitsets, and the tree sizes must cut at trees.


def _fields(block: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in block.splitlines() if "=" in line)


def _numbers(fields: dict[str, str], key: str, count: int, label: str) -> np.ndarray:
    try:
        values = np.array(fields.get(key, "").split(), dtype=np.float64)
    except ValueError:
        raise ValueError(f"{label}: a tree's {key} is not a list of numbers: refused") from None
    if values.size != count:
        raise ValueError(f"{label}: a tree's {key} has {values.size} values, not {count}: "
                         "refused")
    return values


def _check_tree(fields: dict[str, str], n_features: int, label: str) -> None:
    bad = f"{label} holds a tree whose %s: the file is corrupt or crafted; refused"
    try:
        leaves, n_cat = int(fields["num_leaves"]), int(fields.get("num_cat", "0"))
    except (KeyError, ValueError):
        raise ValueError(bad % "size is missing") from None
    if leaves < 1 or n_cat < 0:
        raise ValueError(bad % "size is impossible")
    _numbers(fields, "leaf_value", leaves, label)
    if leaves == 1:
        return
    inner = leaves - 1
    left, right = (_numbers(fields, k, inner, label).astype(np.int64)
                   for k in ("left_child", "right_child"))
    index = np.arange(inner)
    for child in (left, right):  # inner nodes point forward; ~leaf indexes a leaf
        if not (((child > index) & (child < inner)) | ((child < 0) & (~child < leaves))).all():
            raise ValueError(bad % "node links are out of range")
    feature = _numbers(fields, "split_feature", inner, label).astype(np.int64)
    if not ((feature >= 0) & (feature < n_features)).all():
        raise ValueError(bad % "split features are out of range")
    decision = _numbers(fields, "decision_type", inner, label).astype(np.int64)
    threshold = _numbers(fields, "threshold", inner, label)
    categorical = (decision & 1) == 1
    if categorical.any():
        bounds = _numbers(fields, "cat_boundaries", n_cat + 1, label).astype(np.int64)
        bits = len(fields.get("cat_threshold", "").split())
        cats = threshold[categorical].astype(np.int64)
        if bounds[0] != 0 or (np.diff(bounds) < 0).any() or bounds[-1] != bits or not (
                (cats >= 0) & (cats < n_cat)).all():
            raise ValueError(bad % "categorical splits point outside their bitsets")
    if fields.get("is_linear", "0").strip() == "1":
        counts = _numbers(fields, "num_features", leaves, label).astype(np.int64)
        used = np.array(fields.get("leaf_features", "").split(), dtype=np.int64)
        if (counts < 0).any() or used.size != counts.sum() or not (
                (used >= 0) & (used < n_features)).all():
            raise ValueError(bad % "linear leaves use features out of range")


def check_text(text: str, label: str) -> None:
    """Refuse LightGBM model text that could make its parser or predict read out of bounds."""
    boosting.check_size(len(text), label)
    first = text.find("\nTree=0\n")
    start = first + 1 if first >= 0 else -1  # the trees, after the header
    last = text.find("\nend of trees", max(start, 0))
    end = last + 1  # where "end of trees" starts
    if not text.startswith("tree\n") or last < 0:
        raise ValueError(f"{label} is not LightGBM model text: refused")
    header = _fields(text[:start if start >= 0 else end])
    try:
        n_features = int(header["max_feature_idx"]) + 1
        per_iteration = int(header.get("num_tree_per_iteration", "1"))
        n_class = int(header.get("num_class", "1"))
    except (KeyError, ValueError):
        raise ValueError(f"{label} has no readable LightGBM header: refused") from None
    trees = re.split(r"^Tree=\d+\n", text[start:end], flags=re.MULTILINE)[1:] \
        if start >= 0 else []
    if n_features < 1 or per_iteration < 1 or n_class < 1 or len(trees) % per_iteration:
        raise ValueError(f"{label} has an inconsistent LightGBM header: refused")
    if "tree_sizes" in header:  # the parser cuts the text at these offsets
        sizes = header["tree_sizes"].split()
        offset, span = 0, text[start:end]
        for i, size in enumerate(sizes):
            if not size.isdigit() or not span.startswith(f"Tree={i}\n", offset):
                raise ValueError(f"{label} has tree sizes that do not cut at its trees: "
                                 "refused")
            offset += int(size)
        if offset != len(span) or len(sizes) != len(trees):
            raise ValueError(f"{label} has tree sizes that do not cut at its trees: refused")
    for block in trees:
        _check_tree(_fields(block), n_features, label)


def check_state(state: dict[str, Any], label: str) -> None:
    """Check the model text a skops file holds for a Booster (its ``__getstate__``)."""
    text = state.get("_handle", state.get("handle"))
    if text is not None:
        if not isinstance(text, str):
            raise ValueError(f"{label} holds a LightGBM Booster without model text: refused")
        check_text(text, label)


# --- what a tracked cell records ------------------------------------------------------------


def params(model: Any) -> dict[str, Any]:
    """A Booster's training parameters (sklearn-API models use ``get_params``)."""
    if not is_native(model):
        return {}
    return boosting.plain(dict(getattr(model, "params", None) or {}))


def curves(model: Any) -> dict[str, list[float]]:
    """The evaluation history LightGBM keeps: ``evals_result_`` of sklearn-API models, as
    ``"valid_0.binary_logloss": [per iteration]``. A Booster keeps none (see the capture's
    ``lgb.train`` observer)."""
    return {} if is_native(model) else boosting.flatten(getattr(model, "evals_result_", None))


def best_iteration(model: Any) -> int | None:
    """The early-stopping best iteration (1-based, as LightGBM counts), when there was one."""
    try:
        best = model.best_iteration if is_native(model) else model.best_iteration_
    except Exception:  # unfitted, or no attribute
        return None
    return int(best) if isinstance(best, (int, np.integer)) and best > 0 else None


def features(model: Any) -> tuple[list[str] | None, int | None]:
    """A Booster's input column names (None for LightGBM's ``Column_N`` defaults) and count."""
    if not is_native(model):
        return None, None
    names = [str(n) for n in model.feature_name()]
    generic = names == [f"Column_{i}" for i in range(len(names))]
    return (None if generic else names), int(model.num_feature())


def _objective(model: Any) -> str:
    header = str(model.model_to_string(num_iteration=1)).split("Tree=", 1)[0]
    return _fields(header).get("objective", "").split(" ")[0]


def scorer(model: Any) -> Any:
    """What ``--eval`` scores: the model itself, or a Booster as an estimator (its classes
    are LightGBM's encoded labels 0..k-1)."""
    if not is_native(model):
        return model
    classes = int(model.num_model_per_iteration()) if _objective(model) in CLASSIFYING else 0
    return boosting.BoosterScorer(model.predict, classes)


def flavor(model: Any, data: str, trusted: list[str]) -> dict[str, Any]:
    """MLflow's ``lightgbm`` flavor: a Booster's model text, or a sklearn-API model's skops
    file (``mlflow.lightgbm.load_model`` reads both)."""
    import lightgbm

    entry: dict[str, Any] = {"lgb_version": lightgbm.__version__, "data": data,
                             "model_class": boosting.type_name(model), "code": None}
    if not is_native(model):
        entry.update(serialization_format="skops", skops_trusted_types=trusted)
    return entry


# --- lightgbm.train, observed while a tracked cell runs -------------------------------------
TRAIN = ("lightgbm", "train")  # the module function a notebook trains Boosters with


def observed_train(function: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
                   ) -> tuple[Any, dict[str, Any], dict[str, list[float]], Any]:
    """Call ``lightgbm.train`` and say what it was given: ``(booster, train() arguments,
    evaluation curves, training data)``. The curves come from a ``record_evaluation``
    callback added to the call's own (LightGBM keeps none on the Booster)."""
    import lightgbm

    bound = boosting.bind(function, args, kwargs)
    if bound is None:  # let LightGBM say what is wrong with the call
        return function(*args, **kwargs), {}, {}, None
    arguments = bound.arguments
    history: dict[str, dict[str, list[float]]] = {}
    if arguments.get("valid_sets"):
        arguments["callbacks"] = [*(arguments.get("callbacks") or []),
                                  lightgbm.record_evaluation(history)]
    X = getattr(arguments.get("train_set"), "data", None)  # freed once LightGBM has it
    booster = function(*bound.args, **bound.kwargs)
    given = {"num_boost_round": arguments.get("num_boost_round", 100)}
    if arguments.get("valid_sets"):
        given["valid_sets"] = len(arguments["valid_sets"])
    feval = arguments.get("feval")
    if feval is not None:
        given["feval"] = boosting.callable_name(feval)
    return booster, given, boosting.flatten(history), X
