"""Benchmarks of the drift engine, next to Evidently and a plain scipy loop in the same run.

    .venv-drift/bin/python benchmarks/bench_drift.py           # full figures (~3 minutes)
    .venv-drift/bin/python benchmarks/bench_drift.py --quick   # smoke run: small sizes, few reps

Evidently 0.7.23 needs pandas < 3 and plotly < 6 (jupyter-mlops' charts want plotly >= 6;
the drift engine does not import plotly), so it lives in its own environment, installed in
two steps because one resolver run cannot satisfy both::

    python3 -m venv .venv-drift
    .venv-drift/bin/pip install -e . "pandas<3"
    .venv-drift/bin/pip install "evidently==0.7.23" "plotly<6"

Without Evidently importable its columns are skipped with a note. Data: 20 numeric columns
(three of them shifted in the current data) and 5 text categorical columns (one re-mixed).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Row, elapsed, median_of, print_header, print_row  # noqa: E402

from jupyter_mlops.data.fingerprint import fingerprint_data  # noqa: E402
from jupyter_mlops.data.profile import profile_of  # noqa: E402
from jupyter_mlops.drift import drift  # noqa: E402

NUMERIC, CATEGORICAL = 20, 5
LABELS = np.array(["alpha", "beta", "gamma", "delta", "epsilon"], dtype=object)
USUAL, REMIXED = [0.4, 0.3, 0.15, 0.1, 0.05], [0.1, 0.15, 0.2, 0.25, 0.3]


@dataclass(frozen=True)
class Sizes:
    """Rows and repetitions of one benchmark run."""

    compare_rows: int  # figure 1: ours against Evidently and the scipy loop
    growth: tuple[int, ...]  # figure 2
    big_rows: int  # figures 3 and 4
    reps: int  # our figures
    slow_reps: int  # Evidently, the scipy loop, the biggest sizes


FULL = Sizes(100_000, (10_000, 100_000, 1_000_000), 1_000_000, reps=7, slow_reps=3)
QUICK = Sizes(20_000, (10_000, 50_000), 100_000, reps=3, slow_reps=1)


def note(text: str) -> None:
    """Progress and remarks go to stderr, the table to stdout."""
    print(f"· {text}", file=sys.stderr, flush=True)


def frame(rows: int, seed: int, shifted: bool = False) -> pd.DataFrame:
    """20 numeric columns (n0-n2 move when shifted) and 5 text columns (c0 re-mixed)."""
    rng = np.random.default_rng(seed)
    columns: dict[str, np.ndarray] = {}
    for i in range(NUMERIC):
        mean = 0.5 if shifted and i < 3 else 0.0
        values = rng.normal(mean, 1.0 + i / 10, rows)
        columns[f"n{i}"] = np.exp(values / 4) if i % 5 == 4 else values  # some skewed
    for j in range(CATEGORICAL):
        p = REMIXED if shifted and j == 0 else USUAL
        columns[f"c{j}"] = LABELS[rng.choice(5, rows, p=p)]
    return pd.DataFrame(columns)


def scipy_loop(reference: pd.DataFrame, current: pd.DataFrame) -> list[float]:
    """What a user would write instead: ks_2samp per numeric column."""
    return [float(stats.ks_2samp(reference[f"n{i}"], current[f"n{i}"]).pvalue)
            for i in range(NUMERIC)]


def import_evidently() -> ModuleType | None:
    os.environ.setdefault("DO_NOT_TRACK", "1")
    try:
        import evidently
        from evidently import presets  # noqa: F401
    except Exception as exc:  # ImportError, or evidently failing on pandas 3
        note(f"evidently is not importable ({type(exc).__name__}: {str(exc)[:80]}): its "
             "columns are skipped. Install it in its own environment (see this file's "
             "docstring): .venv-drift with pandas<3, evidently==0.7.23 and plotly<6")
        return None
    warnings.filterwarnings("ignore", module="evidently")
    return evidently


def evidently_run(evidently: ModuleType) -> Callable[[pd.DataFrame, pd.DataFrame], object]:
    """Evidently's DataDriftPreset on the same columns (dataset definition given, as a user
    would, so its own type inference is not timed)."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=[f"n{i}" for i in range(NUMERIC)],
                                categorical_columns=[f"c{j}" for j in range(CATEGORICAL)])

    def run(reference: pd.DataFrame, current: pd.DataFrame) -> object:
        report = Report([DataDriftPreset()])
        return report.run(Dataset.from_pandas(current, data_definition=definition),
                          Dataset.from_pandas(reference, data_definition=definition))

    return run


def evidently_values(snapshot: object) -> dict[str, float]:
    """Column → drift score from an Evidently snapshot."""
    values = {}
    for metric in snapshot.dict()["metrics"]:  # type: ignore[attr-defined]
        name = metric.get("metric_name", "")
        if name.startswith("ValueDrift(column="):
            values[name.split("column=")[1].split(",")[0]] = float(metric["value"])
    return values


def timed(fn: Callable[[], object], reps: int) -> float:
    return median_of(lambda: elapsed(fn), reps)


