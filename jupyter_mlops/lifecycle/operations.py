"""Operational metrics of a served model: latency and errors, from its request log.

A bundle's ``serve.py --log-requests`` (and a rollout's server) writes one line per scored row
with the request's ``_request_id`` and ``_latency_ms``, and one line per failed request with
its ``_error`` and HTTP ``_status``; a rollout adds the ``_arm`` that scored it. Per arm (or
``model`` for a plain bundle): requests, server errors (status 500 and up, or a rollout arm
that raised), refused requests (4xx: bad input, not counted as errors), the error rate and the
latency p50/p99 of the requests. :func:`breaches` turns them into alerts over thresholds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import MLOpsError

# What the servers add to a scored row's features (the rest of a line is the row).
LOG_FIELDS = frozenset({
    "_ts", "_prediction", "_request_id", "_latency_ms", "_error", "_status",  # serve.py
    "_row", "_arm", "_mode", "_answered", "_share",  # a rollout's rows
    "_event", "_arms", "_previous", "_client", "_sticky_key",  # a rollout's events
})
THRESHOLDS = {"latency_p99_ms": 1000.0, "error_rate": 0.01}  # defaults: alert above these
_TEXT: tuple[type, ...] = (str,)
_NUMBER: tuple[type, ...] = (int, float, np.integer, np.floating)
# What each of the servers' fields holds (missing: None or NaN); anything else is no serving
# log of ours, and would fail deep inside pandas (a list is no group, text no latency).
LOG_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "_arm": _TEXT, "_event": _TEXT, "_error": _TEXT, "_mode": _TEXT, "_sticky_key": _TEXT,
    "_request_id": _TEXT + _NUMBER, "_row": _NUMBER, "_latency_ms": _NUMBER,
    "_status": _NUMBER, "_share": _NUMBER,
    "_answered": (bool, np.bool_, *_NUMBER),  # pandas reads true and a missing one as 1.0, NaN
}


@dataclass(frozen=True)
class Alert:
    """A threshold crossed: data drift, a performance drop, latency or errors."""

    kind: str
    subject: str
    value: float
    threshold: float
    message: str


def is_request_log(frame: pd.DataFrame) -> bool:
    """Whether ``frame`` was read from a serving request log (a bundle's or a rollout's)."""
    return "_ts" in frame.columns and bool({"_prediction", "_error"} & set(frame.columns))


def log_value_problem(key: str, value: Any) -> str | None:
    """What is wrong with ``value`` as the serving log's field ``key`` (None: nothing, or
    not one of :data:`LOG_FIELD_TYPES`)."""
    kinds = LOG_FIELD_TYPES.get(key)
    if kinds is None or value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds):
        return None
    kind = "text" if kinds is _TEXT else "a number" if kinds is _NUMBER else \
        "text or a number" if str in kinds else "true or false"
    return f"{key} is {value!r:.40}, not {kind}"


def check_log(frame: pd.DataFrame) -> None:
    """Raise :class:`MLOpsError` naming the first line (counted from 1) of a request log read
    as ``frame`` whose field holds what the servers never write."""
    for key in LOG_FIELD_TYPES.keys() & set(frame.columns):
        column = frame[key]
        values = column if column.dtype == object else column.dropna().head(1)
        for line, value in zip(values.index, values, strict=True):
            if problem := log_value_problem(key, value):
                where = f"line {line + 1}" if isinstance(line, int) else f"row {line!r}"
                raise MLOpsError(f"request log {where}: {problem} (not a serving log's line)")


def split_log(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """A request log → (the features of the rows it answered, without a rollout's sticky key
    column, and :func:`operations` of it); any other frame → (itself, None).
    :class:`MLOpsError` for a log with a field of the wrong kind (:func:`check_log`)."""
    if not is_request_log(frame):
        return frame, None
    check_log(frame)
    rows = frame[frame["_event"].isna()] if "_event" in frame.columns else frame
    keys = set(frame["_sticky_key"].dropna()) if "_sticky_key" in frame.columns else set()
    figures = operations(rows)
    answered = rows
    if "_answered" in rows.columns:
        answered = answered[answered["_answered"].fillna(False).astype(bool)]
    if "_error" in rows.columns:
        answered = answered[answered["_error"].isna()]
    features = answered.drop(columns=[c for c in rows.columns if c in LOG_FIELDS or c in keys])
    return features.reset_index(drop=True), figures


def operations(rows: pd.DataFrame) -> pd.DataFrame:
    """Per arm (``model`` for a plain bundle): ``requests``, ``errors``, ``refused``,
    ``error_rate``, ``latency_p50_ms``, ``latency_p99_ms`` (NaN when not logged)."""
    key = "_request_id" if "_request_id" in rows.columns else "_ts"
    arm = rows["_arm"] if "_arm" in rows.columns else pd.Series("model", index=rows.index)
    status = rows["_status"] if "_status" in rows.columns else pd.Series(
        float("nan"), index=rows.index)
    failed = rows["_error"].notna() if "_error" in rows.columns else pd.Series(
        False, index=rows.index)
    refused = failed & (status < 500)
    latency = rows["_latency_ms"] if "_latency_ms" in rows.columns else pd.Series(
        float("nan"), index=rows.index)
    requests = pd.DataFrame({"arm": arm, "request": rows[key].astype(str),
                             "error": failed & ~refused, "refused": refused,
                             "latency": pd.to_numeric(latency, errors="coerce")}).groupby(
        ["arm", "request"]).agg(error=("error", "any"), refused=("refused", "any"),
                                latency=("latency", "first"))
    by_arm = requests.groupby(level="arm")
    table = pd.DataFrame({"requests": by_arm.size(), "errors": by_arm["error"].sum(),
                          "refused": by_arm["refused"].sum()})
    table["error_rate"] = table["errors"] / (table["requests"] - table["refused"]).clip(lower=1)
    table["latency_p50_ms"] = by_arm["latency"].quantile(0.5)
    table["latency_p99_ms"] = by_arm["latency"].quantile(0.99)
    order = [a for a in ("model", "champion", "challenger") if a in table.index]
    table = table.reindex(order + sorted(set(table.index) - set(order)))
    return table.astype({"requests": int, "errors": int, "refused": int})


def breaches(figures: pd.DataFrame, thresholds: Mapping[str, float]) -> list[Alert]:
    """Alerts for each arm whose latency p99 or error rate passes its threshold
    (``latency_p99_ms``, ``error_rate``; defaults :data:`THRESHOLDS`)."""
    limits = {**THRESHOLDS, **{k: v for k, v in thresholds.items() if k in THRESHOLDS}}
    for key, limit in limits.items():  # NaN would silence an alert for good, -1 fire it always
        if isinstance(limit, bool) or not isinstance(limit, (int, float)) or \
                not (0 <= limit < math.inf):
            raise MLOpsError(f"threshold {key} takes a number ≥ 0, not {limit!r:.40}")
    alerts = []
    for arm, row in figures.iterrows():
        who = "the model" if arm == "model" else f"the {arm}"
        if row["latency_p99_ms"] > limits["latency_p99_ms"]:
            alerts.append(Alert("latency", str(arm), float(row["latency_p99_ms"]),
                                limits["latency_p99_ms"],
                                f"latency p99 of {who} {row['latency_p99_ms']:.4g} ms over "
                                f"{int(row['requests'])} requests passes "
                                f"{limits['latency_p99_ms']:g} ms"))
        if row["error_rate"] > limits["error_rate"]:
            alerts.append(Alert("errors", str(arm), float(row["error_rate"]),
                                limits["error_rate"],
                                f"error rate of {who} {row['error_rate']:.2%} "
                                f"({int(row['errors'])} of {int(row['requests'])} requests "
                                f"failed) passes {limits['error_rate']:.2%}"))
    return alerts


def as_records(figures: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-friendly rows, one per arm."""
    return [{"arm": arm, **{str(k): (None if pd.isna(v) else float(v) if isinstance(v, float)
                                     else int(v)) for k, v in row.items()}}
            for arm, row in figures.iterrows()]
