"""Calibration of drift verdicts on real tables: false alarms on random splits and the power
to find injected shifts, beside Evidently and NannyML on the same splits.

    .venv-drift/bin/python benchmarks/bench_calibration.py           # full (~20 minutes)
    .venv-drift/bin/python benchmarks/bench_calibration.py --quick   # CI size (~2 minutes)

Each table is split at random 70/30 many times (seeded, so every engine sees the same
splits). With nothing changed, a column flagged is a false positive: the per-column rate
should be the nominal α = 5 %. Then one column of the current part is shifted (mean +0.5 sd
or +1 sd; 10 or 30 points of the most frequent category's share moved to the second;
5 or 20 points more missing values) and the share of splits whose verdict flags that column
is the power. Columns take turns as the shifted one.

Raw power compares engines whose false-positive rates differ (Evidently's categorical test
flags penguins' categories in 12-17 % of random splits). So each figure is also given as
**size-adjusted power**: for each engine, table and column, the critical value of the
engine's own per-column score (``-log10 p`` for a p-value test, the distance over its
threshold for an effect size) that the null splits of that column exceed 5 % of the time;
then the share of shifted splits beyond it. Discrete scores are randomised at the critical
value, so every engine is held at exactly 5 % on the null splits (the standard matched-size
comparison); with 20 null splits (the 100k table in ``--quick``) that value is coarse. A NaN
shift changes how many values are missing, which the null splits did not (a table without
NaNs has none there), so for those shifts the raw power is the figure to read.

Tables: palmerpenguins (344 rows, categories, NaNs), scikit-learn's breast_cancer, diabetes
and wine (features only), and a synthetic 100k-row table with categories and NaNs
(``--tables`` picks some; ``--splits N`` sets the splits of the small ones, 2,000 by default,
which measures a 5 % rate within ±1 point).

Engines: ours on the raw reference and on its stored profile; Evidently 0.7.23's
DataDriftPreset (``.venv-drift``: pandas < 3, plotly < 6, see bench_drift.py) and NannyML's
``UnivariateDriftCalculator`` with its defaults and the current part as one chunk
(``.venv-nannyml``: ``pip install nannyml statsmodels "pandas<3"``; nannyml 0.13.1 imports
statsmodels without requiring it). Each baseline runs in its own environment: this script
starts itself there with ``--engine`` and reads its figures back as JSON. Evidently's verdicts
come from the stat tests its preset picks per column (``get_stattest`` with no override, the
preset's own code path, 1,000x faster than building the report); they are checked against the
full ``Report([DataDriftPreset()])`` on the first splits.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
ALPHA = 0.05
SHIFTS = ("mean +0.5 sd", "mean +1 sd", "category +10 pts", "category +30 pts",
          "NaN +5 pts", "NaN +20 pts")
BASELINES = {"evidently": ".venv-drift", "nannyml": ".venv-nannyml"}


@dataclass(frozen=True)
class Table:
    """A table, its categorical columns, and how many splits each figure uses."""

    name: str
    frame: pd.DataFrame
    categorical: list[str]
    splits: int
    power_splits: int


def note(text: str) -> None:
    print(f"· {text}", file=sys.stderr, flush=True)


# -- tables -----------------------------------------------------------------------------------
def tables(quick: bool, only: list[str] | None = None, count: int | None = None) -> list[Table]:
    """The tables (``only`` those named), with ``count`` splits of the small ones if given."""
    from palmerpenguins import load_penguins
    from sklearn import datasets

    small, power, big = (300, 60, 20) if quick else (2000, 300, 200)
    small = count or small
    found = [Table("penguins", load_penguins(), ["species", "island", "sex"], small, power)]
    for name in ("breast_cancer", "diabetes", "wine"):
        frame = getattr(datasets, f"load_{name}")(as_frame=True).frame.drop(columns="target")
        categorical = ["sex"] if name == "diabetes" else []
        found.append(Table(name, frame, categorical, small, power))
    if not only or "synthetic" in only:
        found.append(Table("synthetic", synthetic(100_000), ["region", "plan"], big,
                           max(big // 4, 10)))
    return [t for t in found if not only or t.name in only]


def synthetic(rows: int) -> pd.DataFrame:
    """Mixed columns: normal, skewed, integer counts with ties, two categoricals, NaNs."""
    rng = np.random.default_rng(42)
    frame = pd.DataFrame({
        "amount": rng.lognormal(3, 0.8, rows),
        "age": rng.normal(40, 12, rows).round(),
        "visits": rng.poisson(4, rows).astype(float),
        "score": rng.normal(0, 1, rows),
        "region": rng.choice(["north", "south", "east", "west"], rows, p=[.4, .3, .2, .1]),
        "plan": rng.choice(["free", "pro", "team"], rows, p=[.6, .3, .1]),
    })
    frame.loc[rng.random(rows) < 0.05, "amount"] = np.nan
    frame.loc[rng.random(rows) < 0.02, "plan"] = None
    return frame


def splits(table: Table, count: int, seed: int) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    rng = np.random.default_rng(seed)
    cut = int(0.7 * len(table.frame))
    for _ in range(count):
        order = rng.permutation(len(table.frame))
        yield table.frame.iloc[order[:cut]], table.frame.iloc[order[cut:]]


def shift(table: Table, current: pd.DataFrame, kind: str, turn: int,
          rng: np.random.Generator) -> tuple[pd.DataFrame, str] | None:
    """The current part with one column shifted, and that column (None: no such column)."""
    numeric = [c for c in table.frame.columns if c not in table.categorical]
    size = float(kind.split("+")[1].split()[0])
    out = current.copy()
    if kind.startswith("mean"):
        column = numeric[turn % len(numeric)]
        out[column] = out[column] + size * table.frame[column].std()
    elif kind.startswith("category"):
        if not table.categorical:
            return None
        column = table.categorical[turn % len(table.categorical)]
        top = table.frame[column].value_counts().index[:2]
        present = out[column].notna().sum()
        rows = out.index[(out[column] == top[0]).to_numpy()]
        moved = rng.choice(rows, min(len(rows), round(size / 100 * present)), replace=False)
        out.loc[moved, column] = top[1]
    else:
        column = numeric[turn % len(numeric)]
        rows = out.index[out[column].notna().to_numpy()]
        gone = rng.choice(rows, min(len(rows), round(size / 100 * len(out))), replace=False)
        out.loc[gone, column] = np.nan
    return out, column


# -- engines: (reference, current) -> verdicts and per-column scores ------------------------------
@dataclass(frozen=True)
class Verdict:
    """One engine's answer on one split: what it flagged, and how strongly each column moved."""

    flagged: set[str]
    dataset: bool  # the share rule: at least half the columns
    alert: bool  # ours: Holm over the columns; others: any column flagged
    scores: dict[str, float]  # per column, larger = more drift (for size-adjusted power)


