"""The rollout report: how a champion and a challenger served, and whether to promote.

It reads a rollout's request log (:mod:`jupyter_mlops.bundle.rollout` writes one line per row
and arm scored) and, once labels arrive, joins them by request id (and row). Per arm: rows,
error rate, latency p50/p99 (per request), the metric on the labelled rows; in shadow mode
also the agreement of the two arms on the same rows.

The comparison is sequential-safe: a two-sided asymptotic confidence sequence for the mean
improvement (Waudby-Smith, Arnold, Wu, Ramdas, Roberts and Zabell, *Time-uniform central limit
theory and asymptotic confidence sequences*, 2021; Robbins' normal mixture, tuned to be
tightest at ``plan`` rows), so the report can be read after every batch of labels without
inflating the false-promotion rate past ``alpha``. In shadow mode the improvement is paired
(both arms scored the same rows); in canary and A/B mode each row counts once, weighted by the
inverse of the probability of the arm it was assigned to (the logged ``_share``), so the
estimate stays unbiased when the share changed while serving. Rows of one sticky key are
treated as independent: with a few heavy keys the interval is too narrow.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..data.tables import jsonl_lines
from ..errors import GateError, MLOpsError
from .gates import Condition, GateResult, parse_call
from .operations import log_value_problem

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from ..store import Store

ARMS = ("champion", "challenger")  # as bundle.rollout names them (it ships standalone)
METRICS = ("accuracy", "mse", "mae")
LOG_KEEP = 5
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
PROMOTE, ROLL_BACK, KEEP = "promote challenger", "roll back", "keep"


def rollout_log(store_directory: Path, name: str) -> Path:
    """Where ``jupyter-mlops serve NAME --champion … --challenger …`` logs requests:
    ``rollouts/NAME.jsonl`` in the store directory."""
    if not NAME.fullmatch(name):
        raise ValueError(f"{name!r} cannot name a rollout log: use letters, digits, '.', '_' "
                         "and '-' (or give the log's path)")
    return store_directory / "rollouts" / f"{name}.jsonl"


@dataclass
class Comparison:
    """The challenger's improvement over the champion on ``metric`` (positive: better; for
    errors, the champion's error minus the challenger's), with its confidence sequence."""

    metric: str
    improvement: float
    low: float
    high: float
    rows: int
    paired: bool
    alpha: float
    plan: int

    def describe(self) -> str:
        """One line: the improvement, its interval, the sample and the method."""
        design = "paired rows (shadow)" if self.paired else \
            "rows weighted by their assignment probability (canary/ab)"
        return (f"challenger {self.metric} improvement {self.improvement:+.4g} "
                f"[{self.low:+.4g}, {self.high:+.4g}] ({100 * (1 - self.alpha):g} % "
                f"confidence sequence, valid at any sample size; {self.rows} labelled "
                f"{design}; tightest at {self.plan} rows)")


@dataclass
class RolloutReport:
    """What :func:`rollout_report` found: per-arm figures, agreement, the comparison and the
    verdict (``promote challenger``, ``roll back`` or ``keep``) with its reasons."""

    mode: str
    arms: pd.DataFrame
    agreement: float | None
    comparison: Comparison | None
    verdict: str
    reasons: list[str] = field(default_factory=list)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    earlier_rows: int = 0

    def summary(self) -> str:
        """The report as text."""
        lines = [f"rollout ({self.mode}): {self.verdict}"]
        lines += [f"  because {reason}" for reason in self.reasons]
        if self.models:
            lines.append(" · ".join(f"{arm} {_model_name(self.models[arm])}" for arm in ARMS))
        changes = [e for e in self.events if e.get("_event") == "share"]
        if changes:
            last = changes[-1]
            lines.append(f"share changed {len(changes)} time(s), last to {last.get('_share')} "
                         f"at {_when(last.get('_ts'))}")
        if self.earlier_rows:
            lines.append(f"({self.earlier_rows} logged rows of earlier rollouts of other models "
                         "left out)")
        lines.append(self.arms.to_string(float_format=lambda v: f"{v:.4g}"))
        if self.agreement is not None:
            lines.append(f"agreement on the same rows: {self.agreement:.2%}")
        if self.comparison is not None:
            lines.append(self.comparison.describe())
        return "\n".join(lines)

    def figure(self) -> go.Figure:
        """Latency, error rate and the metric per arm, and the improvement's interval."""
        from ..charts.rollout import rollout_figure

        comparison = None if self.comparison is None else {
            "metric": self.comparison.metric, "improvement": self.comparison.improvement,
            "low": self.comparison.low, "high": self.comparison.high}
        return rollout_figure(self.arms.reset_index().to_dict("records"), comparison,
                              title=f"rollout ({self.mode}): {self.verdict}")


