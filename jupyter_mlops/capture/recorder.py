"""Build one run around the execution of a cell: before it runs, inputs; after, the rest.

This layer knows nothing of IPython: the magic hands it the cell's source and namespace,
and the store to write to.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, ParamSpec, TypeVar

import numpy as np
import xxhash
from ulid import ULID

from ..data.fingerprint import fingerprint_data, is_dataset
from ..data.profile import profile_of, schema_of
from ..entities import Entity
from ..errors import MLOpsError
from ..frameworks.models import (
    evaluate,
    is_fitted,
    is_metric_value,
    is_model,
    keeps_fitted_state,
    model_params,
    training_history,
    training_setup,
)
from ..frameworks.registry import serialized_once
from ..frameworks.serialize import dump_model, dump_pickle, fingerprint_model
from ..store import DatasetInfo, ModelInfo, RunResult, Store
from . import environment
from .analysis import CellAnalysis, analyze
from .artifacts import artifact_bytes
from .cells import CellHistory
from .changes import Before, file_entity
from .fits import FitWatcher
from .training import TrainWatcher

MAX_STREAM_CHARS = 64_000
METRIC_FLUSH_POINTS = 5_000
METRIC_FLUSH_SECONDS = 2.0
P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class TrackOptions:
    """What ``%%track`` was asked to do (its parsed arguments)."""

    name: str | None = None
    experiment: str = "default"
    tags: dict[str, str] = field(default_factory=dict)
    models: list[str] = field(default_factory=list)
    data: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    params: list[str] = field(default_factory=list)
    eval: tuple[str, str] | None = None
    capture_output: bool = True


def _bounded(text: str) -> str:
    if len(text) <= MAX_STREAM_CHARS:
        return text
    return f"[… {len(text) - MAX_STREAM_CHARS} characters cut …]\n" + text[-MAX_STREAM_CHARS:]


def _shape(obj: Any) -> str:
    shape = getattr(obj, "shape", None)
    return "×".join(str(n) for n in shape) if shape is not None else "?"


def _top_module(obj: Any) -> str:
    return (type(obj).__module__ or "").split(".")[0]


def _serializing_once(method: Callable[P, T]) -> Callable[P, T]:
    """Run a recorder step (never the user's code) with each model's native text made once."""

    @functools.wraps(method)
    def step(*args: P.args, **kwargs: P.kwargs) -> T:
        with serialized_once():
            return method(*args, **kwargs)

    return step


class RunRecorder:
    """Records one execution of a tracked cell as a run in ``store``.

    Call :meth:`prepare` and :meth:`begin` before the cell runs and :meth:`finish` after;
    in between, the
    ``log_*`` methods attach metrics, params and artifacts to the run.
    """

    def __init__(
        self,
        store: Store | None,
        options: TrackOptions,
        source: str,
        namespace: dict[str, Any],
        history: CellHistory,
        *,
        notebook: str | None = None,
        cell_id: str | None = None,
        execution_count: int | None = None,
        parent_run_id: str | None = None,
    ) -> None:
        self.store = store
        self.started = False
        self.options = options
        self.source = source
        self.namespace = namespace
        self.history = history
        self.notebook = notebook
        self.cell_id = cell_id
        self.execution_count = execution_count
        self.parent_run_id = parent_run_id
        self.run_id = str(ULID())
        self.name = options.name or f"run-{self.run_id[-6:].lower()}"
        self.analysis: CellAnalysis = analyze(source)
        self.started_at = 0.0
        self.inputs: dict[str, Entity] = {}
        self.datasets: dict[str, DatasetInfo] = {}
        self.logged_params: dict[str, Any] = {}
        self.pending_metrics: list[tuple[str, float, int, float]] = []
        self.metric_steps: dict[str, int] = {}
        self.metric_count: dict[str, int] = {}
        self.artifacts: list[tuple[bytes, str, Entity]] = []
        self.warnings: list[str] = []
        self.unknown: list[str] = []  # option names that name no variable (typos)
        self.early: list[str] = []  # warnings known before the cell runs: shown first
        self.failed = False
        self.refitted: dict[str, str] = {}  # read models the cell refits: fingerprint before
        self.before = Before()
        self._last_flush = time.monotonic()
        self._live_flush = True  # off after a failed flush: the rest waits for finish()
        self._git = environment.git_state_soon()
        self._slice = history.code_slice(self.analysis.reads)
        self.fits = FitWatcher(namespace)  # started by api.activate while the cell runs
        self.training = TrainWatcher(namespace)  # lgb.train...: likewise

    # -- before the cell -------------------------------------------------------------------
    def _dataset_entity(self, name: str, value: Any) -> Entity:
        fingerprint = fingerprint_data(value)
        # Profiling is the costly part: skip it for content the store already describes.
        if fingerprint not in self.datasets and not (
                self.store is not None and self.store.has_dataset(fingerprint)):
            self.datasets[fingerprint] = DatasetInfo(
                fingerprint, type(value).__name__, tuple(int(n) for n in value.shape),
                schema_of(value), profile_of(value),
            )
        return Entity("dataset", name, fingerprint, {"shape": list(value.shape),
                                                     "type": type(value).__name__})

    def _option_names(self) -> list[str]:
        names = [*self.options.models, *self.options.data, *self.options.metrics,
                 *self.options.params, *(self.options.eval or ())]
        return list(dict.fromkeys(names))

    def _check_option_names(self) -> None:
        """Warn at once about option names that no variable has and the cell does not bind."""
        if not self.analysis.parsed:
            return

        def known() -> list[str]:  # what a typo may have meant: data-like names
            return [n for n, v in self.namespace.items() if not n.startswith("_") and not (
                callable(v) or isinstance(v, ModuleType))] + list(self.analysis.binds)

        for option, names in (("--eval", self.options.eval or ()), ("--model", self.options.models),
                              ("--data", self.options.data), ("--metric", self.options.metrics),
                              ("--param", self.options.params)):
            for name in names:
                if name in self.namespace or name in self.analysis.binds or name in self.unknown:
                    continue
                close = difflib.get_close_matches(name, known(), n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                self.unknown.append(name)
                self.early.append(f"{option} {name}: no variable {name} exists, and the cell "
                                     f"does not assign it{hint}; {option} ignores it")

    def _input_names(self) -> list[str]:
        names = list(self.analysis.reads) + self.options.data
        if self.options.eval:
            names += list(self.options.eval)
        return [n for n in dict.fromkeys(sorted(names)) if n in self.namespace]

    def _add_input(self, name: str, value: Any) -> None:
        if is_dataset(value):
            self.inputs[name] = self._dataset_entity(name, value)
        elif is_model(value) and is_fitted(value):
            entity = Entity("model", name, fingerprint_model(value),
                            {"class": type(value).__name__})
            if name in self.analysis.effects.refits and not keeps_fitted_state(value):
                self.refitted[name] = entity.fingerprint  # its fitted state is not read
            else:
                self.inputs[name] = entity
        elif name in self.options.data:
            raise MLOpsError(
                f"--data {name} is a {type(value).__name__}, not a DataFrame, Series or array"
            )

    @_serializing_once
    def prepare(self) -> None:
        """Fingerprint the inputs and note stale ones; call :meth:`begin` next."""
        self._check_option_names()
        for name in self._input_names():
            try:
                self._add_input(name, self.namespace[name])
            except Exception as exc:  # one odd object must not cost the whole run
                self.warnings.append(f"input {name} not recorded: {exc}")
        effects = self.analysis.effects
        for text in self.analysis.strings:
            if text not in effects.write_only and os.path.isfile(text):
                self.inputs[text] = file_entity(text)
        self.before = Before.take(self.namespace, self._option_names() + list(
            self.analysis.binds), effects.writes)
        self.warnings += self.history.staleness(self.analysis.reads)

    def begin(self) -> None:
        """Record the run as running in the store (idempotent)."""
        if self.started:
            return
        if not self.started_at:
            self.started_at = time.time()
        if self.store is None:
            raise MLOpsError("no store is open")
        self.store.start_run(
            self.run_id, name=self.name, experiment=self.options.experiment,
            source=self.source, source_hash=xxhash.xxh3_64_hexdigest(self.source.encode()),
            started_at=self.started_at, notebook=self.notebook, cell_id=self.cell_id,
            execution_count=self.execution_count, user=environment.user(),
            parent_run_id=self.parent_run_id,
        )
        self.started = True

    # -- during the cell -------------------------------------------------------------------
    def log_metric(self, key: str, value: Any, step: int | None = None) -> None:
        """Append one metric value (``step`` defaults to the key's next step)."""
        __tracebackhide__ = True  # IPython shows the user's line, not our frames
        if not isinstance(key, str) or not key:
            raise ValueError(f"a metric key must be a non-empty string, not {key!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise TypeError(
                f"log_metric({key!r}, …) needs a number, got {type(value).__name__}"
            ) from None
        if step is None:
            step = self.metric_steps.get(key, -1) + 1
        elif not isinstance(step, int) or isinstance(step, bool):
            raise TypeError(f"log_metric step must be an int, got {type(step).__name__}")
        self.metric_steps[key] = max(step, self.metric_steps.get(key, -1))
        self.metric_count[key] = self.metric_count.get(key, 0) + 1
        self.pending_metrics.append((key, number, step, time.time()))
        if self._live_flush and (len(self.pending_metrics) >= METRIC_FLUSH_POINTS or (
            time.monotonic() - self._last_flush > METRIC_FLUSH_SECONDS
        )):
            self.flush_metrics()

    def flush_metrics(self) -> None:
        """Write buffered metric points to the store (so live views see them).

        Never raises into the user's cell: on failure (store locked, disk full) the points
        stay buffered for :meth:`finish`, and no further flush is tried during this cell, so
        a training loop keeps its speed.
        """
        self._last_flush = time.monotonic()
        if not self.started or self.store is None:
            return
        try:
            self.store.log_metrics(self.run_id, self.pending_metrics)
        except Exception:
            self._live_flush = False
            return
        self.pending_metrics = []

    def log_param(self, key: str, value: Any) -> None:
        """Record a parameter of the run."""
        __tracebackhide__ = True  # IPython shows the user's line, not our frames
        if not isinstance(key, str) or not key:
            raise ValueError(f"a parameter key must be a non-empty string, not {key!r}")
        self.logged_params[key] = value

    def log_artifact(self, obj: Any, name: str | None = None) -> str:
        """Store a file, bytes, DataFrame or figure as an artifact of the run; its sha256."""
        __tracebackhide__ = True  # IPython shows the user's line, not our frames
        data, media_type, default_name = artifact_bytes(obj)
        name = name or default_name or f"artifact-{len(self.artifacts) + 1}"
        entity = Entity("artifact", name, "sha256:" + hashlib.sha256(data).hexdigest(),
                        {"media_type": media_type, "size": len(data)})
        self.artifacts.append((data, media_type, entity))
        return entity.fingerprint

    # -- after the cell --------------------------------------------------------------------
    def _outputs(self, result: RunResult) -> None:
        # Names read count too: `model.fit(X, y)` or `df.dropna(inplace=True)` change a value
        # without binding it; such a value is an output when its content changed.
        names = [*self.analysis.binds, *self.options.models, *self.options.data,
                 *self.analysis.reads]
        for name in dict.fromkeys(names):
            if name in self.namespace and self._made(name):
                try:
                    self._add_output(result, name, self.namespace[name])
                except Exception as exc:  # one odd object must not cost the whole run
                    self.warnings.append(f"output {name} not recorded: {exc}")
        for path in self.analysis.effects.writes:
            if self.before.written(path):
                try:
                    entity = file_entity(path)
                except OSError as exc:
                    self.warnings.append(f"file {path} not recorded: {exc}")
                    continue
                result.outputs.append(Entity(entity.kind, entity.name, entity.fingerprint,
                                             {**entity.detail, "written": True}))
        for option, missing in (("--model", self.options.models), ("--data", self.options.data)):
            for name in missing:
                if name not in self.namespace and name not in self.unknown:
                    self.warnings.append(f"{option} {name}: no such variable after the cell ran")
        for data, media_type, entity in self.artifacts:
            result.artifacts.append((data, media_type))
            result.outputs.append(entity)

    def _made(self, name: str) -> bool:
        """Whether the cell may have made the value of ``name``: any name for a cell that
        finished; for a failed one, a name it rebound, or a value it read (and changed)."""
        return not self.failed or name in self.analysis.reads or self.before.rebound(
            name, self.namespace)

    def _add_output(self, result: RunResult, name: str, value: Any) -> None:
        before = self.inputs.get(name)
        if is_model(value) and is_fitted(value):
            fingerprint = fingerprint_model(value)
            # A refit by a failed cell may not have happened: unchanged, it is not an output.
            old = before.fingerprint if before is not None else (
                self.refitted.get(name) if self.failed else None)
            if old == fingerprint:
                return
            try:  # the recorded cells: where PyTorch finds the module's constructor call
                data, fmt, trusted = dump_model(
                    value, [r.source for r in self._slice] + [self.source], self.namespace)
            except ValueError as exc:
                self.warnings.append(f"model {name} is stored as a pickle, which cannot be "
                                     f"bundled: {exc}")
                data, fmt, trusted = dump_pickle(value)
            result.models.append(ModelInfo(fingerprint, type(value).__name__,
                                           type(value).__module__, data, fmt, trusted))
            result.outputs.append(Entity("model", name, fingerprint, {
                "class": type(value).__name__, "module": type(value).__module__,
                "format": fmt}))
            self._fit_input(result, name, value)
        elif is_dataset(value):
            entity = self._dataset_entity(name, value)
            if before is None or before.fingerprint != entity.fingerprint:
                result.outputs.append(entity)
        elif name in self.options.models:
            raise MLOpsError(f"--model {name} is a {type(value).__name__} without fit() and "
                             "predict(), or is not fitted yet")

    def _fit_input(self, result: RunResult, name: str, model: Any) -> None:
        """Record the data ``model`` was fitted on in this cell as an input of the run (with
        ``fit_of`` naming the model), even when it was built inside the cell or the call."""
        X = self.fits.fitted_on(model)
        if X is None and (training := self.training.observed(model)) is not None:
            X = training.X
        if X is None or not is_dataset(X):
            return
        bound = next((n for n in (*self.analysis.binds, *self.analysis.reads)
                      if self.namespace.get(n) is X), None)
        entity = self._dataset_entity(bound or f"{name}.fit(X)", X)
        entity = Entity("dataset", entity.name, entity.fingerprint,
                        {**entity.detail, "fit_of": name})
        result.inputs = [e for e in result.inputs if not (
            e.kind == "dataset" and e.fingerprint == entity.fingerprint
            and e.name == entity.name)] + [entity]

    def _params(self, result: RunResult) -> None:
        params: dict[str, Any] = {}
        models = [e for e in result.outputs if e.kind == "model"]
        for entity in models:
            prefix = "" if len(models) == 1 else entity.name + "."
            model = self.namespace.get(entity.name)
            training = self.training.observed(model)
            found = {**model_params(model), **(training.params if training else {}),
                     **training_setup(model, self.source, self.namespace)}
            params.update({prefix + k: v for k, v in found.items()})
        params.update({k: v for k, v in self.analysis.literals.items()
                       if not is_metric_value(k, v) and self._made(k)})
        for name in self.options.params:
            if name in self.unknown:
                continue
            if name not in self.namespace:
                self.warnings.append(f"--param {name}: no such variable after the cell ran")
            else:
                params[name] = self.namespace[name]
        params.update(self.logged_params)
        result.params = params

    def _metrics(self, result: RunResult, now: float) -> None:
        scalars: dict[str, float] = {}
        for name in self.analysis.binds:
            value: Any = self.namespace.get(name)
            if is_metric_value(name, value) and self._made(name):
                scalars[name] = float(value)
        for name in self.options.metrics:
            if name in self.unknown:
                continue
            try:
                scalars[name] = float(self.namespace[name])
            except KeyError:
                self.warnings.append(f"--metric {name}: no such variable after the cell ran")
            except (TypeError, ValueError):
                self.warnings.append(f"--metric {name}: not a number")
        if self.options.eval:
            try:
                self._evaluate(result, scalars)
            except Exception as exc:  # only the --eval metrics are lost, not the cell's own
                x_name, y_name = self.options.eval
                self.warnings.append(f"--eval {x_name} {y_name} could not score the model "
                                     f"({type(exc).__name__}: {exc}); its standard metrics are "
                                     "missing, the metrics the cell computed are kept")
        for key, value in scalars.items():
            if key not in self.metric_count:
                self.log_metric(key, value)
        self._training_curves(result)
        result.metrics = self.pending_metrics
        self.pending_metrics = []

    def _training_curves(self, result: RunResult) -> None:
        """Each output model's evaluation curves as step metrics (step = iteration) and its
        early-stopping ``best_iteration``, from what its framework kept; a key the cell
        logged itself is left alone."""
        models = [e.name for e in result.outputs if e.kind == "model"]
        for name in models:
            prefix = "" if len(models) == 1 else name + "."
            model = self.namespace.get(name)
            try:
                curves, best = training_history(model)
            except Exception as exc:  # one odd model must not cost the other metrics
                self.warnings.append(f"training curves of {name} not recorded: {exc}")
                continue
            training = self.training.observed(model)
            curves = {**(training.curves if training else {}), **curves}
            points = {prefix + key: values for key, values in curves.items()}
            if best is not None:
                points[prefix + "best_iteration"] = [float(best)]
            for key, values in points.items():
                if key not in self.metric_count:
                    for step, value in enumerate(values):
                        self.log_metric(key, value, step)

    def _evaluate(self, result: RunResult, scalars: dict[str, float]) -> None:
        assert self.options.eval is not None
        x_name, y_name = self.options.eval
        found = [e.name for e in result.outputs if e.kind == "model"] + [
            e.name for e in self.inputs.values() if e.kind == "model"]
        chosen = [n for n in self.options.models if n in self.namespace and self._made(n)]
        candidates = list(dict.fromkeys(chosen + found))
        if not candidates:
            self.warnings.append("--eval: the cell produced no fitted model to evaluate")
            return
        if not chosen and len(candidates) > 1:
            self.warnings.append(f"--eval scored {candidates[0]} (the cell has models "
                                 f"{', '.join(candidates)}): name one with --model")
        for name in (x_name, y_name):
            if name not in self.namespace:
                if name not in self.unknown:
                    self.warnings.append(f"--eval: no variable {name} after the cell ran")
                return
        if np.ndim(self.namespace[x_name]) == 1 and np.ndim(self.namespace[y_name]) == 2:
            self.warnings.append(f"--eval {x_name} {y_name}: {x_name} is 1-D and {y_name} 2-D; "
                                 "give the features first, then the targets")
            return
        model = self.namespace[candidates[0]]
        scores, predictions = evaluate(model, self.namespace[x_name], self.namespace[y_name])
        scalars.update(scores)
        sha = hashlib.sha256(predictions).hexdigest()
        result.artifacts.append((predictions, "application/x-npz"))
        result.outputs.append(Entity("artifact", "predictions", "sha256:" + sha, {
            "media_type": "application/x-npz", "model": candidates[0], "X": x_name,
            "y": y_name}))

    @_serializing_once
    def finish(self, error: BaseException | None = None, stdout: str = "",
               stderr: str = "") -> RunResult:
        """Collect outputs, params, metrics and context, and record the finished run."""
        now = time.time()
        if error is None:
            status = "finished"
        elif isinstance(error, KeyboardInterrupt):
            status = "interrupted"
        else:
            status = "failed"
        result = RunResult(status=status, ended_at=now, tags=dict(self.options.tags),
                           inputs=list(self.inputs.values()), stdout=_bounded(stdout),
                           stderr=_bounded(stderr))
        if error is not None:
            self.failed = True
            result.tags["partial"] = "what the cell made before the error"
            stopped = "was interrupted" if status == "interrupted" else "failed"
            self.warnings.append(f"the cell {stopped}: only what it made before that is "
                                 "recorded (a partial run, which cannot be promoted)")
            result.error = f"{type(error).__name__}: {error}"
            result.traceback = "".join(traceback.format_exception(
                type(error), error, error.__traceback__))
        problems: list[Callable[[RunResult], None]] = [self._outputs, self._params]
        for step in problems:
            try:
                step(result)
            except Exception as exc:  # record what we can; say what we could not
                self.warnings.append(f"{exc}")
        try:
            self._metrics(result, now)
        except Exception as exc:
            self.warnings.append(f"metrics: {exc}")
            result.metrics = self.pending_metrics
        result.datasets = list(self.datasets.values())
        modules = set(self.analysis.modules)
        for record in self._slice:
            modules |= record.analysis.modules
        for name in [*self.inputs, *(e.name for e in result.outputs)]:
            if name in self.namespace:
                modules.add(_top_module(self.namespace[name]))
        result.environment = environment.environment(modules)
        result.git = self._git.result()
        result.code_slice = CellHistory.as_code(self._slice)
        result.warnings = self.early + self.warnings
        self.begin()  # when the store was unavailable at the start, try once more now
        assert self.store is not None
        self.store.finish_run(self.run_id, result)
        return result

    def abandon(self, reason: str) -> None:
        """After :meth:`finish` failed: mark the run `interrupted` with the reason, if the store
        still takes that small write, so that it does not stay `running` for ever."""
        if not self.started or self.store is None:
            return
        try:
            self.store.mark_interrupted(self.run_id, f"jupyter-mlops could not record the "
                                                    f"end of this run: {reason}")
        except Exception:
            pass  # the caller has already warned the user that the run was not recorded

    def summary(self, result: RunResult) -> str:
        """The one line shown under a tracked cell."""
        duration = result.ended_at - self.started_at
        parts = [f"run {self.run_id[:10]}… {self.name}", f"{result.status} {duration:.2f} s",
                 f"params {len(result.params)}",
                 f"metrics {len({m[0] for m in result.metrics} | set(self.metric_count))}"]
        parts += [f"model {self.namespace[e.name].__class__.__name__}"
                  if e.name in self.namespace else f"model {e.name}"
                  for e in result.outputs if e.kind == "model"]
        data = [f"{e.name}({_shape(self.namespace.get(e.name))})"
                for e in result.inputs if e.kind == "dataset" and e.name in self.namespace]
        if data:
            parts.append("data " + " ".join(data[:4]) + (" …" if len(data) > 4 else ""))
        files = [e.name for e in result.outputs if e.detail.get("written")]
        if files:
            parts.append("wrote " + " ".join(files[:4]) + (" …" if len(files) > 4 else ""))
        # The early warnings (mistyped option names) were said before the cell ran: not again.
        line = " · ".join(parts) + "\n  " + self._chart_hints(result)
        for warning in result.warnings:
            if warning not in self.early:
                line += f"\n  ⚠ {warning}"
        return line

    def _chart_hints(self, result: RunResult) -> str:
        """The commands that chart this run: lineage, curves, diagnostics."""
        short = self.run_id[:10]
        hints = [f"%mlops lineage {short}"]
        if any(count > 1 for count in self.metric_count.values()):
            hints.append(f"%mlops curves {short}")
        if any(e.name == "predictions" and e.kind == "artifact" for e in result.outputs):
            hints.append(f"%mlops diagnostics {short}")
        return "charts: " + " · ".join(hints)