def p_score(p_value: float) -> float:
    """``-log10 p``: a score that grows with the evidence of a p-value test."""
    return -math.log10(max(p_value, 1e-300)) if p_value == p_value else -math.inf


def ours(on_profile: bool) -> Callable[[Table, pd.DataFrame, pd.DataFrame], Verdict]:
    sys.path.insert(0, str(ROOT))
    from jupyter_mlops.data.profile import profile_of
    from jupyter_mlops.drift import drift
    from jupyter_mlops.drift.engine import MISSING_DISTANCE
    from jupyter_mlops.drift.stats import jensen_shannon

    def score(column: Any) -> float:
        """The column p-value's score, or for effect sizes the larger of the distance and
        the missing-share distance, each over its threshold (the verdict is either ≥ 1)."""
        if column.column_p_value == column.column_p_value:
            return p_score(column.column_p_value)
        shares = (column.nan_share_reference, column.nan_share_current)
        missing = jensen_shannon(np.array([shares[0], 1 - shares[0]]),
                                 np.array([shares[1], 1 - shares[1]]))
        distance = column.statistic / column.threshold
        return max(missing / MISSING_DISTANCE, distance if distance == distance else -math.inf)

    def run(table: Table, reference: pd.DataFrame, current: pd.DataFrame) -> Verdict:
        report = drift(profile_of(reference) if on_profile else reference, current)
        return Verdict(set(report.drifted_columns), report.drifted,
                       bool(report.significant_columns()),
                       {c.column: score(c) for c in report.columns})

    return run


def evidently() -> Callable[[Table, pd.DataFrame, pd.DataFrame], Verdict]:
    os.environ.setdefault("DO_NOT_TRACK", "1")
    warnings.filterwarnings("ignore")
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType

    def run(table: Table, reference: pd.DataFrame, current: pd.DataFrame) -> Verdict:
        flagged, scores = set(), {}
        for column in table.frame.columns:
            kind = ColumnType.Categorical if column in table.categorical else ColumnType.Numerical
            ref = reference[column].replace([-np.inf, np.inf], np.nan).dropna()
            cur = current[column].replace([-np.inf, np.inf], np.nan).dropna()
            test = get_stattest(ref, cur, kind, None)
            result = test(ref, cur, kind, None)
            if result.drifted:
                flagged.add(column)
            # p-value tests drift below their threshold, distances at or above it
            by_p = result.drifted == (result.drift_score < result.actual_threshold)
            score = float(result.drift_score)
            scores[column] = p_score(score) if by_p else score
        dataset = len(flagged) >= 0.5 * table.frame.shape[1]
        return Verdict(flagged, dataset, bool(flagged), scores)

    return run