def _lines(log: str | Path, store: Store | None) -> tuple[Path, list[dict[str, Any]]]:
    """The log's path and its lines, rotated predecessors (``.1`` …) first."""
    path = Path(log)
    if not path.exists() and isinstance(log, str) and NAME.fullmatch(log):
        from ..store import open_store

        opened = store or open_store(create=False)
        path = rollout_log(opened.directory, log)
        if store is None:
            opened.close()
    paths = [p for p in (path.with_name(f"{path.name}.{i}") for i in range(LOG_KEEP, 0, -1))
             if p.exists()] + [path]
    if not path.exists():
        raise MLOpsError(f"no rollout log at {path}: serve the rollout with --log-requests "
                         "(jupyter-mlops serve NAME --champion … logs to the store)")
    lines: list[dict[str, Any]] = []
    for p in paths:
        try:
            numbered = list(jsonl_lines(p))
        except ValueError as exc:
            raise MLOpsError(f"{exc}: not a rollout's request log") from None
        for number, line in numbered:
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except RecursionError:
                raise MLOpsError(f"{p} line {number} nests too deeply: not a rollout's request "
                                 "log") from None
            except ValueError:  # a last line cut by a crash: the rest of the log still counts
                if number != len(numbered):
                    raise MLOpsError(f"{p} line {number} is not JSON: not a rollout's request "
                                     "log") from None
                continue
            problems = ["it is not a JSON object"] if not isinstance(value, dict) else \
                [p for p in (log_value_problem(k, v) for k, v in value.items()) if p]
            if problems:
                raise MLOpsError(f"{p} line {number}: {problems[0]} (not a rollout's request "
                                 "log)")
            lines.append(value)
    return path, lines


def _arms_of(event: Mapping[str, Any]) -> tuple[Any, ...]:
    """What a start event served: each arm's run id and version."""
    arms = event.get("_arms")
    arms = arms if isinstance(arms, dict) else {}
    models = [arms.get(arm) for arm in ARMS]
    return tuple(m.get(key) if isinstance(m, dict) else None for m in models
                 for key in ("run_id", "version"))


@dataclass
class RolloutLog:
    """A rollout's request log: the rows scored by the latest rollout of the same two models
    (rows of an earlier rollout of other models are left out, and counted), and its events
    (``start``: the arms' models and the share; ``share``: a change by the admin endpoint)."""

    rows: pd.DataFrame
    events: list[dict[str, Any]] = field(default_factory=list)
    earlier_rows: int = 0

    @property
    def models(self) -> dict[str, dict[str, Any]]:
        """Each arm's model (``run_id``, ``version``, ``class``) as the latest start logged."""
        starts = [e for e in self.events if e.get("_event") == "start"]
        arms = starts[-1].get("_arms") if starts else None
        return {arm: dict((arms or {}).get(arm) or {}) for arm in ARMS} if arms else {}


def _when(stamp: Any) -> str:
    """A logged time stamp, local and readable (``?`` when it is not one)."""
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(stamp)))
    except (TypeError, ValueError, OverflowError, OSError):
        return "?"


