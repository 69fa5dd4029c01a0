"""Reading and checking what :func:`jupyter_mlops.drift.drift` is given."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..data.profile import PROFILE_VERSION, as_frame
from ..errors import DriftError

TESTS = ("ks", "chi2", "z", "psi", "jensenshannon", "wasserstein", "hellinger")


def as_table(obj: Any, label: str) -> pd.DataFrame:
    """Data as a DataFrame with unique text column names, or a DriftError saying why not."""
    if isinstance(obj, str):
        raise DriftError(
            f"the {label} is the text {obj[:40]!r}, not data. To compare with the training "
            "data of a run, pass reference_profile(store, run) from "
            "jupyter_mlops.drift_reference as the reference."
        )
    if isinstance(obj, Mapping):
        raise DriftError(f"the {label} must be data (a DataFrame, Series or array); only the "
                         "reference may be a stored profile")
    if not isinstance(obj, (pd.DataFrame, pd.Series)):
        obj = np.asarray(obj)
        if obj.ndim not in (1, 2):
            raise DriftError(f"the {label} is a {obj.ndim}-D array: drift compares tables, "
                             "pass a DataFrame, a Series or a 1-/2-D array")
    frame = as_frame(obj)
    if frame.shape[0] == 0:
        raise DriftError(f"the {label} data has no rows: drift needs at least one row on each "
                         "side")
    if frame.shape[1] == 0:
        raise DriftError(f"the {label} data has no columns")
    names = [str(c) for c in frame.columns]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise DriftError(f"the {label} data has duplicate column names {twice}: rename them")
    return frame.set_axis(names, axis=1) if names != list(frame.columns) else frame


def as_profile(obj: Any) -> dict[str, Any] | None:
    """The reference as a profile (None when it is data), checked for its format."""
    if not isinstance(obj, Mapping):
        return None
    version, columns = obj.get("version"), obj.get("columns")
    if not isinstance(version, int) or not isinstance(columns, Mapping):
        raise DriftError("the reference is a dict but not a profile: pass data, or a profile "
                         "from profile_of(data) or reference_profile(store, run)")
    if version > PROFILE_VERSION:
        raise DriftError(f"the reference profile has format version {version}, newer than this "
                         f"jupyter-mlops reads ({PROFILE_VERSION}): upgrade jupyter-mlops")
    if not int(obj.get("rows", 0)):
        raise DriftError("the reference profile describes data with no rows: drift needs at "
                         "least one row on each side")
    return dict(obj)


def align_names(reference: Any, frame_r: pd.DataFrame, current: Any,
                 frame_c: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Unnamed arrays take the other side's names; two single columns are one column."""
    named_r = isinstance(reference, (pd.DataFrame, pd.Series))
    named_c = isinstance(current, (pd.DataFrame, pd.Series))
    if frame_r.shape[1] == 1 and frame_c.shape[1] == 1:
        return frame_r, frame_c.set_axis(frame_r.columns, axis=1)
    if frame_r.shape[1] == frame_c.shape[1]:
        if named_r and not named_c:
            return frame_r, frame_c.set_axis(frame_r.columns, axis=1)
        if named_c and not named_r:
            return frame_r.set_axis(frame_c.columns, axis=1), frame_c
    return frame_r, frame_c


def selected(columns: Sequence[str] | str | None, reference: list[str],
              current: list[str]) -> list[str]:
    """The columns to report: ``columns=``, or all, the reference's first."""
    everything = reference + [c for c in current if c not in set(reference)]
    if columns is None:
        return everything
    wanted = [str(columns)] if isinstance(columns, str) else [str(c) for c in columns]
    unknown = [c for c in wanted if c not in set(everything)]
    if unknown:
        raise ValueError(f"columns {unknown} are in neither the reference nor the current data")
    return list(dict.fromkeys(wanted))


def tests_for(tests: str | Mapping[str, str] | None,
               names: list[str]) -> tuple[dict[str, str], str | None]:
    """``tests=`` as a ``{column: test}`` dict and a test for every column (one is empty)."""
    if tests is None:
        return {}, None
    if isinstance(tests, str):
        check_test(tests)
        return {}, tests
    unknown = [c for c in tests if str(c) not in names]
    if unknown:
        raise ValueError(f"tests= names columns {unknown} that are not compared")
    for test in tests.values():
        check_test(test)
    return {str(c): t for c, t in tests.items()}, None


def check_test(test: str) -> None:
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}: choose one of {', '.join(TESTS)}")


def thresholds_for(thresholds: float | Mapping[str, float] | None,
                    names: list[str]) -> dict[str, float]:
    """``thresholds=`` as a ``{column: cut-off}`` dict, each a positive number."""
    if thresholds is None:
        return {}
    items = (thresholds.items() if isinstance(thresholds, Mapping)
             else ((name, thresholds) for name in names))
    result = {}
    for name, value in items:
        if str(name) not in names:
            raise ValueError(f"thresholds= names column {name!r}, which is not compared")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                0 < value < math.inf):
            raise ValueError(f"threshold {value!r} for {name!r} must be a positive number")
        result[str(name)] = float(value)
    return result
