"""Schema and compact reference profile of a dataset, kept instead of the data itself.

A profile holds, per column, exact row, null and infinity counts and, from a seeded random
sample of at most ``SAMPLE_ROWS`` rows, summary statistics, 201 quantiles, a histogram and
either all distinct values with their counts (at most ``DISTINCT_VALUES`` of them) or the
order statistics at ``TAIL_RANKS`` from both ends (numeric); or the frequencies of up to
``PROFILE_CATEGORIES`` categories (categorical). That is enough to check drift later
without the data (:func:`jupyter_mlops.drift.drift` reads it).

Profile format history: version 1 kept 101 quantiles and the 50 most frequent categories, no
infinity counts, distinct values or tails, and took a NaT for the smallest int64;
:mod:`jupyter_mlops.drift` still reads it.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import pandas as pd

Kind = Literal["numeric", "datetime", "timedelta", "categorical"]  # see column_kind
KINDS: tuple[Kind, ...] = ("numeric", "datetime", "timedelta", "categorical")
NUMERIC_KINDS: tuple[Kind, ...] = KINDS[:3]

PROFILE_VERSION = 2
SAMPLE_ROWS = 20_000
QUANTILES = np.linspace(0.0, 1.0, 201)
HISTOGRAM_BINS = 20
SCHEMA_CATEGORIES = 100_000  # categories a schema lists per pandas category dtype
PROFILE_CATEGORIES = 1000  # categories a profile counts per column; the rest are "other"
DISTINCT_VALUES = 200  # numeric columns with at most this many distinct values keep them all
TAIL_RANKS = (1, 2, 5, 10, 20, 50)  # order statistics kept at both ends of a numeric sample


def as_frame(obj: Any) -> pd.DataFrame:
    """A DataFrame view of a DataFrame, Series or 1-/2-D array (columns named by position)."""
    if isinstance(obj, pd.DataFrame):
        return obj
    if isinstance(obj, pd.Series):
        return obj.to_frame(name=str(obj.name) if obj.name is not None else "value")
    array = np.asarray(obj)
    if array.ndim == 1:
        return pd.DataFrame({"value": array}, copy=False)
    if array.ndim == 2:
        return pd.DataFrame(array, columns=[str(i) for i in range(array.shape[1])], copy=False)
    return pd.DataFrame({"value": array.reshape(array.shape[0], -1).tolist()})


def schema_of(obj: Any) -> dict[str, Any]:
    """Column names and dtypes (plus categories of categoricals)."""
    frame = as_frame(obj)
    columns = []
    for name, dtype in frame.dtypes.items():
        column: dict[str, Any] = {"name": str(name), "dtype": str(dtype)}
        if isinstance(dtype, pd.CategoricalDtype):
            # All of them (up to a bound): a model fitted on the dtype knows each by its code.
            column["categories"] = [_plain(c) for c in dtype.categories[:SCHEMA_CATEGORIES]]
            if dtype.ordered:
                column["ordered"] = True
        elif pd.api.types.is_object_dtype(dtype) and _missing_is_none(frame[name]):
            column["missing"] = "None"  # models may tell None from NaN (SimpleImputer does)
        columns.append(column)
    return {"columns": columns, "rows": int(frame.shape[0])}


def _missing_is_none(column: Any) -> bool:
    """Whether an object column's missing values are None (not NaN)."""
    if isinstance(column, pd.DataFrame):  # duplicate column names: not described
        return False
    missing = column[column.isna()]
    return bool(len(missing)) and all(value is None for value in missing.tolist())


def _plain(value: Any) -> Any:
    """A JSON-friendly scalar."""
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def column_kind(dtype: Any) -> Kind:
    """How a column is profiled and compared: "numeric", "datetime", "timedelta" or
    "categorical" (booleans, strings, categoricals, complex numbers, objects)."""
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_timedelta64_dtype(dtype):
        return "timedelta"
    if (pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
            and not pd.api.types.is_complex_dtype(dtype)):
        return "numeric"
    return "categorical"


