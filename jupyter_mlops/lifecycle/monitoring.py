"""Monitoring: new data against a model's training reference profile, its performance, and
(for a serving request log) its latency and errors (:mod:`.operations`).

Every check is stored as a monitoring batch (time, size, per-column drift, performance,
verdict), so drift over time is a query; alerts also go to the audit log.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..capture.environment import user
from ..drift import DriftReport, drift
from ..drift.reference import reference_profile
from ..errors import MLOpsError, RunNotFoundError
from ..frameworks.importance import column_importance, important_columns
from ..frameworks.models import evaluate
from ..store import Store, open_store
from ..store.audit import append_event
from ..store.registry import get_version, is_model_ref, parse_model_ref
from .operations import Alert, as_records, breaches, split_log
from .promotion import eval_data_names

HIGHER_IS_BETTER = {"accuracy", "precision", "recall", "f1", "roc_auc", "r2"}
LOWER_IS_BETTER = {"rmse", "mae", "log_loss"}
# Watched by default (largest allowed drop); other metrics only when given a threshold.
DEFAULT_DROPS = {"accuracy": 0.05, "roc_auc": 0.05, "r2": 0.1}
DRIFT_ALERTS = ("important", "any", "dataset")  # see drift_alerts


class MonitorError(MLOpsError, ValueError):
    """The data or labels cannot be checked against the model (it says what is wrong)."""


@dataclass
class MonitorResult:
    """The outcome of :func:`monitor`."""

    model: str
    run_id: str
    rows: int
    report: DriftReport
    performance: dict[str, dict[str, float]] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)
    batch_id: int | None = None
    notes: list[str] = field(default_factory=list)  # drifted columns that raised no alert
    operations: pd.DataFrame | None = None  # per arm, from a request log (see .operations)

    @property
    def drifted(self) -> bool:
        """The dataset drift verdict."""
        return self.report.drifted

    def figure(self) -> Any:
        """The drift report as a chart (per-column verdicts and distributions)."""
        from ..charts import drift_figure

        return drift_figure(self.report)

    def summary(self) -> str:
        """A short text report (what `jupyter-mlops monitor` prints)."""
        lines = [f"{self.model}: {self.rows} rows, {self._verdict()}"]
        for key, figures in self.performance.items():
            lines.append(f"  {key}: {figures['current']:.4g} now vs {figures['training']:.4g} "
                         "at training")
        for arm, row in (self.operations if self.operations is not None else
                         pd.DataFrame()).iterrows():
            lines.append(f"  serving ({arm}): {int(row['requests'])} requests, "
                         f"{int(row['errors'])} failed ({row['error_rate']:.2%}), "
                         f"{int(row['refused'])} refused; latency "
                         f"p50 {row['latency_p50_ms']:.4g} ms, p99 {row['latency_p99_ms']:.4g} ms")
        lines += [f"  ALERT {a.message}" for a in self.alerts] or ["  no alerts"]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def _verdict(self) -> str:
        """The dataset verdict, with the column alerts it does not imply."""
        report = self.report
        counts = (f"{len(report.drifted_columns)} of {len(report.compared)} columns; "
                  f"needs {report.needed}")
        if report.drifted:
            return f"dataset drifted ({counts})"
        columns = [a.subject for a in self.alerts if a.kind == "drift"]
        alerted = (f" · {len(columns)} column alert{'s' if len(columns) > 1 else ''}: "
                   f"{', '.join(columns)}" if columns else "")
        return f"dataset not drifted ({counts}){alerted}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (`jupyter-mlops monitor --json`)."""
        frame = self.report.to_frame()
        return {"model": self.model, "run_id": self.run_id, "rows": self.rows,
                "drifted": self.drifted, "share_drifted": self.report.share_drifted,
                "columns": json.loads(frame.to_json(orient="records")),
                "performance": self.performance, "alerts": [asdict(a) for a in self.alerts],
                "batch_id": self.batch_id, "notes": self.notes,
                "operations": None if self.operations is None else as_records(self.operations)}


@dataclass
class _Target:
    """What a model reference resolves to."""

    label: str
    run_id: str
    profile: dict[str, Any]
    training_metrics: dict[str, float]
    load_model: Any


def _is_bundle(path: Path) -> bool:
    """Whether a model reference names a bundle: a .zip, or a directory with a manifest."""
    return path.exists() and (path.is_file() or (path / "MANIFEST.json").exists())