def _model_name(model: Mapping[str, Any]) -> str:
    """``churn/2 (run 01M…)`` for a logged arm's model."""
    run = f"run {model.get('run_id')}"
    return f"{model['version']} ({run})" if model.get("version") else run


def read_log(log: str | Path | pd.DataFrame, store: Store | None = None) -> RolloutLog:
    """The rollout log: a frame as it is, a .jsonl file with its rotated predecessors (``.1``
    …, oldest first), or a rollout name (its log in the store)."""
    if isinstance(log, pd.DataFrame):
        return RolloutLog(log)
    path, lines = _lines(log, store)
    events, rows, served, segment = [], [], [], None
    for line in lines:
        if "_event" in line:
            events.append(line)
            if line["_event"] == "start":
                segment = _arms_of(line)
        else:
            rows.append(line)
            served.append(segment)
    latest = next((_arms_of(e) for e in reversed(events) if e["_event"] == "start"), None)
    kept = [row for row, arms in zip(rows, served, strict=True) if arms == latest]
    frame = pd.DataFrame(kept)
    if frame.empty or not {"_request_id", "_row", "_arm", "_prediction"} <= set(frame.columns):
        raise MLOpsError(f"{path} is not a rollout's request log, or it has no rows yet (no "
                         "_request_id, _row and _arm fields)")
    return RolloutLog(frame, events, len(rows) - len(kept))


def _labels(labels: Any, label_column: str) -> pd.DataFrame:
    """Labels as a frame of ``_request_id``, ``_row`` and ``label``: from a mapping request id
    → label (single-row requests), or a frame with ``request_id``, optional ``row``, and
    ``label_column``."""
    if isinstance(labels, Mapping):
        return pd.DataFrame({"_request_id": list(labels), "_row": 0,
                             "label": list(labels.values())})
    frame = pd.DataFrame(labels)
    if "request_id" not in frame.columns or label_column not in frame.columns:
        raise ValueError(f"labels need a request_id column and a {label_column!r} column "
                         "(and row, for requests of several rows)")
    rows = frame["row"] if "row" in frame.columns else pd.Series(0, index=frame.index)
    try:
        numbers = pd.to_numeric(rows, errors="coerce")
    except (TypeError, ValueError):
        numbers = pd.Series(float("nan"), index=rows.index)
    wrong = numbers.isna() | (numbers % 1 != 0)
    if wrong.any():
        raise ValueError("labels' row column takes whole numbers (a row's place in its "
                         f"request, from 0), got {rows[wrong].iloc[0]!r:.40}")
    table = pd.DataFrame({"_request_id": frame["request_id"].astype(str),
                          "_row": numbers.astype(int), "label": frame[label_column]})
    if (twice := table.duplicated(["_request_id", "_row"])).any():  # would count as more rows
        first = table[twice].iloc[0]
        raise ValueError(f"labels give request {first['_request_id']!r} row {first['_row']} "
                         "more than once")
    return table


def _gain(predictions: pd.Series, labels: pd.Series, metric: str) -> np.ndarray:
    """Per row, higher is better: correct (accuracy), minus the squared or absolute error."""
    if metric == "accuracy":
        return (predictions.astype(str).to_numpy() == labels.astype(str).to_numpy()
                ).astype(float)
    error = predictions.astype(float).to_numpy() - labels.astype(float).to_numpy()
    return -(error**2) if metric == "mse" else -np.abs(error)