def numeric_values(column: pd.Series, kind: Kind) -> np.ndarray:
    """A column of kind numeric, datetime or timedelta (:func:`column_kind`, decided by the
    caller) as float64, NaN where missing.

    Datetimes and timedeltas count nanoseconds (datetimes since the epoch, in UTC)."""
    if kind in ("datetime", "timedelta"):
        stamps = column.to_numpy(dtype="datetime64[ns]" if kind == "datetime" else "m8[ns]")
        values = stamps.view("int64").astype("float64")
        values[np.isnat(stamps)] = np.nan
        return values
    if isinstance(column.dtype, np.dtype):  # NaN is its only missing value: no copy of float64
        return column.to_numpy().astype("float64", copy=False)
    return column.to_numpy(dtype="float64", na_value=np.nan)  # nullable Int64, Float64...


def sample_positions(rows: int) -> np.ndarray | None:
    """The rows a profile summarises: ``None`` (all) up to ``SAMPLE_ROWS``, else a seeded
    random sample, so the same data always gives the same profile."""
    if rows <= SAMPLE_ROWS:
        return None
    return np.sort(np.random.default_rng(0).integers(0, rows, SAMPLE_ROWS))


def _nonfinite_counts(column: pd.Series, kind: Kind) -> tuple[int, int]:
    """Missing and infinite values of a whole numeric column, in one pass when there are none."""
    if isinstance(column.dtype, np.dtype) and column.dtype.kind in "iu":
        return 0, 0
    values = numeric_values(column, kind)
    nonfinite = values.size - int(np.count_nonzero(np.isfinite(values)))
    if not nonfinite:
        return 0, 0
    nulls = int(np.count_nonzero(np.isnan(values)))
    return nulls, nonfinite - nulls


def _nonfinite_of_floats(frame: pd.DataFrame) -> list[tuple[int, int]] | None:
    """Missing and infinite counts of every column of an all-float frame, from one pass over
    its single block in memory order (columns of a block built from a C-ordered array are
    strided, and a pass per column over them costs ten times more)."""
    dtypes = set(frame.dtypes)
    if len(dtypes) != 1 or frame.shape[1] == 0:
        return None
    dtype = next(iter(dtypes))
    if not (isinstance(dtype, np.dtype) and dtype.kind == "f"):
        return None
    matrix = frame.to_numpy()
    with np.errstate(over="ignore", invalid="ignore"):
        totals = matrix.sum(axis=0)  # NaN or infinite exactly where a column may hold one
    counts = [(0, 0)] * frame.shape[1]
    for position in np.flatnonzero(~np.isfinite(totals)):
        column = matrix[:, position]
        nulls = int(np.count_nonzero(np.isnan(column)))
        counts[position] = (nulls, int(np.count_nonzero(np.isinf(column))))
    return counts


def _numeric_summary(sample: np.ndarray) -> dict[str, Any]:
    """Statistics of one numeric column's finite sample values (sorted inside)."""
    values = np.sort(sample[np.isfinite(sample)])
    if values.size == 0:
        return {"sample_count": 0, "n_unique_sample": 0, "mean": None, "std": None,
                "min": None, "max": None, "quantiles": [],
                "histogram": {"edges": [], "counts": []}}
    quantiles = values[np.minimum((QUANTILES * (values.size - 1)).round().astype(int),
                                  values.size - 1)]
    starts = np.flatnonzero(np.concatenate([[True], values[1:] != values[:-1]]))
    low, high = float(values[0]), float(values[-1])
    if low == high:
        edges = np.array([low, high])
        counts = np.array([values.size])
    else:
        edges = np.linspace(low, high, HISTOGRAM_BINS + 1)
        positions = np.searchsorted(values, edges[1:-1], side="left")
        counts = np.diff(np.concatenate([[0], positions, [values.size]]))
    with np.errstate(over="ignore", invalid="ignore"):  # squares of values near 1e308
        mean, std = float(values.mean()), float(values.std())
    summary: dict[str, Any] = {
        "sample_count": int(values.size), "n_unique_sample": int(starts.size),
        "mean": mean, "std": std, "min": low, "max": high,
        "quantiles": quantiles.tolist(),
        "histogram": {"edges": edges.tolist(), "counts": [int(c) for c in counts]},
    }
    if starts.size <= DISTINCT_VALUES:
        summary["distinct"] = {
            "values": values[starts].tolist(),
            "counts": np.diff(np.append(starts, values.size)).tolist(),
        }
    else:  # more than 200 values: the quantiles miss outliers between the extreme ones
        ranks = np.array(TAIL_RANKS)
        summary["tails"] = {"low": values[ranks].tolist(),
                            "high": values[values.size - 1 - ranks].tolist()}
    return summary


