"""Which two-sample test of category shares finds a share move best at a 5 % false-positive
rate? Penguins' categorical columns, beside Evidently's goodness-of-fit test (issue 16).

    .venv/bin/python benchmarks/bench_categorical.py            # 2,000 null splits (~3 min)
    .venv/bin/python benchmarks/bench_categorical.py --quick    # 300

The same seeded 70/30 splits as ``bench_calibration.py``. Each test's p-value on each column
over the null splits gives its false-positive rate at p < 0.05 and the critical value that
holds it at exactly 5 % (``bench_calibration.rejection``); then 10 points of the most frequent
category's share are moved to the second (one column per split, in turn) and each test's raw
and size-adjusted power is the share of those splits it flags. Tests: our engine as shipped
(the column's one p-value, which also covers missing values), the chi-square of homogeneity
alone, the G-test, the exact conditional test (every table with the same margins) with its
p-value and mid-p, and the goodness-of-fit chi-square against the reference's shares as
Evidently 0.7.23 computes it (``scipy.stats.chisquare``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special, stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_calibration import ALPHA, ROOT, rejection, shift, splits, tables  # noqa: E402

sys.path.insert(0, str(ROOT))
from jupyter_mlops.drift import drift  # noqa: E402

Test = Callable[[pd.Series, pd.Series], float]


def counts(reference: pd.Series, current: pd.Series) -> np.ndarray:
    """The 2 × k table of both sides' category counts (missing values left out)."""
    labels = list(dict.fromkeys([*reference.dropna(), *current.dropna()]))
    return np.array([[(side == label).sum() for label in labels]
                     for side in (reference, current)], dtype=float)


def engine(reference: pd.Series, current: pd.Series) -> float:
    return drift(reference.to_frame(), current.to_frame()).columns[0].column_p_value


def homogeneity(method: str) -> Test:
    def test(reference: pd.Series, current: pd.Series) -> float:
        result = stats.chi2_contingency(counts(reference, current), correction=False,
                                        lambda_=method)
        return float(result.pvalue)
    return test


def exact(mid: bool) -> Test:
    """Conditional test: all current-side tables with the observed margins, hypergeometric
    weights, ordered by the chi-square statistic."""
    def test(reference: pd.Series, current: pd.Series) -> float:
        table = counts(reference, current)
        totals, size = table.sum(axis=0), table[1].sum()
        grid = np.meshgrid(*(np.arange(t + 1) for t in totals[:-1]), indexing="ij")
        heads = np.stack([g.ravel() for g in grid], axis=1)
        last = size - heads.sum(axis=1)
        keep = (last >= 0) & (last <= totals[-1])
        tables_ = np.column_stack((heads[keep], last[keep]))
        log = (special.gammaln(totals + 1) - special.gammaln(tables_ + 1)
               - special.gammaln(totals - tables_ + 1)).sum(axis=1)
        weight = np.exp(log - log.max())
        weight /= weight.sum()
        expected = totals * size / totals.sum()
        statistic = ((tables_ - expected) ** 2 / expected).sum(axis=1)
        observed = ((table[1] - expected) ** 2 / expected).sum()
        tie = 1e-9 * max(observed, 1.0)
        above = weight[statistic > observed + tie].sum()
        at = weight[np.abs(statistic - observed) <= tie].sum()
        return float(above + (0.5 if mid else 1.0) * at)
    return test


def goodness_of_fit(reference: pd.Series, current: pd.Series) -> float:
    ref, cur = counts(reference, current)
    return float(stats.chisquare(cur, ref / ref.sum() * cur.sum()).pvalue)


TESTS: dict[str, Test] = {
    "ours as shipped (one p-value with the missing-value test)": engine,
    "chi-square of homogeneity alone": homogeneity("pearson"),
    "G-test (log-likelihood ratio)": homogeneity("log-likelihood"),
    "exact conditional test, p": exact(mid=False),
    "exact conditional test, mid-p": exact(mid=True),
    "Evidently: goodness of fit to the reference's shares": goodness_of_fit,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 null splits, 30 per column")
    quick = parser.parse_args().quick
    table = tables(quick=False, only=["penguins"], count=300 if quick else 2000)[0]
    shifted = 3 * (30 if quick else 300)
    columns = table.categorical
    null = {name: {c: [] for c in columns} for name in TESTS}
    for reference, current in splits(table, table.splits, seed=1):
        for column in columns:
            for name, test in TESTS.items():
                null[name][column].append(test(reference[column], current[column]))
    moved: dict[str, dict[str, list[float]]] = {name: {c: [] for c in columns} for name in TESTS}
    rng = np.random.default_rng(102)
    for turn, (reference, current) in enumerate(splits(table, shifted, seed=4)):
        data, column = shift(table, current, "category +10 pts", turn, rng) or (current, "")
        for name, test in TESTS.items():
            moved[name][column].append(test(reference[column], data[column]))
    print(f"penguins, {table.splits} null splits, {shifted // 3} shifted splits per column; "
          f"per column {' / '.join(columns)}")
    print()
    print("| test | false positives % | raw power % | size-adjusted power % (mean) |")
    print("|---|---|---|---|")
    for name in TESTS:
        fpr, raw, adjusted = [], [], []
        for column in columns:
            law, found = np.array(null[name][column]), np.array(moved[name][column])
            fpr.append(np.mean(law < ALPHA))
            raw.append(np.mean(found < ALPHA))
            # rejection() takes scores that grow with drift: the p-value's negative
            adjusted.append(np.mean([rejection(-law, -p) for p in found]))
        cells = [joined(fpr, 1), joined(raw, 0),
                 f"{joined(adjusted, 0)} ({100 * np.mean(adjusted):.1f})"]
        print(f"| {name} | " + " | ".join(cells) + " |")


def joined(rates: list[float], digits: int) -> str:
    return " / ".join(f"{100 * rate:.{digits}f}" for rate in rates)


if __name__ == "__main__":
    main()