def confidence_sequence(values: np.ndarray, alpha: float, plan: int) -> tuple[float, float]:
    """(mean, half-width) of the two-sided asymptotic confidence sequence for the mean of
    ``values``, tightest at ``plan`` observations."""
    n = len(values)
    mean, sd = float(values.mean()), float(values.std(ddof=1)) if n > 1 else math.inf
    rho2 = (-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / plan
    width = sd * math.sqrt(2 * (n * rho2 + 1) / (n**2 * rho2)
                           * math.log(math.sqrt(n * rho2 + 1) / alpha))
    return mean, width


def _arm_table(frame: pd.DataFrame) -> pd.DataFrame:
    requests = frame.drop_duplicates(["_request_id", "_arm"])
    table = pd.DataFrame(index=pd.Index(ARMS, name="arm"))
    table["rows"] = frame.groupby("_arm").size()
    table["answered"] = frame[frame["_answered"]].groupby("_arm").size()
    table["error_rate"] = frame["_error"].notna().groupby(frame["_arm"]).mean()
    table["latency_p50_ms"] = requests.groupby("_arm")["_latency_ms"].quantile(0.5)
    table["latency_p99_ms"] = requests.groupby("_arm")["_latency_ms"].quantile(0.99)
    return table.fillna({"rows": 0, "answered": 0}).astype({"rows": int, "answered": int})


def rollout_report(log: str | Path | pd.DataFrame, labels: Any = None, *,
                   metric: str | None = None, label_column: str = "label",
                   alpha: float = 0.05, plan: int = 1000, min_improvement: float = 0.0,
                   max_error_increase: float = 0.01, store: Store | None = None
                   ) -> RolloutReport:
    """Compare the arms of a rollout from its request log, and say what to do.

    Parameters
    ----------
    log : the rollout's log (.jsonl, rotated files included), its name (the log
        ``jupyter-mlops serve NAME --champion …`` keeps in the store), or the log as a frame
    labels : true targets, joined by request id: a mapping request id → label, or a frame
        with ``request_id``, ``row`` (for requests of several rows) and ``label_column``
    metric : ``accuracy`` (default for text or integer labels), ``mse`` (default otherwise)
        or ``mae``
    alpha : the confidence sequence's error level (two-sided)
    plan : the labelled rows at which the interval is tightest (it is valid at any count)
    min_improvement : how much better the challenger must be to be promoted
    max_error_increase : how much higher its error rate may be before it is rolled back

    Returns a :class:`RolloutReport`: ``promote challenger`` when the improvement's lower
    bound passes ``min_improvement`` and the challenger errs no more; ``roll back`` when its
    upper bound is below zero or the challenger errs more; else ``keep`` (serve on).
    """
    if metric is not None and metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}: use one of {', '.join(METRICS)}")
    if not 0 < alpha < 1 or plan < 1:
        raise ValueError("alpha must be between 0 and 1, and plan at least 1")
    logged = read_log(log, store)
    frame = logged.rows
    frame = frame.assign(_request_id=frame["_request_id"].astype(str),
                         _error=frame["_error"] if "_error" in frame.columns else None)
    mode = str(frame["_mode"].iloc[-1]) if "_mode" in frame.columns else "canary"
    paired = mode == "shadow"
    arms = _arm_table(frame)
    keys = ["_request_id", "_row"]
    scored = frame[frame["_error"].isna()]
    both = scored[scored["_arm"] == ARMS[0]].merge(
        scored[scored["_arm"] == ARMS[1]], on=keys, suffixes=("_a", "_b")) if paired else None
    agreement = None
    if both is not None and len(both):
        agreement = float((both["_prediction_a"].astype(str)
                           == both["_prediction_b"].astype(str)).mean())
    reasons: list[str] = []
    rates = arms["error_rate"].fillna(0.0)
    if rates[ARMS[1]] > rates[ARMS[0]] + max_error_increase:
        reasons.append(f"the challenger's error rate {rates[ARMS[1]]:.2%} passes the "
                       f"champion's {rates[ARMS[0]]:.2%} by more than {max_error_increase:.2%}")
    comparison = None
    if labels is not None:
        truth = _labels(labels, label_column)
        metric = metric or ("accuracy" if truth["label"].dtype.kind in "OUSbi" else "mse")
        comparison = _compare(frame, both, truth, metric, arms, alpha, plan)
    if reasons:
        verdict = ROLL_BACK
    elif comparison is None:
        verdict = KEEP
        reasons.append("no labels yet: the metric cannot be compared" if labels is None else
                       "no labelled row could be joined to the log by request id")
    elif comparison.low > min_improvement:
        verdict = PROMOTE
        reasons.append(f"the challenger's {comparison.metric} is better: the interval's lower "
                       f"bound {comparison.low:+.4g} passes {min_improvement:+.4g}")
    elif comparison.high < 0:
        verdict = ROLL_BACK
        reasons.append(f"the challenger's {comparison.metric} is worse: the interval's upper "
                       f"bound is {comparison.high:+.4g}")
    else:
        verdict = KEEP
        reasons.append(f"no difference shown yet on {comparison.rows} labelled rows: keep "
                       "serving and collecting labels")
    return RolloutReport(mode, arms, agreement, comparison, verdict, reasons, logged.models,
                         logged.events, logged.earlier_rows)