def _resolve(ref: str, store: Store) -> _Target:
    path = Path(ref)
    if _is_bundle(path):
        from ..bundle import load_bundle

        bundle = load_bundle(path)
        root = bundle.path
        lineage = json.loads((root / "lineage.json").read_text())
        return _Target(_bundle_label(bundle.metadata, path), bundle.metadata["model"]["run_id"],
                       json.loads((root / "reference_profile.json").read_text()),
                       lineage.get("metrics", {}), lambda: bundle.model)
    if is_model_ref(ref):
        version = get_version(store, ref)
        run_id, label, variable = version.run_id, version.name, version.model_variable
    else:
        run_id = store.resolve_run_id(ref)
        label, variable = store.get_run(run_id).name, None
    try:  # the profile of what the model was fitted on, not of its evaluation data
        x_name: str | None = training_variables(store, run_id)[0]
    except MonitorError:
        x_name = None
    from ..bundle.export import load_run_model  # a torch module: outside its kernel too

    return _Target(label, run_id, reference_profile(store, run_id, name=x_name),
                   store.get_run(run_id).metrics,
                   lambda: load_run_model(store, run_id, variable))


def training_variables(store: Store, run_id: str) -> tuple[str, str]:
    """(X, y) variable names of a run's training data: its largest 2-D dataset input and the
    1-D input with as many rows, leaving out its ``--eval`` data."""
    run = store.get_run(run_id)
    evaluation = set(eval_data_names(store, run_id) or ())
    shapes = {e.name: e.detail.get("shape", []) for e in run.inputs
              if e.kind == "dataset" and e.name not in evaluation}
    matrices = [name for name, shape in shapes.items() if len(shape) == 2]
    if not matrices:
        raise MonitorError(f"run {run_id} read no 2-D training dataset: pass bindings="
                           "{'X_train': 'features', 'y_train': 'labels'}")
    x_name = max(matrices, key=lambda n: shapes[n][0])
    targets = [name for name, shape in shapes.items() if len(shape) == 1
               and shape[0] == shapes[x_name][0]]
    if not targets:
        raise MonitorError(f"run {run_id} read no 1-D target with {shapes[x_name][0]} rows "
                           f"alongside {x_name}: pass bindings=")
    return x_name, targets[0]


def _check_data(data: Any, profile: dict[str, Any]) -> pd.DataFrame:
    frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
    if frame.empty:
        raise MonitorError("the batch is empty: there is nothing to monitor")
    expected = list(profile["columns"])
    frame.columns = [str(c) for c in frame.columns]
    missing = [c for c in expected if c not in frame.columns]
    extra = [c for c in frame.columns if c not in expected]
    if missing or extra:
        parts = ([f"missing column(s) {', '.join(missing)}"] if missing else []) + (
            [f"unexpected column(s) {', '.join(extra)}"] if extra else [])
        hint = (f". If {extra[0]} holds the true targets, pass it as the labels "
                f"(labels=..., or --label-column {extra[0]} on the command line)"
                if len(extra) == 1 and not missing else "")
        raise MonitorError(f"the batch does not match the training schema: {'; '.join(parts)}. "
                           f"The model was trained on {', '.join(expected)}{hint}")
    for name, entry in profile["columns"].items():
        if entry.get("type") == "numeric" and not (
                pd.api.types.is_numeric_dtype(frame[name])
                or pd.api.types.is_bool_dtype(frame[name])):
            converted = pd.to_numeric(frame[name], errors="coerce")
            if converted.isna().sum() > frame[name].isna().sum():
                raise MonitorError(f"column {name!r} holds non-numbers (dtype "
                                   f"{frame[name].dtype}) but was numeric at training")
    return frame[expected]


def _performance(target: _Target, frame: pd.DataFrame, labels: Any,
                 drops: Mapping[str, float]) -> tuple[dict[str, dict[str, float]], list[Alert]]:
    y = np.asarray(labels).ravel()
    if len(y) != len(frame):
        raise MonitorError(f"labels have {len(y)} values for a batch of {len(frame)} rows")
    scores, _ = evaluate(target.load_model(), frame, y)
    performance, alerts = {}, []
    for key, current in scores.items():
        if key not in target.training_metrics or not np.isfinite(current):
            continue
        training = float(target.training_metrics[key])
        performance[key] = {"current": current, "training": training}
        limit = drops.get(key, drops.get("performance", DEFAULT_DROPS.get(key)))
        higher = key in HIGHER_IS_BETTER
        if limit is None or not (higher or key in LOWER_IS_BETTER):
            continue
        worse_by = training - current if higher else current - training
        if worse_by > float(limit):
            verb = "fell" if higher else "rose"
            alerts.append(Alert("performance", key, current,
                                training - limit if higher else training + limit,
                                f"{key} {verb} from {training:.4g} at training to "
                                f"{current:.4g} (more than the allowed {float(limit):.4g})"))
    return performance, alerts


