"""CatBoost: its models as jupyter-mlops sees them (``CatBoostClassifier``/``Regressor``).

A model is kept in CatBoost's own binary format (``model.cbm``: the magic ``CBM1``, the
length of a FlatBuffers model core, the core, then optional extra parts). What is checked
before CatBoost parses it: the size limit, the magic, that the declared core fits the file,
and that the core's root table offset points inside the core. What is not: the FlatBuffers
tables themselves (tree splits, leaf values, categorical hashes), which CatBoost's own loader
reads; there is no independent description of them short of reimplementing its schema. The
loader builds a ``CatBoostClassifier`` or ``CatBoostRegressor`` from the model's own loss
function, never a class the file names. No ``TRAIN`` (see :mod:`.registry`):
``catboost.train`` returns a generic ``CatBoost`` object, not one of these estimators.

Standalone: imports only the standard library, numpy and :mod:`.boosting` (CatBoost inside
functions), because bundles carry it as ``code/mlops_catboost.py`` for their loader.
"""

from __future__ import annotations

import struct
from contextlib import nullcontext
from typing import Any

import numpy as np

try:  # inside jupyter_mlops
    from . import boosting
except ImportError:  # inside a bundle
    import mlops_boosting as boosting  # type: ignore[import-not-found,no-redef]

NAME = "catboost"  # the MLflow flavor and the store's format name
DISTRIBUTION = "catboost"  # what requirements.txt pins
SUFFIX = ".cbm"  # the bundle's native model file: model.cbm
ESTIMATORS = ("catboost.core.CatBoostClassifier", "catboost.core.CatBoostRegressor")
# Exact types a skops file of a Pipeline ending in a CatBoost model holds.
SKOPS_TYPES = ESTIMATORS
MAGIC = b"CBM1"


def owns(obj: Any) -> bool:
    """Whether ``obj`` is a CatBoost model (by its type's module; CatBoost is not imported)."""
    return boosting.owned_by(obj, "catboost")


def is_native(obj: Any) -> bool:
    """Every CatBoost estimator: stored as ``.cbm``."""
    return boosting.type_name(obj) in ESTIMATORS


def dump(model: Any) -> bytes:
    """The model in CatBoost's binary format (what ``save_model(..., format="cbm")`` writes)."""
    return bytes(model._serialize_model())


def check_cbm(data: bytes, label: str) -> None:
    """Refuse what is not a CatBoost model file before CatBoost reads it (see the module
    docstring for what this does and does not check)."""
    boosting.check_size(len(data), label)
    if len(data) < 12 or not data.startswith(MAGIC):
        raise ValueError(f"{label} is not a CatBoost model (no {MAGIC.decode()} header): "
                         "refused")
    core, root = struct.unpack_from("<II", data, 4)
    if core < 8 or 8 + core > len(data) or root < 4 or root + 4 > core:
        raise ValueError(f"{label} declares a model core that does not fit the file: refused")


def load(data: bytes, label: str) -> Any:
    """A CatBoostClassifier or Regressor from ``.cbm`` bytes, checked first; ValueError if
    refused."""
    import catboost

    check_cbm(data, label)
    try:
        model = catboost.CatBoost().load_model(blob=bytes(data))
        loss = str(model.get_all_params().get("loss_function", ""))
    except Exception as exc:  # CatBoost's own parser said no
        raise ValueError(f"{label} could not be loaded by CatBoost ({exc})") from None
    if catboost.core.is_classification_objective(loss):
        return catboost.to_classifier(model)
    return catboost.to_regressor(model)


def check_state(state: dict[str, Any], label: str) -> None:
    """Check the ``.cbm`` bytes a skops file holds for a CatBoost model (``__getstate__``)."""
    data = state.get("__model")
    if data is not None:
        if not isinstance(data, (bytes, bytearray)):
            raise ValueError(f"{label} holds a CatBoost model without its bytes: refused")
        check_cbm(bytes(data), label)


def serialized_once() -> Any:
    """Nothing to share: one ``.cbm`` per recorder step is cheap."""
    return nullcontext()


# --- what a tracked cell records ------------------------------------------------------------


def params(model: Any) -> dict[str, Any]:
    """The parameters the model was given (CatBoost's ``get_params`` lists only those)."""
    return boosting.plain(model.get_params())


def curves(model: Any) -> dict[str, list[float]]:
    """``get_evals_result()`` as ``{"validation.Logloss": [per iteration], "learn.…"}``."""
    try:
        return boosting.flatten(model.get_evals_result())
    except Exception:  # not fitted
        return {}


def best_iteration(model: Any) -> int | None:
    """The best iteration on the evaluation set (0-based, as CatBoost counts), if any."""
    best = getattr(model, "best_iteration_", None)
    return int(best) if isinstance(best, (int, np.integer)) and best >= 0 else None


def features(model: Any) -> tuple[list[str] | None, int | None]:
    """The input column names (None for CatBoost's ``"0", "1"…`` defaults) and their count."""
    names = [str(n) for n in (model.feature_names_ or [])]
    generic = names == [str(i) for i in range(len(names))]
    return (None if generic else names), len(names)


def scorer(model: Any) -> Any:
    """What ``--eval`` scores: the model itself (it predicts its class labels)."""
    return model


def flavor(model: Any, data: str, trusted: list[str]) -> dict[str, Any]:
    """MLflow's ``catboost`` flavor: ``mlflow.catboost.load_model`` builds ``model_type`` and
    loads the ``.cbm`` into it."""
    import catboost

    return {"catboost_version": catboost.__version__, "data": data,
            "model_type": type(model).__name__, "save_format": "cbm", "code": None}