def _compare(frame: pd.DataFrame, both: pd.DataFrame | None, truth: pd.DataFrame, metric: str,
             arms: pd.DataFrame, alpha: float, plan: int) -> Comparison | None:
    """The improvement's confidence sequence, and each arm's metric into ``arms``."""
    keys = ["_request_id", "_row"]
    sign = 1.0 if metric == "accuracy" else -1.0  # gains are minus errors
    if both is not None:  # shadow: both arms scored the same rows
        joined = both.merge(truth, on=keys)
        if joined.empty:
            return None
        gains = {arm: _gain(joined[f"_prediction_{s}"], joined["label"], metric)
                 for arm, s in zip(ARMS, "ab", strict=True)}
        for arm in ARMS:
            arms.loc[arm, metric] = sign * gains[arm].mean()
        values = gains[ARMS[1]] - gains[ARMS[0]]
    else:  # canary/ab: the arm a row was assigned to (a failed challenger's rows included)
        assigned = frame.groupby(keys)["_arm"].agg(lambda a: ARMS[1] if ARMS[1] in set(a)
                                                   else ARMS[0]).rename("assigned")
        answers = frame[frame["_answered"] & frame["_error"].isna()].merge(
            assigned.reset_index(), on=keys).merge(truth, on=keys)
        answers = answers[(answers["_share"] > 0) & (answers["_share"] < 1)]
        if answers.empty:
            return None
        gain = _gain(answers["_prediction"], answers["label"], metric)
        on_challenger = (answers["assigned"] == ARMS[1]).to_numpy()
        share = answers["_share"].to_numpy(float)
        for arm, mask in ((ARMS[1], on_challenger), (ARMS[0], ~on_challenger)):
            arms.loc[arm, metric] = sign * gain[mask].mean() if mask.any() else math.nan
        values = gain * np.where(on_challenger, 1 / share, -1 / (1 - share))
    if len(values) < 2:
        return None
    mean, width = confidence_sequence(values, alpha, plan)
    return Comparison(metric, mean, mean - width, mean + width, len(values),
                      both is not None, alpha, plan)


ROLLOUT = "rollout"
_RULE_USAGE = ("rollout, or rollout(log='rollouts/churn.jsonl', metric='accuracy', alpha=0.05, "
               "min_improvement=0.01, max_error_increase=0.01, label_column='label')")


