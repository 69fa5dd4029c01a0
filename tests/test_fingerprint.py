"""Content fingerprints and reference profiles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jupyter_mlops.fingerprint import fingerprint_data, fingerprint_file
from jupyter_mlops.profile import profile_of, schema_of


def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "num": [1.5, 2.5, np.nan, 4.0],
        "int": [1, 2, 3, 4],
        "text": ["a", "b", "a", None],
        "cat": pd.Categorical(["x", "y", "x", "x"]),
        "when": pd.to_datetime(["2024-01-01", "2024-01-02", None, "2024-01-04"]),
        "flag": [True, False, True, True],
    })


def test_equal_content_equal_fingerprint_across_copies() -> None:
    assert fingerprint_data(frame()) == fingerprint_data(frame().copy())


@pytest.mark.parametrize("change", [
    lambda f: f.assign(num=f["num"] + 1),
    lambda f: f.assign(text=["a", "b", "c", None]),
    lambda f: f[list(reversed(f.columns))],
    lambda f: f.rename(columns={"num": "number"}),
    lambda f: f.set_axis([10, 11, 12, 13]),
    lambda f: f.astype({"int": "float64"}),
    lambda f: f.iloc[:3],
])
def test_any_change_changes_the_fingerprint(change) -> None:
    assert fingerprint_data(change(frame())) != fingerprint_data(frame())


def test_series_arrays_and_files(tmp_path) -> None:
    assert fingerprint_data(pd.Series([1, 2])) == fingerprint_data(pd.Series([1, 2]))
    assert fingerprint_data(np.arange(6).reshape(2, 3)) != fingerprint_data(
        np.arange(6).reshape(3, 2))
    assert fingerprint_data(np.asfortranarray(np.ones((3, 2)))) == fingerprint_data(
        np.ones((3, 2)))
    (tmp_path / "a.csv").write_text("x\n1\n")
    (tmp_path / "b.csv").write_text("x\n1\n")
    assert fingerprint_file(tmp_path / "a.csv") == fingerprint_file(tmp_path / "b.csv")


def test_wide_numeric_frame_uses_the_block_and_matches_column_hashing() -> None:
    wide = pd.DataFrame(np.random.default_rng(1).normal(size=(1000, 5)), columns=list("abcde"))
    mixed = wide.assign(e=wide["e"].astype("float32"))
    assert fingerprint_data(wide) == fingerprint_data(wide.copy())
    assert fingerprint_data(wide) != fingerprint_data(mixed)


def test_profile_describes_every_column_type() -> None:
    profile = profile_of(frame())
    columns = profile["columns"]
    assert profile["rows"] == 4
    assert columns["num"]["type"] == "numeric" and columns["num"]["nulls"] == 1
    assert columns["num"]["min"] == 1.5 and columns["num"]["max"] == 4.0
    assert len(columns["num"]["quantiles"]) == 101
    assert sum(columns["num"]["histogram"]["counts"]) == 3
    assert columns["text"]["type"] == "categorical" and columns["text"]["top"] == {"a": 2, "b": 1}
    assert columns["cat"]["top"] == {"x": 3, "y": 1}
    assert columns["when"]["type"] == "datetime" and columns["when"]["nulls"] == 1
    assert columns["flag"]["type"] == "categorical"


def test_profile_of_large_data_is_sampled_but_counts_are_exact() -> None:
    big = pd.DataFrame({"v": np.arange(1_000_000, dtype=float)})
    big.loc[::10, "v"] = np.nan
    profile = profile_of(big)
    assert profile["rows"] == 1_000_000 and profile["sample_rows"] <= 20_000
    assert profile["columns"]["v"]["nulls"] == 100_000
    quantiles = profile["columns"]["v"]["quantiles"]
    assert quantiles[50] == pytest.approx(500_000, rel=0.01)


def test_constant_and_empty_columns() -> None:
    profile = profile_of(pd.DataFrame({"c": [3.0] * 5, "e": [np.nan] * 5}))
    assert profile["columns"]["c"]["histogram"]["counts"] == [5]
    assert profile["columns"]["e"]["mean"] is None


def test_schema() -> None:
    schema = schema_of(frame())
    assert schema["rows"] == 4
    assert [c["name"] for c in schema["columns"]] == list(frame().columns)
    assert schema["columns"][3]["categories"] == ["x", "y"]