def monitor(
    model_ref: str,
    data: Any,
    *,
    labels: Any = None,
    thresholds: Mapping[str, float] | None = None,
    name: str | None = None,
    store: Store | None = None,
    drift_alert: str = "important",
) -> MonitorResult:
    """Check a batch of new data (and, with labels, the model's performance on it).

    Parameters
    ----------
    model_ref : ``"name@stage"``, ``"name/3"``, a run id/name, or a bundle path
    data : the batch's features (a DataFrame with the training columns), or a serving request
        log as read from its .jsonl (the answered rows are the batch; its latency and errors,
        per rollout arm, are checked too)
    labels : the true targets of the batch, to compare performance with training
    thresholds : ``{"share": 0.5}`` (share of drifted columns that makes the batch drifted),
        ``{"accuracy": 0.05}`` (largest allowed drop of a metric — by default accuracy and
        roc_auc 0.05, r2 0.1 are watched; ``"performance"`` sets one limit for all),
        ``{"latency_p99_ms": 1000, "error_rate": 0.01}`` (the defaults: a request log's
        operational alerts), or a column name for that column's drift test cut-off
    name : what to file the batch under (default: the model's registered name)
    drift_alert : when drift raises an alert besides the dataset verdict (see
        :func:`drift_alerts`): ``"important"`` (default) for a drifted column the model
        relies on, ``"any"`` for any drifted column, ``"dataset"`` only for dataset drift.

    Every call is stored as a monitoring batch; alerts are also audit events.
    """
    if drift_alert not in DRIFT_ALERTS:
        raise ValueError(f"drift_alert must be one of {', '.join(DRIFT_ALERTS)}, "
                         f"got {drift_alert!r}")
    store = store or open_store()
    limits = dict(thresholds or {})
    target = _resolve(model_ref, store)
    features, operations = split_log(data if isinstance(data, pd.DataFrame)
                                     else pd.DataFrame(data))
    if operations is not None and features.empty:
        raise MonitorError(f"the request log holds no answered rows to check: "
                           f"{int(operations['requests'].sum())} requests, "
                           f"{int(operations['errors'].sum())} failed, "
                           f"{int(operations['refused'].sum())} refused")
    frame = _check_data(features, target.profile)
    columns = {k: v for k, v in limits.items() if k in target.profile["columns"]}
    report = drift(target.profile, frame, thresholds=columns or None,
                   share=float(limits.get("share", 0.5)))
    alerts, notes = drift_alerts(report, target.load_model, frame, drift_alert)
    performance: dict[str, dict[str, float]] = {}
    if labels is not None:
        performance, performance_alerts = _performance(target, frame, labels, limits)
        alerts += performance_alerts
    if operations is not None:
        alerts += breaches(operations, limits)
    result = MonitorResult(name or target.label, target.run_id, len(frame), report,
                           performance, alerts, notes=notes, operations=operations)
    result.batch_id = _record(store, result)
    return result


def drift_alerts(report: DriftReport, load_model: Callable[[], Any], frame: pd.DataFrame,
                 rule: str = "important") -> tuple[list[Alert], list[str]]:
    """The drift alerts of one batch, and notes on drifted columns that raised none.

    Dataset drift (the report's share rule) always alerts. Otherwise, with ``rule``
    ``"important"`` or ``"any"``, a column alerts when it drifted and survives Holm's
    correction over the columns watched (:meth:`DriftReport.significant_columns`), so a
    batch with no drift alerts with probability at most the threshold (5 %), however many
    columns there are. ``"important"`` watches the columns the model relies on
    (:func:`jupyter_mlops.importance.important_columns`: at least half an even share of its
    importance, or all when the model does not say); the model is loaded only when some
    column drifted.
    """
    if report.drifted:
        return [Alert("drift", "dataset", report.share_drifted, report.share,
                      f"data drift: {len(report.drifted_columns)} of {len(report.compared)} "
                      f"columns drifted (dataset drift needs {report.needed}): "
                      f"{', '.join(report.drifted_columns[:8])}")], []
    if rule == "dataset" or not report.drifted_columns:
        return [], []
    compared = [c.column for c in report.compared]
    shares = column_importance(load_model(), frame) if rule == "important" else None
    watched = important_columns(shares, compared)
    alerting = report.significant_columns(watched)
    by_name = {c.column: c for c in report.columns}
    alerts, notes = [], []
    for name in report.drifted_columns:
        column = by_name[name]
        weight = ("" if shares is None
                  else f", {shares.get(name, 1.0):.0%} of the model's importance")
        by_p = not math.isnan(column.column_p_value)
        evidence = (f"p = {column.column_p_value:.2g}" if by_p
                    else f"{column.test} {column.statistic:.3g}" if column.test
                    else "missing share")
        if name in alerting:
            value = column.column_p_value if by_p else column.statistic
            alerts.append(Alert("drift", name, float(value), column.threshold,
                                f"column {name} drifted ({evidence}{weight})"))
        elif name not in watched:
            notes.append(f"{name} drifted ({evidence}) but the model hardly uses it{weight}")
        else:
            notes.append(f"{name} drifted ({evidence}) but not below the threshold shared by "
                         f"the {len(watched)} watched columns (Holm): no alert")
    return alerts, notes