def evidently_preset(table: Table, reference: pd.DataFrame, current: pd.DataFrame) -> set[str]:
    """The full Report([DataDriftPreset()]): the drifted columns it reports."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    numeric = [c for c in table.frame.columns if c not in table.categorical]
    definition = DataDefinition(numerical_columns=numeric,
                                categorical_columns=table.categorical)
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition))
    flagged = set()
    for metric in snapshot.dict()["metrics"]:
        name = metric.get("metric_name", "")
        if not name.startswith("ValueDrift(column="):
            continue
        column = name.split("column=")[1].split(",")[0]
        threshold = float(name.split("threshold=")[1].rstrip(")"))
        p_value = "p_value" in name
        value = float(metric["value"])
        if (value < threshold) if p_value else (value >= threshold):
            flagged.add(column)
    return flagged


def nannyml() -> Callable[[Table, pd.DataFrame, pd.DataFrame], Verdict]:
    os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")
    warnings.filterwarnings("ignore")
    import logging

    import nannyml as nml

    logging.disable(logging.WARNING)

    def run(table: Table, reference: pd.DataFrame, current: pd.DataFrame) -> Verdict:
        columns = list(table.frame.columns)
        calculator = nml.UnivariateDriftCalculator(
            column_names=columns, treat_as_categorical=table.categorical,
            chunk_size=len(current))
        calculator.fit(reference.reset_index(drop=True))
        result = calculator.calculate(current.reset_index(drop=True))
        frame = result.filter(period="analysis").to_df()
        flagged = {c for c in columns
                   if bool(frame[(c, "jensen_shannon", "alert")].to_numpy()[-1])}
        scores = {c: float(frame[(c, "jensen_shannon", "value")].to_numpy()[-1])
                  for c in columns}
        return Verdict(flagged, len(flagged) >= 0.5 * len(columns), bool(flagged), scores)

    return run


# -- measuring --------------------------------------------------------------------------------
def rejection(null: np.ndarray, score: float) -> float:
    """The chance that the size-``ALPHA`` test built on the ``null`` scores rejects ``score``.

    The critical value ``c`` is the smallest null score with at most ``ALPHA`` of the null
    scores above it; a score above ``c`` is rejected, one equal to it with the probability
    that brings the null rejection rate to exactly ``ALPHA`` (a randomised test)."""
    ordered = np.sort(null)
    critical = ordered[min(math.ceil((1 - ALPHA) * ordered.size - 1e-9), ordered.size) - 1]
    if score != critical:
        return float(score > critical)
    above, at = np.mean(ordered > critical), np.mean(ordered == critical)
    return float((ALPHA - above) / at)


def measure(engine: Callable[[Table, pd.DataFrame, pd.DataFrame], Verdict],
            table: Table) -> dict[str, Any]:
    columns = list(table.frame.columns)
    flagged = dict.fromkeys(columns, 0)
    null: dict[str, list[float]] = {c: [] for c in columns}
    dataset = alert = 0
    start = time.perf_counter()
    for reference, current in splits(table, table.splits, seed=1):
        verdict = engine(table, reference, current)
        for column in verdict.flagged:
            flagged[column] += 1
        for column in columns:
            null[column].append(verdict.scores[column])
        dataset += verdict.dataset
        alert += verdict.alert
    laws = {c: np.nan_to_num(np.array(v), nan=-np.inf) for c, v in null.items()}
    power: dict[str, float | None] = {}
    adjusted: dict[str, float | None] = {}
    for number, kind in enumerate(SHIFTS):
        rng = np.random.default_rng(100 + number)
        hits, matched = [], []
        for turn, (reference, current) in enumerate(splits(table, table.power_splits,
                                                           seed=2 + number)):
            moved = shift(table, current, kind, turn, rng)
            if moved is None:
                break
            data, column = moved
            verdict = engine(table, reference, data)
            hits.append(column in verdict.flagged)
            score = verdict.scores[column]
            matched.append(rejection(laws[column], -np.inf if score != score else score))
        power[kind] = float(np.mean(hits)) if hits else None
        adjusted[kind] = float(np.mean(matched)) if matched else None
    return {"table": table.name, "splits": table.splits, "power_splits": table.power_splits,
            "columns": {c: n / table.splits for c, n in flagged.items()},
            "dataset": dataset / table.splits, "alert": alert / table.splits, "power": power,
            "adjusted": adjusted, "seconds": time.perf_counter() - start}


def check_evidently(table: Table, count: int) -> int:
    """Splits (of ``count``) where the full preset and the fast path flag the same columns."""
    fast = evidently()
    same = 0
    for reference, current in splits(table, count, seed=1):
        same += evidently_preset(table, reference, current) == fast(table, reference,
                                                                     current).flagged
    return same


def run_engine(name: str, quick: bool, only: list[str] | None = None,
               count: int | None = None) -> list[dict[str, Any]]:
    engine = {"ours (data)": lambda: ours(False), "ours (profile)": lambda: ours(True),
              "evidently": evidently, "nannyml": nannyml}[name]()
    results = []
    for table in tables(quick, only, count):
        if name == "evidently" and table.frame.shape[0] < 1000:
            note(f"evidently on {table.name}: full DataDriftPreset and its stat tests agree on "
                 f"{check_evidently(table, 5)} of 5 splits")
        result = measure(engine, table)
        note(f"{name} on {table.name}: {result['seconds']:.0f} s")
        results.append({"engine": name, **result})
    return results


def baseline(name: str, quick: bool, options: list[str]) -> list[dict[str, Any]]:
    python = ROOT / BASELINES[name] / "bin" / "python"
    if not python.exists():
        note(f"{name}: no {python} (see this file's docstring): its rows are left out")
        return []
    command = [str(python), __file__, "--engine", name, *options] + (["--quick"] if quick
                                                                       else [])
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DO_NOT_TRACK": "1",
           "NML_DISABLE_USAGE_LOGGING": "1"}  # no usage analytics from either
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    sys.stderr.write(done.stderr[-3000:] if done.returncode else done.stderr)
    if done.returncode:
        note(f"{name} failed (exit {done.returncode}): its rows are left out")
        return []
    return list(json.loads(done.stdout))


# -- the table --------------------------------------------------------------------------------
def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def print_table(results: list[dict[str, Any]]) -> None:
    head = ["table", "engine", "splits", "per-column FPR % mean (min–max)", "dataset %",
            "any alert %", *SHIFTS]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    order = {t: i for i, t in enumerate(dict.fromkeys(r["table"] for r in results))}
    for r in sorted(results, key=lambda r: order[r["table"]]):
        rates = list(r["columns"].values())
        cells = [r["table"], r["engine"], f"{r['splits']} / {r['power_splits']}",
                 f"{percent(float(np.mean(rates)))} ({percent(min(rates))}–"
                 f"{percent(max(rates))})", percent(r["dataset"]), percent(r["alert"]),
                 *(percent(r["power"][k]) for k in SHIFTS)]
        print("| " + " | ".join(cells) + " |")
    print()
    print("Size-adjusted power (each engine at exactly 5 % false positives per column on the "
          "null splits; NaN shifts change the missing counts the null splits had: read their "
          "raw power):")
    print()
    head = ["table", "engine", "null / shifted splits", *SHIFTS]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in sorted(results, key=lambda r: order[r["table"]]):
        cells = [r["table"], r["engine"], f"{r['splits']} / {r['power_splits']}",
                 *(percent(r["adjusted"][k]) for k in SHIFTS)]
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer splits (a CI-size run)")
    parser.add_argument("--engine", choices=["ours (data)", "ours (profile)", *BASELINES],
                        help="run one engine and print its figures as JSON (used internally)")
    parser.add_argument("--tables", nargs="+", metavar="NAME",
                        help="only these tables: penguins breast_cancer diabetes wine synthetic")
    parser.add_argument("--splits", type=int, help="random splits of each small table")
    arguments = parser.parse_args()
    only, count = arguments.tables, arguments.splits
    if arguments.engine:
        print(json.dumps(run_engine(arguments.engine, arguments.quick, only, count)))
        return
    options = (["--tables", *only] if only else []) + (["--splits", str(count)] if count else [])
    note(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    results = run_engine("ours (data)", arguments.quick, only, count)
    results += run_engine("ours (profile)", arguments.quick, only, count)
    for name in BASELINES:
        results += baseline(name, arguments.quick, options)
    print_table(results)
    band = 1.96 * np.sqrt(ALPHA * (1 - ALPHA) / results[0]["splits"])
    note(f"per-column FPR of {results[0]['splits']} splits: ±{100 * band:.1f} points is the "
         "95 % sampling band around 5 %; 'any alert': ours = Holm over the columns "
         "(monitor's rule), others = any column flagged")
    note(f"load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
