"""The data contract: a CI run's input datasets against its baseline's, by variable name —
schema (columns, dtypes, categories), ranges and missing values against the recorded
profile, and the drift engine's verdict.

Only profiles are stored, never the data: the drift check rebuilds each column's sample from
its profile (distinct values with their counts, else the 201 quantiles), as the drift engine
reads a stored reference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..data.profile import QUANTILES
from ..drift import DriftReport, drift
from ..entities import Run
from ..store import Store

if TYPE_CHECKING:
    from .checks import Tolerances

Found = tuple[str, Any, str, dict[str, Any]]


def _datasets(store: Store, run: Run) -> dict[str, dict[str, Any]]:
    return {e.name: store.get_dataset(e.fingerprint) for e in run.inputs
            if e.kind == "dataset" and store.has_dataset(e.fingerprint)}


def contract_checks(store: Store, run: Run, base: Run, tolerances: Tolerances) -> list[Found]:
    """The ``schema``, ``ranges`` and ``drift`` checks of ``run``'s inputs against ``base``'s."""
    new, old = _datasets(store, run), _datasets(store, base)
    shared = [name for name in old if name in new]
    if not shared:
        why = "no input dataset of the baseline was read again" if old else \
            "the baseline read no dataset"
        return [(name, "skipped", why, {}) for name in ("schema", "ranges", "drift")]
    schema: list[str] = []
    ranges: list[str] = []
    drifted: list[str] = []
    reports: dict[str, Any] = {}
    notes = []
    for name in shared:
        if new[name]["fingerprint"] == old[name]["fingerprint"]:
            continue
        schema += [f"{name}: {p}" for p in schema_problems(old[name], new[name])]
        ranges += [f"{name}: {p}" for p in range_problems(old[name]["profile"],
                                                           new[name]["profile"], tolerances)]
        report, note = drift_report(old[name]["profile"], new[name]["profile"],
                                    tolerances.drift_share)
        if report is not None and report.drifted:
            drifted += [f"{name}.{c}" for c in report.drifted_columns]
            reports[name] = report
        notes += [note] if note else []
    read = ", ".join(shared)
    same = f"{read}: as the baseline's (or within tolerance)"
    return [
        ("schema", "failed" if schema else "passed", "; ".join(schema) or same, {}),
        ("ranges", "failed" if ranges else "passed", "; ".join(ranges) or same, {}),
        ("drift", "failed" if drifted else "passed",
         f"drifted: {', '.join(drifted)}" if drifted else f"{read}: no drift" +
         (f" ({'; '.join(notes)})" if notes else ""),
         {"drifted_columns": drifted, "drift_reports": reports}),
    ]


def schema_problems(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Columns gone or added, dtypes changed, categories never seen in the baseline."""
    before = {c["name"]: c for c in old["schema"].get("columns", [])}
    after = {c["name"]: c for c in new["schema"].get("columns", [])}
    problems = []
    if gone := [c for c in before if c not in after]:
        problems.append(f"column(s) {', '.join(gone)} missing")
    if added := [c for c in after if c not in before]:
        problems.append(f"new column(s) {', '.join(added)}")
    for name in (c for c in before if c in after):
        if before[name]["dtype"] != after[name]["dtype"]:
            problems.append(f"{name} is {after[name]['dtype']}, was {before[name]['dtype']}")
        unseen = _unseen(before[name], after[name], old["profile"], new["profile"], name)
        if unseen:
            problems.append(f"{name} has unseen categor{'y' if len(unseen) == 1 else 'ies'} "
                            f"{', '.join(map(repr, unseen[:5]))}")
    return problems


def _unseen(before: dict[str, Any], after: dict[str, Any], old: dict[str, Any],
            new: dict[str, Any], name: str) -> list[Any]:
    if "categories" in before and "categories" in after:
        known = set(map(str, before["categories"]))
        return [c for c in after["categories"] if str(c) not in known]
    entry_old, entry_new = old["columns"].get(name, {}), new["columns"].get(name, {})
    if entry_old.get("type") != "categorical" or entry_old.get("other", 1) != 0:
        return []  # the baseline's profile does not list every value it saw
    return [c for c in entry_new.get("top", {}) if c not in entry_old.get("top", {})]


def range_problems(old: dict[str, Any], new: dict[str, Any], tolerances: Tolerances) -> list[str]:
    """Numeric columns beyond the baseline's range (by more than its share ``ranges``) and
    columns whose share of missing values rose by more than ``nulls``."""
    problems = []
    for name, before in old["columns"].items():
        after = new["columns"].get(name)
        if after is None:
            continue
        if before.get("type") == "numeric" and after.get("type") == "numeric" and \
                before.get("min") is not None and after.get("min") is not None:
            slack = tolerances.ranges * (before["max"] - before["min"])
            if after["min"] < before["min"] - slack or after["max"] > before["max"] + slack:
                problems.append(f"{name} spans [{after['min']:.4g}, {after['max']:.4g}], "
                                f"was [{before['min']:.4g}, {before['max']:.4g}]")
        share_before = before["nulls"] / max(before["count"], 1)
        share_after = after["nulls"] / max(after["count"], 1)
        if share_after - share_before > tolerances.nulls:
            problems.append(f"{name} is {share_after:.1%} missing, was {share_before:.1%}")
    return problems


def drift_report(old: dict[str, Any], new: dict[str, Any],
                 share: float) -> tuple[DriftReport | None, str]:
    """The drift engine's report of ``new`` (rebuilt from its profile) against the ``old``
    profile (``None`` when they share no column it can rebuild), its dataset verdict at
    ``share``; and a note on the columns that could not be rebuilt."""
    frame, skipped = profile_sample(new)
    names = [n for n in frame.columns if n in old["columns"]]
    note = f"not compared: {', '.join(skipped)}" if skipped else ""
    if not names:
        return None, note
    return drift(old, frame[names], columns=names, share=share), note


def profile_sample(profile: dict[str, Any]) -> tuple[pd.DataFrame, list[str]]:
    """A table whose columns have the profile's distributions (numeric and categorical
    columns; the others are named in the second value)."""
    columns: dict[str, pd.Series] = {}
    skipped = []
    for name, entry in profile["columns"].items():
        if entry.get("type") == "numeric" and entry.get("sample_count"):
            if "distinct" in entry:
                values = np.repeat(entry["distinct"]["values"], entry["distinct"]["counts"])
            else:
                values = np.interp(np.linspace(0, 1, entry["sample_count"]), QUANTILES,
                                   entry["quantiles"])
            columns[name] = pd.Series(values, dtype=float)
        elif entry.get("type") == "categorical" and entry.get("sample_count"):
            top = entry.get("top", {})
            labels = [*top, "(other)"]
            counts = [*top.values(), entry.get("other", 0)]
            columns[name] = pd.Series(np.repeat(np.array(labels, dtype=object), counts))
        else:
            skipped.append(name)
    length = max((len(s) for s in columns.values()), default=0)
    # columns of different lengths: a resample to one length keeps each distribution
    frame = pd.DataFrame({name: _resized(series, length) for name, series in columns.items()})
    return frame, skipped


def _resized(series: pd.Series, length: int) -> pd.Series:
    if len(series) == length:
        return series.reset_index(drop=True)
    positions = np.minimum((np.arange(length) * len(series)) // length, len(series) - 1)
    return series.iloc[positions].reset_index(drop=True)