@dataclass(frozen=True)
class RolloutRule:
    """The rollout gate's options: which log (default: the registered model's rollout in the
    store) and the :func:`rollout_report` options it decides with."""

    log: str | None = None
    metric: str | None = None
    alpha: float = 0.05
    min_improvement: float = 0.0
    max_error_increase: float = 0.01
    label_column: str = "label"

    def __post_init__(self) -> None:
        for key in ("log", "metric", "label_column"):
            value = getattr(self, key)
            if value is not None and not (isinstance(value, str) and 0 < len(value) <= 1000):
                raise GateError(f"rollout gate: {key} is a name or a path, got {value!r:.40}")
        if self.metric is not None and self.metric not in METRICS:
            raise GateError(f"rollout gate: unknown metric {self.metric!r}; use one of "
                            f"{', '.join(METRICS)}")
        for key in ("alpha", "min_improvement", "max_error_increase"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                    not math.isfinite(value) or value < 0:
                raise GateError(f"rollout gate: {key} is a number ≥ 0, got {value!r:.40}")
        if not 0 < self.alpha < 1:
            raise GateError(f"rollout gate: alpha is a level between 0 and 1, got {self.alpha}")

    def describe(self) -> str:
        """The rule as it is written, e.g. ``rollout(min_improvement=0.01)``."""
        options = [f"{k}={v!r}" for k, v in vars(self).items()
                   if v != RolloutRule.__dataclass_fields__[k].default]
        return ROLLOUT + (f"({', '.join(options)})" if options else "")


def parse_rollout(gate: str | None) -> RolloutRule | None:
    """The rule of a rollout gate (``rollout`` or ``rollout(...)``), None for any other gate;
    :class:`GateError` for a malformed one."""
    options = parse_call(gate, ROLLOUT, tuple(RolloutRule.__dataclass_fields__), _RULE_USAGE)
    return None if options is None else RolloutRule(**options)


@dataclass
class RolloutGateResult(GateResult):
    """A rollout gate's outcome: the report's verdict and its reasons."""

    verdict: str = ""
    reasons: list[str] = field(default_factory=list)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)

    def describe(self) -> str:
        """The verdict and why (the refusal's or the pass's reason)."""
        return f"rollout verdict '{self.verdict}': {'; '.join(self.reasons)}"

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form, for the audit log."""
        return {**super().as_dict(), "verdict": self.verdict, "reasons": self.reasons,
                "models": self.models}


def rollout_gate(store: Store, name: str, run_id: str, labels: Any,
                 rule: RolloutRule | None = None) -> RolloutGateResult:
    """Pass when the rollout of ``name`` (or ``rule.log``) says ``promote challenger`` and
    its challenger is the model of ``run_id``; else refuse with the report's reasons.

    The log's latest start names the arms' runs (a log from before it did is trusted to be
    of this challenger). ``labels`` are the rollout's true targets, as for
    :func:`rollout_report`; without them the verdict is ``keep`` and the gate refuses.
    """
    rule = rule or RolloutRule()
    report = rollout_report(rule.log or name, labels, metric=rule.metric,
                            label_column=rule.label_column, alpha=rule.alpha,
                            min_improvement=rule.min_improvement,
                            max_error_increase=rule.max_error_increase, store=store)
    verdict, reasons = report.verdict, list(report.reasons)
    conditions = [Condition(f"rollout verdict is '{PROMOTE}'", float(verdict == PROMOTE), 1.0,
                            verdict == PROMOTE)]
    if report.comparison is not None:
        comparison = report.comparison
        conditions.append(Condition(f"{comparison.metric} improvement lower bound > "
                                    f"{rule.min_improvement:g}", comparison.low,
                                    rule.min_improvement, comparison.low > rule.min_improvement))
    challenger = report.models.get(ARMS[1], {}).get("run_id")
    if challenger is not None and challenger != run_id:
        conditions.append(Condition(f"the rollout's challenger is run {run_id}", 0.0, 1.0, False))
        reasons = [f"the rollout's challenger is {_model_name(report.models[ARMS[1]])}, not "
                   f"run {run_id}: its verdict ('{verdict}') is about another model"]
        verdict = "not this model's rollout"
    passed = all(c.passed for c in conditions)
    return RolloutGateResult(f"{rule.describe()} ({rule.log or name})", passed, conditions,
                             verdict, reasons, report.models)
