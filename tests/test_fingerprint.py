"""Content fingerprints and reference profiles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jupyter_mlops.data.fingerprint import fingerprint_data, fingerprint_file
from jupyter_mlops.data.profile import profile_of, schema_of


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


def test_fingerprint_ignores_memory_layout() -> None:
    values = np.random.default_rng(2).normal(size=(50, 4))
    c_ordered = pd.DataFrame(np.ascontiguousarray(values), columns=list("abcd"))
    f_ordered = pd.DataFrame(np.asfortranarray(values), columns=list("abcd"))
    by_columns = pd.DataFrame({k: values[:, i] for i, k in enumerate("abcd")})
    assert fingerprint_data(c_ordered) == fingerprint_data(f_ordered) == fingerprint_data(
        by_columns)


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
    assert len(columns["num"]["quantiles"]) == 201
    assert sum(columns["num"]["histogram"]["counts"]) == 3
    assert columns["num"]["distinct"] == {"values": [1.5, 2.5, 4.0], "counts": [1, 1, 1]}
    assert "tails" not in columns["num"]
    assert columns["text"]["type"] == "categorical" and columns["text"]["top"] == {"a": 2, "b": 1}
    assert columns["text"]["other"] == 0 and columns["text"]["sample_count"] == 3
    assert columns["cat"]["top"] == {"x": 3, "y": 1}
    assert columns["when"]["type"] == "datetime" and columns["when"]["nulls"] == 1
    assert columns["when"]["min"] == pd.Timestamp("2024-01-01").value  # NaT is no value
    assert columns["flag"]["type"] == "categorical"


def test_profile_of_large_data_is_sampled_but_counts_are_exact() -> None:
    big = pd.DataFrame({"v": np.arange(1_000_000, dtype=float)})
    big.loc[::10, "v"] = np.nan
    profile = profile_of(big)
    assert profile["rows"] == 1_000_000 and profile["sample_rows"] <= 20_000
    assert profile["columns"]["v"]["nulls"] == 100_000
    quantiles = profile["columns"]["v"]["quantiles"]
    assert quantiles[100] == pytest.approx(500_000, rel=0.01)
    assert profile["columns"]["v"]["sample_count"] == pytest.approx(18_000, rel=0.05)
    assert "distinct" not in profile["columns"]["v"]
    tails = profile["columns"]["v"]["tails"]  # order statistics 1, 2, 5, 10, 20, 50 from each end
    assert tails["low"] == sorted(tails["low"]) and tails["high"] == sorted(tails["high"])[::-1]
    assert tails["low"][0] < quantiles[1] < quantiles[-2] < tails["high"][0]


def test_profile_counts_infinities_and_keeps_few_distinct_values() -> None:
    frame = pd.DataFrame({"x": [1.0, np.inf, -np.inf, np.nan, 2.0, 2.0],
                          "n": pd.array([1, None, 3, 3, 3, 3], dtype="Int64"),
                          "d": pd.to_timedelta([1, 2, 2, 2, 2, None], unit="s")})
    columns = profile_of(frame)["columns"]
    assert (columns["x"]["nulls"], columns["x"]["infinite"]) == (1, 2)
    assert columns["x"]["distinct"] == {"values": [1.0, 2.0], "counts": [1, 2]}
    assert (columns["n"]["nulls"], columns["n"]["infinite"]) == (1, 0)
    assert columns["n"]["distinct"] == {"values": [1.0, 3.0], "counts": [1, 4]}
    assert columns["d"]["type"] == "timedelta" and columns["d"]["nulls"] == 1
    assert columns["d"]["distinct"] == {"values": [1e9, 2e9], "counts": [1, 4]}


@pytest.mark.parametrize("layout", [np.ascontiguousarray, np.asfortranarray])
def test_profile_counts_of_an_all_float_frame(layout) -> None:
    matrix = np.random.default_rng(2).normal(size=(1000, 4))
    matrix[::10, 1] = np.nan
    matrix[::25, 2] = np.inf
    matrix[1, 2] = np.nan
    matrix[3:5, 3] = 1e308  # their sum overflows: counted, and found finite
    columns = profile_of(pd.DataFrame(layout(matrix)))["columns"].values()
    assert [(c["nulls"], c["infinite"]) for c in columns] == [(0, 0), (100, 0), (1, 40), (0, 0)]


def test_profile_lists_a_thousand_categories_and_counts_the_rest() -> None:
    entry = profile_of(pd.Series([f"v{i % 1200}" for i in range(3600)]))["columns"]["value"]
    assert len(entry["top"]) == 1000 and entry["other"] == 600
    assert entry["sample_count"] == 3600 and entry["n_unique_sample"] == 1200


def test_constant_and_empty_columns() -> None:
    profile = profile_of(pd.DataFrame({"c": [3.0] * 5, "e": [np.nan] * 5}))
    assert profile["columns"]["c"]["histogram"]["counts"] == [5]
    assert profile["columns"]["e"]["mean"] is None


def test_schema() -> None:
    schema = schema_of(frame())
    assert schema["rows"] == 4
    assert [c["name"] for c in schema["columns"]] == list(frame().columns)
    assert schema["columns"][3]["categories"] == ["x", "y"]


def test_large_files_are_fingerprinted_by_a_bounded_sample(tmp_path: Path) -> None:
    data = bytes(range(256)) * 40_000  # ~10 MB
    (tmp_path / "a.bin").write_bytes(data)
    (tmp_path / "b.bin").write_bytes(data)
    edited = bytearray(data)
    edited[0] ^= 1
    (tmp_path / "c.bin").write_bytes(bytes(edited))
    small = {"limit": 1 << 20}
    sampled = fingerprint_file(tmp_path / "a.bin", **small)
    assert sampled == fingerprint_file(tmp_path / "b.bin", **small)
    assert sampled != fingerprint_file(tmp_path / "c.bin", **small)
    assert sampled != fingerprint_file(tmp_path / "a.bin")  # whole-file hash below the limit