# -- 1. 100k rows: ours, Evidently, the scipy loop ---------------------------------------------
def bench_compare(sizes: Sizes, evidently: ModuleType | None) -> None:
    rows = sizes.compare_rows
    reference, current = frame(rows, 1), frame(rows, 2, shifted=True)
    report = drift(reference, current)
    ours = timed(lambda: drift(reference, current), sizes.reps)
    loop = timed(lambda: scipy_loop(reference, current), sizes.slow_reps)
    label = f"{rows // 1000}k x ({NUMERIC} num + {CATEGORICAL} cat)"
    baseline = None
    if evidently is not None:
        run = evidently_run(evidently)
        snapshot = run(reference, current)  # warm-up, and the values to compare
        baseline = timed(lambda: run(reference, current), sizes.slow_reps)
        theirs = evidently_values(snapshot)
        frame_ours = report.to_frame().set_index("column")
        common = [c for c in theirs if c in frame_ours.index]
        gap = max(abs(frame_ours.loc[c, "statistic"] - theirs[c]) for c in common)
        same_verdicts = sum((frame_ours.loc[c, "statistic"] >= 0.1) == (theirs[c] >= 0.1)
                            for c in common)
        note(f"figure 1: Evidently's scores (normed Wasserstein, Jensen–Shannon) and ours "
             f"differ by at most {gap:.2e} over {len(common)} columns; verdicts agree on "
             f"{same_verdicts} of {len(common)}; ours flags {report.drifted_columns}")
    first = Row(f"1. drift {label}", ours, "Evidently DataDriftPreset", baseline, ">= 50x",
                None if baseline is None else baseline / ours >= 50)
    print_row(first)
    print_row(Row("", ours, f"scipy ks_2samp loop ({NUMERIC} num only)", loop, "faster",
                  loop > ours))
    pvalues = scipy_loop(reference, current)
    ks = drift(reference, current, tests="ks").to_frame().set_index("column")["p_value"]
    gap = max(abs(ks[f"n{i}"] - pvalues[i]) for i in range(NUMERIC))
    note(f"figure 1: our KS p-values and ks_2samp's differ by at most {gap:.1e}")


# -- 2. growth with rows --------------------------------------------------------------------
def bench_growth(sizes: Sizes, evidently: ModuleType | None) -> None:
    run = evidently_run(evidently) if evidently is not None else None
    for rows in sizes.growth:
        reference, current = frame(rows, 3), frame(rows, 4, shifted=True)
        big = rows >= 1_000_000
        ours = timed(lambda r=reference, c=current: drift(r, c),
                     sizes.slow_reps if big else sizes.reps)
        loop = timed(lambda r=reference, c=current: scipy_loop(r, c), sizes.slow_reps)
        label = f"2. drift {rows:,} rows x 25"
        target, passed = ("<= 2 s", ours <= 2.0) if big else ("", None)
        print_row(Row(label, ours, f"scipy ks_2samp loop ({NUMERIC} num only)", loop, target,
                      passed))
        if run is not None and rows <= 100_000:
            theirs = timed(lambda r=reference, c=current: run(r, c), sizes.slow_reps)
            print_row(Row("", ours, "Evidently DataDriftPreset", theirs))
        del reference, current


# -- 3. against a stored profile, 4. the profile itself -------------------------------------
def bench_profile(sizes: Sizes) -> None:
    rows = sizes.big_rows
    reference, current = frame(rows, 5), frame(rows, 6, shifted=True)
    profile = profile_of(reference)  # stored at training time, by %%track
    stored = drift(profile, current)
    raw = drift(reference, current)
    ours = timed(lambda: drift(profile, current), sizes.reps)
    with_data = timed(lambda: drift(reference, current), sizes.slow_reps)
    print_row(Row(f"3. vs stored profile, {rows:,} cur", ours,
                  "ours, with the raw reference", with_data, "<= 0.5 s", ours <= 0.5))
    note(f"figure 3: drifted columns from the profile {stored.drifted_columns}, from the data "
         f"{raw.drifted_columns}")
    floats = pd.DataFrame(np.random.default_rng(7).normal(size=(rows, NUMERIC)))
    profile_time = timed(lambda: profile_of(floats), sizes.reps)
    both = timed(lambda: (fingerprint_data(floats), profile_of(floats)), sizes.reps)
    print_row(Row(f"4. profile_of {rows:,} x {NUMERIC} floats", profile_time, "", None,
                  "<= 100 ms", profile_time <= 0.1))
    print_row(Row("   + fingerprint (as %%track does)", both, "", None, "<= 150 ms",
                  both <= 0.15))
    mixed_time = timed(lambda: profile_of(reference), sizes.reps)
    print_row(Row(f"   profile_of {rows:,} x 25 (5 text)", mixed_time, "", None, "(info)"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="small sizes and few repetitions (a smoke run)")
    sizes = QUICK if parser.parse_args().quick else FULL
    evidently = import_evidently()
    if evidently is not None:
        note(f"evidently {evidently.__version__}, pandas {pd.__version__}")
    if sizes is QUICK:
        note("--quick: reduced sizes and repetitions; verdicts are indicative only")
    note(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
         "(other work on this machine skews the figures)")
    print_header()
    bench_compare(sizes, evidently)
    bench_growth(sizes, evidently)
    bench_profile(sizes)
    note(f"load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
