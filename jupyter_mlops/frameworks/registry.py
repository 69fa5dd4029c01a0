"""The frameworks beyond scikit-learn, and which one a model belongs to.

Each framework is one module with the same names (``NAME``, ``SUFFIX``, ``SKOPS_TYPES``,
``owns``, ``is_native``, ``dump``, ``load``, ``check_state``, ``params``, ``curves``,
``best_iteration``, ``features``, ``scorer``, ``flavor``): recognising, capturing, storing,
loading and bundling its models all dispatch through :func:`framework_of`, never through
checks spread over the package. What the boosting frameworks share is :mod:`.boosting`.
Optional names, for frameworks that need them: ``TRAIN`` (the module function that trains
its native models, observed during a cell), ``predictor`` (what a server calls with the
request's rows, when not ``predict``: an XGBoost Booster wants a DMatrix); for PyTorch
``content`` (what the fingerprint hashes, instead of a pickle), ``NEEDS_CELLS`` with
``types`` (``dump`` reads the recorded cells; the notebook classes export captures),
``training_params`` (what the cell trained with), ``served`` (what a bundle serves),
``DISTRIBUTIONS`` (everything requirements.txt pins), ``rebind``.

Standalone like its framework modules: bundles carry it as ``code/mlops_frameworks.py`` (and
each framework as ``code/mlops_<name>.py``, their shared code as ``code/mlops_boosting.py``)
so that their loader applies the same checks.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from types import ModuleType
from typing import Any

try:  # inside jupyter_mlops
    from . import catboost, lightgbm, pytorch, xgboost
except ImportError:  # inside a bundle
    import mlops_catboost as catboost  # type: ignore[import-not-found,no-redef]
    import mlops_lightgbm as lightgbm  # type: ignore[import-not-found,no-redef]
    import mlops_pytorch as pytorch  # type: ignore[import-not-found,no-redef]
    import mlops_xgboost as xgboost  # type: ignore[import-not-found,no-redef]

FRAMEWORKS: tuple[ModuleType, ...] = (lightgbm, xgboost, catboost, pytorch)
BY_NAME = {framework.NAME: framework for framework in FRAMEWORKS}


def final_step(model: Any) -> Any:
    """The model a scikit-learn Pipeline ends with (the model itself otherwise)."""
    steps = getattr(model, "steps", None)
    return steps[-1][1] if isinstance(steps, list) and steps else model


def framework_of(model: Any) -> ModuleType | None:
    """The framework module of ``model`` (or of the model its Pipeline ends with)."""
    final = final_step(model)
    return next((f for f in FRAMEWORKS if f.owns(final)), None)


def native_framework(model: Any) -> ModuleType | None:
    """The framework of a model kept in its native format (a Booster), else None."""
    return next((f for f in FRAMEWORKS if f.owns(model) and f.is_native(model)), None)


def served(model: Any) -> Any:
    """What a bundle serves for a natively loaded ``model`` (a torch module as an estimator
    with ``predict``), the model itself for frameworks that need no view."""
    framework = native_framework(model)
    view = getattr(framework, "served", None)
    return view(model) if view is not None else model


def predictor(model: Any) -> Any:
    """What a server calls with a request's rows: its native framework's ``predictor`` (an
    XGBoost Booster wants a DMatrix), else ``predict`` of what the bundle serves."""
    framework = native_framework(model)
    hook = getattr(framework, "predictor", None)
    return hook(model) if hook is not None else served(model).predict


def skops_types() -> set[str]:
    """The exact types every framework adds to the skops allowlist."""
    return {name for framework in FRAMEWORKS for name in framework.SKOPS_TYPES}


@contextmanager
def serialized_once() -> Iterator[None]:
    """Each framework's :func:`serialized_once` (a model's native text made once per block)."""
    with ExitStack() as stack:
        for framework in FRAMEWORKS:
            stack.enter_context(framework.serialized_once())
        yield
