"""One column of one side of a drift comparison, typed: what the per-column tests read.

A :class:`Side` holds what the tests need and nothing else: the finite values of a numeric
column (or, from a profile, its sample: exact when the profile kept every distinct value,
else rebuilt from the stored quantiles), or the category counts of a categorical one, plus
the missing and infinite counts that are reported beside the test. Sides of data are built
by :mod:`.columns`, once the column's kind is decided; sides of a stored profile here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from ..data.profile import KINDS, NUMERIC_KINDS, TAIL_RANKS, Kind
from .stats import MissingTest, core_range, jensen_shannon

OTHER = "(other)"  # categories a profile did not list one by one
_NAT_AS_FLOAT = float(np.iinfo(np.int64).min)  # how version-1 profiles stored a NaT


@dataclass(frozen=True)
class Side:
    """One column of the reference or the current data, typed (see :mod:`.columns`).

    ``values`` (numeric kinds): the finite values, unsorted; ``counts`` (categorical): count
    by category text. ``missing`` counts missing and infinite values, ``rows`` all values.
    ``sample`` is True when the values are a sample of the column (profiles of large data),
    ``rebuilt`` when they were interpolated from stored quantiles (an approximation).
    ``std``: the standard deviation a profile recorded (None: compute it from ``values``).
    """

    kind: Kind
    dtype: str
    rows: int
    missing: int
    infinite: int = 0
    values: np.ndarray | None = None
    core: tuple[float, float] = (math.inf, -math.inf)
    std: float | None = None
    counts: dict[str, float] | None = None
    other: float = 0.0
    sample: bool = False
    rebuilt: bool = False

    @cached_property
    def present(self) -> int:
        """How many values the test sees (a profile's sample size when sampled)."""
        if self.values is not None:
            return int(self.values.size)
        return int(sum(self.counts.values()) + self.other) if self.counts else int(self.other)

    @cached_property
    def numeric(self) -> bool:
        """Whether the kind is numeric, datetime or timedelta (values, not counts)."""
        return self.kind in NUMERIC_KINDS


# -- from data (its kind decided by .columns) ----------------------------------------------
def numeric_side(values: np.ndarray, kind: Kind, dtype: str,
                 positions: np.ndarray | None) -> Side:
    """A numeric, datetime or timedelta column of data, as float64 with NaN where missing;
    ``positions``: the rows whose quantiles set the bins (a sample)."""
    rows = int(values.size)
    # one copy of a strided column (pandas 2 frames built from a 2-D array) makes the
    # following passes contiguous; a contiguous column is not copied
    values = np.ascontiguousarray(values)
    finite = np.isfinite(values)
    kept = int(np.count_nonzero(finite))
    sample = values if positions is None else values[positions]
    infinite = 0
    if kept < rows:
        infinite = int(np.count_nonzero(np.isinf(values)))
        values = values[finite]
        sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        sample = values
    return Side(kind, dtype, rows, rows - kept, infinite, values, core_range(sample))


def as_categories(side: Side) -> Side:
    """A numeric side read as the categories of its values' text."""
    assert side.values is not None
    texts, counts = value_counts(side.values)
    return Side("categorical", side.dtype, side.rows, side.missing, side.infinite,
                counts={str(t): float(c) for t, c in zip(texts, counts, strict=True)},
                sample=side.sample, rebuilt=side.rebuilt)


# -- from a profile -------------------------------------------------------------------------
def profile_side(entry: dict[str, Any], version: int, sample_rows: int) -> Side:
    """A column entry of a stored profile (format version 1 or 2) whose data had
    ``entry["count"]`` rows, of which the profile summarised ``sample_rows``."""
    kind: Kind = next((k for k in KINDS if k == entry.get("type")), "categorical")
    rows = int(entry.get("count", 0))
    nulls = int(entry.get("nulls", 0))
    infinite = int(entry.get("infinite", 0))
    sampled = sample_rows < rows
    if kind not in NUMERIC_KINDS:
        counts = {str(k): float(v) for k, v in (entry.get("top") or {}).items()}
        if version >= 2:
            other = float(entry.get("other", 0))
        else:  # version 1 kept the 50 most frequent categories of the sample only
            share_present = 1.0 - nulls / rows if rows else 0.0
            other = max(0.0, round(share_present * sample_rows) - sum(counts.values()))
        return Side(kind, str(entry.get("dtype", "")), rows, nulls, counts=counts, other=other,
                    sample=sampled)
    quantiles = np.asarray(entry.get("quantiles") or [], dtype=float)
    std = float(entry["std"]) if entry.get("std") is not None else None
    if std is not None and not math.isfinite(std):  # it overflowed: recompute from the sample
        std = None
    if version < 2 and np.any(quantiles <= _NAT_AS_FLOAT):
        # version 1 counted a NaT as the smallest int64: drop those quantiles (they are the
        # lowest ones), spread the others over [0, 1] again, recompute the spread
        kept = quantiles > _NAT_AS_FLOAT
        entry = {**entry, "quantiles": quantiles[kept].tolist(), "sample_count": round(
            _sample_count(entry) * kept.mean())}
        std = None
    values, rebuilt = _profile_values(entry, version)
    return Side(kind, str(entry.get("dtype", "")), rows, nulls + infinite, infinite, values,
                core_range(values), std, sample=sampled, rebuilt=rebuilt)


def _sample_count(entry: dict[str, Any]) -> int:
    """Finite values in a numeric entry's sample (version 1: its histogram's total)."""
    return int(entry.get("sample_count") or sum(entry.get("histogram", {}).get("counts", [])))


def _profile_values(entry: dict[str, Any], version: int) -> tuple[np.ndarray, bool]:
    """The sample a numeric profile entry describes: exact from its distinct values and
    counts, else its order statistics interpolated linearly between the stored ones (the
    nearest-rank quantiles and, from version 2, the tails)."""
    distinct = entry.get("distinct")
    if distinct:
        return np.repeat(np.asarray(distinct["values"], dtype=float),
                         np.asarray(distinct["counts"], dtype=np.intp)), False
    quantiles = np.asarray(entry.get("quantiles") or [], dtype=float)
    if quantiles.size == 0:
        return quantiles, False
    size = max(_sample_count(entry), 1)
    ranks = (np.linspace(0.0, 1.0, quantiles.size) * (size - 1)).round()
    if version < 2 and int(entry.get("n_unique_sample", 0)) <= quantiles.size - 1:
        # version 1 kept no distinct values: a discrete column keeps its quantiles' values
        nearest = np.rint(np.arange(size) / max(size - 1, 1) * (quantiles.size - 1))
        return quantiles[nearest.astype(np.intp)], True
    tails = entry.get("tails")
    if tails and size > 2 * TAIL_RANKS[-1]:
        low = np.array(TAIL_RANKS, dtype=float)
        ranks = np.concatenate((ranks, low, size - 1 - low))
        quantiles = np.concatenate((quantiles, tails["low"], tails["high"]))
    order = np.argsort(ranks, kind="stable")
    ranks, quantiles = ranks[order], quantiles[order]
    first = np.append(True, np.diff(ranks) > 0)  # equal ranks are the same order statistic
    return np.interp(np.arange(size), ranks[first], quantiles[first]), True


def value_counts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of a numeric array and how often each occurs (hashing, no sort)."""
    counts = pd.Series(values, copy=False).value_counts(sort=False)
    return counts.index.to_numpy(dtype=float), counts.to_numpy()


# -- missing values -------------------------------------------------------------------------
def missing_distance(ref: Side, cur: Side) -> float:
    """Jensen–Shannon distance between the two sides' missing/present shares."""
    return jensen_shannon(np.array([ref.missing, ref.rows - ref.missing], dtype=float),
                          np.array([cur.missing, cur.rows - cur.missing], dtype=float))


def missing_note(ref: Side, cur: Side, missing: MissingTest, drifted: bool,
                 by_distance: bool) -> str:
    """What the missing-value test found, when it decided the verdict."""
    if not drifted:
        return ""
    share_r = ref.missing / ref.rows if ref.rows else 0.0
    if by_distance:
        evidence = f"Jensen–Shannon distance {missing_distance(ref, cur):.3g} ≥ 0.1"
    else:
        test = "Fisher's exact" if missing.name == "fisher" else "chi-square"
        evidence = f"{test} p = {missing.p_value:.2g}"
    return f"missing values {share_r:.1%} → {cur.missing / cur.rows:.1%}: drifted ({evidence})"