def _category_counts(sample: pd.Series) -> pd.Series:
    """Frequencies of a sample's non-null values, most frequent first."""
    try:
        counts = sample.astype("object").value_counts(dropna=True)
    except TypeError:  # unhashable values (lists, dicts): count their text
        counts = sample.dropna().astype(str).value_counts()
    return counts[counts > 0]


def profile_of(obj: Any) -> dict[str, Any]:
    """The compact reference profile of a DataFrame, Series or array.

    Parameters
    ----------
    obj : a DataFrame, Series or 1-/2-D array.

    Returns
    -------
    dict
        JSON-ready: ``version``, ``rows``, ``sample_rows`` and ``columns``, a mapping of
        column name to its entry. Every entry has ``dtype``, ``type`` (see
        :func:`column_kind`), ``count`` (rows), ``nulls`` and ``n_unique_sample``.
        Numeric (and datetime, timedelta: nanoseconds) entries add ``infinite``,
        ``sample_count`` (finite sample values), ``mean``, ``std``, ``min``, ``max``,
        ``quantiles`` (at ``QUANTILES``, nearest rank), ``histogram`` and, with at most
        ``DISTINCT_VALUES`` distinct values, ``distinct`` (``values`` and their ``counts``),
        else ``tails`` (``low`` and ``high``: the values ``TAIL_RANKS`` places from the
        smallest and from the largest).
        Categorical entries add ``sample_count`` (non-null sample values), ``top`` (the
        counts of up to ``PROFILE_CATEGORIES`` categories, most frequent first, keyed by
        their text) and ``other`` (the sample values of the remaining categories).
    """
    frame = as_frame(obj)
    rows = int(frame.shape[0])
    positions = sample_positions(rows)
    sample = frame if positions is None else frame.take(positions)
    columns: dict[str, Any] = {}
    nonfinite = _nonfinite_of_floats(frame)
    for position, (name, dtype) in enumerate(frame.dtypes.items()):
        full = frame.iloc[:, position]
        part = sample.iloc[:, position]
        kind = column_kind(dtype)
        entry: dict[str, Any] = {"dtype": str(dtype), "count": rows, "type": kind}
        if kind == "categorical":
            counts = _category_counts(part)
            top = counts.iloc[:PROFILE_CATEGORIES]
            entry["nulls"] = int(full.isna().sum())
            entry["n_unique_sample"] = int(counts.size)
            entry["sample_count"] = int(counts.sum())
            entry["top"] = {str(k): int(v) for k, v in top.items()}
            entry["other"] = int(counts.sum() - top.sum())
        else:
            entry["nulls"], entry["infinite"] = (
                nonfinite[position] if nonfinite else _nonfinite_counts(full, kind))
            entry.update(_numeric_summary(numeric_values(part, kind)))
        columns[str(name)] = entry
    return {
        "version": PROFILE_VERSION, "rows": rows, "sample_rows": int(sample.shape[0]),
        "columns": columns,
    }
