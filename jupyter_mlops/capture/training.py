"""Training calls observed while a tracked cell runs: a framework's own ``train`` function
(``lightgbm.train``, ``xgboost.train``), whose arguments, evaluation curves and training data
the Booster it returns does not keep.

While the cell runs, the function is replaced on its module (``lgb.train(...)`` looks it up
there; so does ``from lightgbm import train`` inside the cell), also when the cell is the first
to import the framework. A call from the notebook's own code is observed by the framework's
``observed_train``; calls from libraries (LightGBM's sklearn API calls its own ``train``)
run as they are. The original is put back when the cell ends.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from ..frameworks.registry import FRAMEWORKS
from .fits import _AfterImport


@dataclass
class Training:
    """What one observed training call was given and recorded."""

    params: dict[str, Any]
    curves: dict[str, list[float]]
    X: Any


class TrainWatcher:
    """Observes the frameworks' ``train`` functions called from ``namespace``'s code."""

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.namespace = namespace
        self.calls: dict[int, tuple[Any, Training]] = {}  # id(model) -> (model, training)
        self._patched: list[tuple[ModuleType, str, Any]] = []
        self._finders: list[_AfterImport] = []

    def observed(self, model: Any) -> Training | None:
        """What the cell's training call of ``model`` was given, or None."""
        call = self.calls.get(id(model))
        return call[1] if call is not None and call[0] is model else None

    def _wrap(self, framework: ModuleType, function: Any) -> Any:
        watcher = self

        @functools.wraps(function)
        def train(*args: Any, **kwargs: Any) -> Any:
            if sys._getframe(1).f_globals is not watcher.namespace:
                return function(*args, **kwargs)
            model, params, curves, X = framework.observed_train(function, args, kwargs)
            watcher.calls[id(model)] = (model, Training(params, curves, X))
            return model

        return train

    def _patch(self, framework: ModuleType, module: ModuleType) -> None:
        name = framework.TRAIN[1]
        function = getattr(module, name, None)
        if callable(function):
            self._patched.append((module, name, function))
            setattr(module, name, self._wrap(framework, function))

    def start(self) -> None:
        """Wrap every framework's train function, now or right after its first import."""
        for framework in FRAMEWORKS:
            if getattr(framework, "TRAIN", None) is None:  # no train function of its own
                continue
            module_name = framework.TRAIN[0]
            module = sys.modules.get(module_name)
            if module is not None:
                self._patch(framework, module)
            else:
                finder = _AfterImport(module_name, functools.partial(self._patch, framework))
                self._finders.append(finder)
                sys.meta_path.insert(0, finder)

    def stop(self) -> None:
        """Put every wrapped function back."""
        for finder in self._finders:
            if finder in sys.meta_path:
                sys.meta_path.remove(finder)
        self._finders = []
        for module, name, function in reversed(self._patched):
            setattr(module, name, function)
        self._patched = []