def _record(store: Store, result: MonitorResult) -> int:
    frame = result.report.to_frame()
    with store.transaction() as conn:
        cursor = conn.execute(
            "INSERT INTO monitor_batches (at, model, run_id, rows, drifted, share_drifted, "
            "performance, alerts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [time.time(), result.model, result.run_id, result.rows, int(result.drifted),
             result.report.share_drifted, json.dumps(result.performance),
             json.dumps([asdict(a) for a in result.alerts])])
        batch = int(cursor.lastrowid or 0)
        conn.executemany(
            "INSERT INTO monitor_columns VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(batch, row.column, row.test, _number(row.statistic), _number(row.p_value),
              _number(row.threshold), int(bool(row.drifted))) for row in frame.itertuples()])
        for alert in result.alerts:
            append_event(conn, actor=user(), action="alert", subject=result.model,
                         detail={**asdict(alert), "batch": batch, "run_id": result.run_id})
    return batch


def _number(value: Any) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None


def _bundle_label(manifest: dict[str, Any], path: Path) -> str:
    """The name a bundle's batches are stored under: its registered model's, else the path's."""
    version = manifest["model"].get("version")
    return str(version).split("/")[0] if version else path.stem


def _history_label(store: Store, model: str) -> str:
    """The name batches are stored under: a registry reference's model name (the history of
    all its versions), a bundle's (see :func:`_bundle_label`), else ``model`` as given, else
    the name of the run it refers to."""
    if is_model_ref(model):
        return parse_model_ref(model)[0]
    path = Path(model)
    if _is_bundle(path):
        from ..bundle.load import unpacked

        manifest = json.loads((unpacked(path) / "MANIFEST.json").read_text())
        return _bundle_label(manifest, path)
    if store.conn.execute("SELECT 1 FROM monitor_batches WHERE model = ? LIMIT 1",
                          [model]).fetchone():
        return model
    try:
        return store.get_run(model).name
    except RunNotFoundError:
        return model


def drift_history(store: Store, model: str) -> pd.DataFrame:
    """Per batch and column: ``batch, at, column, test, statistic, p_value, threshold,
    drifted``, plus the batch's ``share_drifted``, ``batch_drifted`` and ``alerts`` (how many
    alerts the batch raised: drift, column or performance); oldest first.
    ``model`` is what was monitored: a model name or reference, or a run."""
    model = _history_label(store, model)
    rows = store.conn.execute(
        "SELECT b.id, b.at, c.column_name, c.test, c.statistic, c.p_value, c.threshold, "
        "c.drifted, b.share_drifted, b.drifted, "
        "CASE WHEN json_valid(b.alerts) THEN json_array_length(b.alerts) ELSE 0 END "
        "FROM monitor_batches b "
        "JOIN monitor_columns c ON c.batch_id = b.id WHERE b.model = ? ORDER BY b.at, b.id",
        [model]).fetchall()
    frame = pd.DataFrame(rows, columns=["batch", "at", "column", "test", "statistic", "p_value",
                                        "threshold", "drifted", "share_drifted",
                                        "batch_drifted", "alerts"])
    frame["at"] = pd.to_datetime(frame["at"], unit="s", utc=True)
    return frame.astype({"drifted": bool, "batch_drifted": bool, "alerts": int})


def performance_history(store: Store, model: str) -> pd.DataFrame:
    """Per batch with labels: ``batch, at, metric, current, training``; oldest first."""
    model = _history_label(store, model)
    rows = store.conn.execute("SELECT id, at, performance FROM monitor_batches WHERE model = ? "
                              "ORDER BY at, id", [model]).fetchall()
    records = [{"batch": batch, "at": at, "metric": key, **figures}
               for batch, at, text in rows for key, figures in json.loads(text).items()]
    frame = pd.DataFrame(records, columns=["batch", "at", "metric", "current", "training"])
    frame["at"] = pd.to_datetime(frame["at"], unit="s", utc=True)
    return frame
