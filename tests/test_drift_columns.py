"""The typed step at the drift entry: each column's kind is decided once per side, and every
pandas dtype keeps the verdicts it had before that step existed (``drift_verdicts.json``,
written by the engine of commit 43f0466, which decided kinds all along the way)."""

from __future__ import annotations

import json
import math
import sys
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from jupyter_mlops.data import profile as profile_module
from jupyter_mlops.data.profile import profile_of
from jupyter_mlops.drift import drift

VERDICTS = Path(__file__).with_name("drift_verdicts.json")
SIZES = (300, 3000)  # p-value tests, then distances


def _dates(rng: np.random.Generator, n: int, shift: bool) -> pd.Series:
    start = pd.Timestamp("2024-01-01") + pd.Timedelta(days=20 if shift else 0)
    return pd.Series(start + pd.to_timedelta(rng.integers(0, 86_400 * 30, n), unit="s"))


def _with_missing(rng: np.random.Generator, column: pd.Series, share: float) -> pd.Series:
    return column.mask(rng.random(column.size) < share)


def _mixed(rng: np.random.Generator, n: int, shift: bool) -> pd.Series:
    pool = np.array([1, "a", 2.5, None, ("t",), "b"], dtype=object)
    weights = [0.1, 0.1, 0.1, 0.1, 0.1, 0.5] if shift else [0.3, 0.3, 0.1, 0.1, 0.1, 0.1]
    return pd.Series(pool[rng.choice(pool.size, n, p=weights)], dtype=object)


Builder = Callable[[np.random.Generator, int, bool], pd.Series]
DTYPES: dict[str, Builder] = {
    "int": lambda rng, n, s: pd.Series(rng.integers(0, 1000, n) + (200 if s else 0)),
    "uint8": lambda rng, n, s: pd.Series(rng.integers(0, 4 if s else 3, n).astype("uint8")),
    "float": lambda rng, n, s: pd.Series(rng.normal(0.4 if s else 0.0, 1.0, n)),
    "float_nan_inf": lambda rng, n, s: pd.Series(np.where(
        rng.random(n) < 0.05, np.inf, rng.normal(0, 1, n))).mask(rng.random(n) < (0.3 if s
                                                                                 else 0.1)),
    "Int64": lambda rng, n, s: _with_missing(
        rng, pd.Series(rng.integers(0, 100, n) * (2 if s else 1), dtype="Int64"), 0.1),
    "Float64": lambda rng, n, s: _with_missing(
        rng, pd.Series(rng.normal(0.3 if s else 0.0, 1.0, n), dtype="Float64"), 0.1),
    "boolean": lambda rng, n, s: _with_missing(
        rng, pd.Series(rng.random(n) < (0.6 if s else 0.4), dtype="boolean"), 0.1),
    "bool": lambda rng, n, s: pd.Series(rng.random(n) < (0.6 if s else 0.4)),
    "category": lambda rng, n, s: pd.Series(pd.Categorical(
        rng.choice(["a", "b", "c"], n, p=[0.2, 0.3, 0.5] if s else [0.5, 0.3, 0.2]),
        categories=["a", "b", "c", "unused"])),
    "str": lambda rng, n, s: pd.Series(
        rng.choice(["x", "y", "z"], n, p=[0.2, 0.3, 0.5] if s else [0.4, 0.3, 0.3]),
        dtype="str"),
    "object_str": lambda rng, n, s: _with_missing(rng, pd.Series(
        rng.choice(["x", "y", "z"], n, p=[0.2, 0.3, 0.5] if s else [0.4, 0.3, 0.3]),
        dtype=object), 0.05),
    "mixed_object": _mixed,
    "complex": lambda rng, n, s: pd.Series(rng.integers(0, 3, n) + (1j if s else 2j)),
    "datetime": lambda rng, n, s: _with_missing(rng, _dates(rng, n, s), 0.05),
    "datetime_tz": lambda rng, n, s: _dates(rng, n, s).dt.tz_localize("Europe/Paris"),
    "timedelta": lambda rng, n, s: pd.Series(
        pd.to_timedelta(rng.exponential(3 if s else 1, n), unit="s")),
    "all_nan": lambda rng, n, s: pd.Series(np.full(n, np.nan)),
    "constant": lambda rng, n, s: pd.Series(np.full(n, 7.0 if s else 3.0)),
    "constant_text": lambda rng, n, s: pd.Series(["same"] * n, dtype=object),
}
SAME = [(name, name) for name in DTYPES]
# reference dtype, current dtype: columns whose type changed between the sides
MISMATCHED = [
    ("int", "int_as_text"), ("float", "float_as_text"), ("float", "object_str"),
    ("bool", "int01"), ("int01", "bool"), ("datetime", "datetime_as_text"),
    ("timedelta", "timedelta_as_text"), ("datetime", "float"), ("object_str", "int"),
    ("category", "int"), ("Int64", "float"), ("boolean", "float"), ("Float64", "float_as_text"),
    ("datetime_tz", "datetime_as_text"), ("timedelta", "float"), ("all_nan", "object_str"),
    ("int", "int_as_str"), ("float", "boolean"),
]
DTYPES |= {
    "int_as_text": lambda rng, n, s: DTYPES["int"](rng, n, s).astype(str).astype(object),
    "float_as_text": lambda rng, n, s: DTYPES["float"](rng, n, s).astype(str).astype(object),
    "int_as_str": lambda rng, n, s: DTYPES["int"](rng, n, s).astype("str"),
    "int01": lambda rng, n, s: pd.Series(rng.integers(0, 2, n)),
    "datetime_as_text": lambda rng, n, s: _dates(rng, n, s).astype(str).astype(object),
    "timedelta_as_text": lambda rng, n, s: DTYPES["timedelta"](rng, n, s).astype(str),
}


