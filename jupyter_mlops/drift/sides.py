"""One column of one side of a drift comparison, read from data or from a stored profile.

A :class:`Side` holds what the tests need and nothing else: the finite values of a numeric
column (or, from a profile, its sample: exact when the profile kept every distinct value,
else rebuilt from the stored quantiles), or the category counts of a categorical one, plus
the missing and infinite counts that are reported beside the test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..data.profile import TAIL_RANKS, column_kind, numeric_values
from .stats import MissingTest, core_range, jensen_shannon

NUMERIC_KINDS = ("numeric", "datetime", "timedelta")
OTHER = "(other)"  # categories a profile did not list one by one
_NAT_AS_FLOAT = float(np.iinfo(np.int64).min)  # how version-1 profiles stored a NaT


@dataclass(frozen=True)
class Side:
    """One column of the reference or the current data.

    ``values`` (numeric kinds): the finite values, unsorted; ``counts`` (categorical): count
    by category text. ``missing`` counts missing and infinite values, ``rows`` all values.
    ``sample`` is True when the values are a sample of the column (profiles of large data),
    ``rebuilt`` when they were interpolated from stored quantiles (an approximation).
    ``std``: the standard deviation a profile recorded (None: compute it from ``values``).
    """

    kind: str
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

    @property
    def present(self) -> int:
        """How many values the test sees (a profile's sample size when sampled)."""
        if self.values is not None:
            return int(self.values.size)
        return int(sum(self.counts.values()) + self.other) if self.counts else int(self.other)

    @property
    def numeric(self) -> bool:
        return self.kind in NUMERIC_KINDS


# -- from data ------------------------------------------------------------------------------
def category_counts(column: pd.Series) -> dict[str, float]:
    """Counts of a column's non-missing values, keyed by their text (hashing, no sort)."""
    uniques: Any
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes, uniques = column.cat.codes.to_numpy(), column.cat.categories
    else:
        text = (pd.api.types.is_object_dtype(column.dtype)
                or pd.api.types.is_string_dtype(column.dtype))
        try:  # factorize on the bare object array skips the Series overhead (~2x faster)
            codes, uniques = pd.factorize(column.to_numpy(dtype=object) if text else column)
        except TypeError:  # unhashable values (lists, dicts): count their text
            codes, uniques = pd.factorize(column.dropna().astype(str).to_numpy(dtype=object))
    counts = np.bincount(codes + 1, minlength=len(uniques) + 1)[1:]
    result: dict[str, float] = {}
    for key, count in zip(uniques, counts.tolist(), strict=True):
        if count:
            label = str(key)
            result[label] = result.get(label, 0) + count
    return result


def data_side(column: pd.Series, positions: np.ndarray | None, kind: str | None = None) -> Side:
    """A column of data; ``positions``: the rows whose quantiles set the bins (a sample)."""
    kind = kind or column_kind(column.dtype)
    rows = int(column.size)
    if kind not in NUMERIC_KINDS:
        counts = category_counts(column)
        present = int(sum(counts.values()))
        return Side(kind, str(column.dtype), rows, rows - present, counts=counts)
    # one copy of a strided column (pandas 2 frames built from a 2-D array) makes the
    # following passes contiguous; a contiguous column is not copied
    values = np.ascontiguousarray(numeric_values(column))
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
    return Side(kind, str(column.dtype), rows, rows - kept, infinite, values, core_range(sample))


def reconcile(reference: pd.Series, current: pd.Series) -> tuple[str, str, str]:
    """The kinds to compare two columns as, and a note when their types disagree.

    A text or boolean column facing a numeric (datetime) one is read as numbers (dates)
    when every value converts; otherwise both are compared as categories of their text.
    """
    kind_r, kind_c = column_kind(reference.dtype), column_kind(current.dtype)
    if kind_r == kind_c:
        return kind_r, kind_c, ""
    note = f"types differ: {reference.dtype} in reference, {current.dtype} in current"
    if kind_r in NUMERIC_KINDS and kind_c in NUMERIC_KINDS:
        return kind_r, kind_c, note + "; compared as numbers"
    numeric_kind = kind_r if kind_r in NUMERIC_KINDS else kind_c
    text = current if kind_r in NUMERIC_KINDS else reference
    if convert(text, numeric_kind) is not None:
        return numeric_kind, numeric_kind, note + f"; compared as {numeric_kind}"
    return "categorical", "categorical", note + "; compared as text categories"


def convert(column: pd.Series, kind: str) -> pd.Series | None:
    """A text/boolean column as numbers or datetimes, or None when some value does not convert."""
    if pd.api.types.is_bool_dtype(column.dtype) and kind == "numeric":
        return column.astype("float64")
    if not (pd.api.types.is_object_dtype(column.dtype)
            or pd.api.types.is_string_dtype(column.dtype)):
        return None
    converted: pd.Series
    try:
        if kind == "datetime":
            converted = pd.to_datetime(column, errors="coerce", utc=True)
        elif kind == "timedelta":
            converted = pd.to_timedelta(column, errors="coerce")
        else:
            converted = pd.to_numeric(column, errors="coerce")
    except (TypeError, ValueError):
        return None
    if int(converted.isna().sum()) != int(column.isna().sum()):
        return None
    return converted


def as_kind(column: pd.Series, kind: str) -> pd.Series:
    """The column ready to be read as ``kind`` (see :func:`reconcile`)."""
    if kind in NUMERIC_KINDS and column_kind(column.dtype) not in NUMERIC_KINDS:
        converted = convert(column, kind)
        if converted is not None:
            return converted
    return column


def against_profile(reference: Side, column: pd.Series) -> tuple[Side, str, str]:
    """A profile's side, the kind to read the current column as, and a note when their
    types disagree. A text column facing a numeric profile is read as numbers (dates) when
    every value converts; otherwise both are compared as categories of their text."""
    kind = column_kind(column.dtype)
    if (kind in NUMERIC_KINDS) == reference.numeric:
        return reference, (kind if reference.numeric else reference.kind), ""
    note = f"types differ: {reference.dtype} in reference, {column.dtype} in current"
    if reference.numeric and convert(column, reference.kind) is not None:
        return reference, reference.kind, note + f"; compared as {reference.kind}"
    if reference.numeric:
        assert reference.values is not None
        texts, counts = value_counts(reference.values)
        reference = Side("categorical", reference.dtype, reference.rows, reference.missing,
                         reference.infinite, counts={str(t): float(c) for t, c in
                                                     zip(texts, counts, strict=True)},
                         sample=reference.sample, rebuilt=reference.rebuilt)
    return reference, "categorical", note + "; compared as text categories"


# -- from a profile -------------------------------------------------------------------------
def profile_side(entry: dict[str, Any], version: int, sample_rows: int) -> Side:
    """A column entry of a stored profile (format version 1 or 2) whose data had
    ``entry["count"]`` rows, of which the profile summarised ``sample_rows``."""
    kind = str(entry.get("type", "categorical"))
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
