"""Schema and compact reference profile of a dataset, kept instead of the data itself.

A profile holds, per column, exact row and null counts and, from a seeded random sample of
at most ``SAMPLE_ROWS`` rows, summary statistics, 101 quantiles and a histogram (numeric) or
category frequencies (categorical). That is enough to check drift later without the data.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

PROFILE_VERSION = 1
SAMPLE_ROWS = 20_000
QUANTILES = np.linspace(0.0, 1.0, 101)
HISTOGRAM_BINS = 20
TOP_CATEGORIES = 50


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
            column["categories"] = [_plain(c) for c in dtype.categories[:TOP_CATEGORIES]]
        columns.append(column)
    return {"columns": columns, "rows": int(frame.shape[0])}


def _plain(value: Any) -> Any:
    """A JSON-friendly scalar."""
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _is_numeric(dtype: Any) -> bool:
    return (
        pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
    ) or pd.api.types.is_datetime64_any_dtype(dtype)


def _numeric_summary(sample: np.ndarray) -> dict[str, Any]:
    """Statistics of one numeric column's finite sample values (sorted inside)."""
    values = np.sort(sample[np.isfinite(sample)])
    if values.size == 0:
        return {"mean": None, "std": None, "min": None, "max": None, "quantiles": [],
                "histogram": {"edges": [], "counts": []}}
    quantiles = values[np.minimum((QUANTILES * (values.size - 1)).round().astype(int),
                                  values.size - 1)]
    low, high = float(values[0]), float(values[-1])
    if low == high:
        edges = np.array([low, high])
        counts = np.array([values.size])
    else:
        edges = np.linspace(low, high, HISTOGRAM_BINS + 1)
        positions = np.searchsorted(values, edges[1:-1], side="left")
        counts = np.diff(np.concatenate([[0], positions, [values.size]]))
    return {
        "mean": float(values.mean()), "std": float(values.std()), "min": low, "max": high,
        "quantiles": [float(q) for q in quantiles],
        "histogram": {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]},
    }


def _numeric_values(column: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        return column.to_numpy(dtype="datetime64[ns]").astype("int64").astype("float64")
    return column.to_numpy(dtype="float64", na_value=np.nan)


def profile_of(obj: Any) -> dict[str, Any]:
    """The compact reference profile of a DataFrame, Series or array."""
    frame = as_frame(obj)
    rows = int(frame.shape[0])
    if rows > SAMPLE_ROWS:  # seeded, so the same data always gives the same profile
        positions = np.sort(np.random.default_rng(0).integers(0, rows, SAMPLE_ROWS))
        sample = frame.take(positions)
    else:
        sample = frame
    columns: dict[str, Any] = {}
    for position, (name, dtype) in enumerate(frame.dtypes.items()):
        full = frame.iloc[:, position]
        nulls = int(full.isna().sum())
        entry: dict[str, Any] = {"dtype": str(dtype), "count": rows, "nulls": nulls}
        part = sample.iloc[:, position]
        if _is_numeric(dtype):
            values = _numeric_values(part)
            entry["type"] = (
                "datetime" if pd.api.types.is_datetime64_any_dtype(dtype) else "numeric"
            )
            entry["n_unique_sample"] = int(pd.unique(values[~np.isnan(values)]).size)
            entry.update(_numeric_summary(values))
        else:
            try:
                counts = part.astype("object").value_counts(dropna=True)
            except TypeError:  # unhashable values (lists, dicts): count their text
                counts = part.dropna().astype(str).value_counts()
            entry["type"] = "categorical"
            entry["n_unique_sample"] = int(counts.size)
            entry["top"] = {str(k): int(v) for k, v in counts.iloc[:TOP_CATEGORIES].items()}
        columns[str(name)] = entry
    return {
        "version": PROFILE_VERSION, "rows": rows, "sample_rows": int(sample.shape[0]),
        "columns": columns,
    }