def case_frames(reference: str, current: str, rows: int,
                shift: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One column named ``value`` on each side, from fixed seeds."""
    rng = np.random.default_rng(zlib.crc32(f"{reference}|{current}|{rows}|{shift}".encode()))
    return (DTYPES[reference](rng, rows, False).rename("value").to_frame(),
            DTYPES[current](rng, rows, shift).rename("value").to_frame())


def verdicts(reference: str, current: str) -> dict[str, list[Any]]:
    """The report row of every size, shift and reference source (data, stored profile)."""
    result = {}
    for rows in SIZES:
        for shift in (False, True):
            frame_r, frame_c = case_frames(reference, current, rows, shift)
            for source, ref in (("data", frame_r), ("profile", profile_of(frame_r))):
                row = drift(ref, frame_c).to_frame().iloc[0]
                result[f"{rows}/{'shifted' if shift else 'same'}/{source}"] = [
                    row["test"], row["kind"], bool(row["drifted"]), _plain(row["statistic"]),
                    _plain(row["p_value"]), _plain(row["missing_p_value"]), row["note"]]
    return result


def _plain(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


CASES = SAME + MISMATCHED


@pytest.mark.parametrize("reference,current", CASES, ids=[f"{r}-{c}" for r, c in CASES])
def test_verdicts_of_every_dtype_are_unchanged(reference: str, current: str) -> None:
    expected = json.loads(VERDICTS.read_text())[f"{reference}-{current}"]
    actual = verdicts(reference, current)
    assert actual.keys() == expected.keys()
    for key, (test, kind, drifted, statistic, p_value, missing_p, note) in expected.items():
        got = actual[key]
        assert got[:3] == [test, kind, drifted], key
        numbers = [math.nan if x is None else x for x in (statistic, p_value, missing_p)]
        assert [math.nan if x is None else x for x in got[3:6]] == pytest.approx(
            numbers, rel=1e-9, abs=1e-12, nan_ok=True), key
        assert got[6] == note, key


@contextmanager
def kind_decisions() -> Iterator[list[int]]:
    """Count the calls of ``column_kind`` (how a dtype is read as a kind), however the
    caller imported it."""
    code, seen = profile_module.column_kind.__code__, [0]

    def count(frame: Any, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code is code:
            seen[0] += 1

    previous = sys.getprofile()
    sys.setprofile(count)
    try:
        yield seen
    finally:
        sys.setprofile(previous)


def test_each_column_kind_is_decided_once_per_side() -> None:
    rng = np.random.default_rng(1)
    names = list(DTYPES)
    reference = pd.DataFrame({n: DTYPES[n](rng, 400, False) for n in names})
    current = pd.DataFrame({n: DTYPES[n](rng, 400, True) for n in names})
    current["float"] = current["float"].astype(str)  # a type change: read as numbers
    current["int"] = current["int"].astype("Int64")
    with kind_decisions() as profiling:
        profile = profile_of(reference)
    with kind_decisions() as data_vs_data:
        drift(reference, current)
    with kind_decisions() as profile_vs_data:  # as monitor() calls it
        drift(profile, current)
    with kind_decisions() as one_column:
        drift(reference, current, columns=["int"])
    assert profiling[0] == len(names)
    assert data_vs_data[0] == 2 * len(names)
    assert profile_vs_data[0] == len(names)  # the profile's kinds are stored
    assert one_column[0] == 2
