"""Which data each model was fitted on: ``fit`` calls observed while a tracked cell runs.

A model is often fitted on data that exists only inside the call (``model.fit(df[cols],
df.y)``) or that the same cell built (``X = df.drop(columns="y")``). Reading the cell's
names afterwards cannot say which value the model saw, so while the cell runs the
``fit``/``fit_transform``/``fit_predict`` functions of the scikit-learn estimator classes
(every loaded ``BaseEstimator`` subclass, and those the cell defines or imports) are
wrapped: a call made from the notebook's own code (whose globals are the namespace)
records the estimator and its ``X``. Calls from inside libraries (a Pipeline fitting its
steps, cross-validation clones) are not recorded. The wrappers cost one frame lookup per
call and are removed when the cell ends; nothing is wrapped when scikit-learn is not
loaded (then the export matches the model's features against the recorded datasets).
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import inspect
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any, Protocol

FIT_METHODS = ("fit", "fit_transform", "fit_predict")


class FitWatcher:
    """Records, per estimator, the ``X`` of the last ``fit`` the notebook code called."""

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.namespace = namespace
        self.calls: dict[int, tuple[Any, Any]] = {}  # id(estimator) -> (estimator, X)
        self._patched: list[tuple[type, str, Any]] = []
        self._hook: tuple[type, Any] | None = None
        self._running: set[int] = set()  # estimators inside a fit call
        self._finder: _AfterImport | None = None

    def fitted_on(self, estimator: Any) -> Any | None:
        """The ``X`` that ``estimator`` was last fitted on by the cell, or None."""
        call = self.calls.get(id(estimator))
        return call[1] if call is not None and call[0] is estimator else None

    def _wrap(self, function: Callable[..., Any]) -> Callable[..., Any]:
        watcher = self

        @functools.wraps(function)
        def fit(estimator: Any, *args: Any, **kwargs: Any) -> Any:
            key = id(estimator)
            if key in watcher._running:  # e.g. super().fit(...) inside a notebook's class
                return function(estimator, *args, **kwargs)
            if sys._getframe(1).f_globals is watcher.namespace:
                X = args[0] if args else kwargs.get("X")
                if X is not None:
                    watcher.calls[key] = (estimator, X)
            watcher._running.add(key)
            try:
                return function(estimator, *args, **kwargs)
            finally:
                watcher._running.discard(key)

        return fit

    def _patch(self, cls: type) -> None:
        for method in FIT_METHODS:
            function = cls.__dict__.get(method)
            if inspect.isfunction(function):  # not descriptors such as available_if
                self._patched.append((cls, method, function))
                setattr(cls, method, self._wrap(function))

    def start(self) -> None:
        """Wrap the fit methods of every loaded estimator class, and of those defined while
        the cell runs (also when the cell is the first to import scikit-learn)."""
        base = getattr(sys.modules.get("sklearn.base"), "BaseEstimator", None)
        if base is not None:
            self._watch(base)
        else:
            self._finder = _AfterImport("sklearn.base", lambda module: self._watch(
                module.BaseEstimator))
            sys.meta_path.insert(0, self._finder)

    def _watch(self, base: Any) -> None:
        seen: set[type] = set()
        pending: list[type] = [base]
        while pending:
            cls = pending.pop()
            subclasses: list[type] = type.__subclasses__(cls)
            for sub in subclasses:
                if sub not in seen:
                    seen.add(sub)
                    pending.append(sub)
        for cls in seen:
            self._patch(cls)
        original = base.__dict__.get("__init_subclass__")
        watcher = self

        def init_subclass(cls: Any, **kwargs: Any) -> None:
            if original is not None:
                original.__func__(cls, **kwargs)
            else:
                super(base, cls).__init_subclass__(**kwargs)
            watcher._patch(cls)

        base.__init_subclass__ = classmethod(init_subclass)
        self._hook = (base, original)

    def stop(self) -> None:
        """Put every wrapped method back."""
        if self._finder is not None and self._finder in sys.meta_path:
            sys.meta_path.remove(self._finder)
        self._finder = None
        if self._hook is not None:
            base, original = self._hook
            if original is None:
                del base.__init_subclass__
            else:
                base.__init_subclass__ = original  # type: ignore[assignment]
            self._hook = None
        for cls, method, function in reversed(self._patched):
            setattr(cls, method, function)
        self._patched = []


class _AfterImport(importlib.abc.MetaPathFinder):
    """Calls ``callback(module)`` once, right after the module ``name`` is first imported."""

    def __init__(self, name: str, callback: Callable[[ModuleType], None]) -> None:
        self.name, self.callback = name, callback

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)  # once, and not for the lookup below
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        execute, callback = loader.exec_module, self.callback

        def exec_module(module: ModuleType) -> None:
            execute(module)
            callback(module)

        loader.exec_module = exec_module
        return spec


class Watcher(Protocol):
    """What observes calls while a cell runs (:class:`FitWatcher`, ``TrainWatcher``)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


@contextmanager
def watching(watcher: Watcher | None) -> Iterator[None]:
    """Observe calls while the block runs (no-op for ``None``)."""
    if watcher is None:
        yield
        return
    watcher.start()
    try:
        yield
    finally:
        watcher.stop()
