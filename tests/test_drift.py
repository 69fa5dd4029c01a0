"""The drift engine: exact against scipy and by hand, messy data, profiles, the store."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
import zlib

import numpy as np
import pandas as pd
import pytest
from conftest import Shell
from scipy import stats
from scipy.spatial.distance import jensenshannon

from jupyter_mlops import open_store
from jupyter_mlops.data.fingerprint import fingerprint_data
from jupyter_mlops.data.profile import profile_of, sample_positions, schema_of
from jupyter_mlops.drift import DriftReport, drift
from jupyter_mlops.drift.reference import reference_profile
from jupyter_mlops.entities import Entity
from jupyter_mlops.errors import DriftError, NotFoundError, RunNotFoundError
from jupyter_mlops.store import DatasetInfo, RunResult

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _seeded(request: pytest.FixtureRequest) -> None:
    """Each test draws its own fixed random data, whichever tests run before it."""
    global RNG
    RNG = np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


def normal(n: int, mean: float = 0.0, std: float = 1.0) -> np.ndarray:
    return RNG.normal(mean, std, n)


def choice(n: int, p: list[float], labels: str = "abcde") -> np.ndarray:
    return RNG.choice(list(labels[: len(p)]), n, p=p)


def row(report: DriftReport, column: str) -> pd.Series:
    frame = report.to_frame().set_index("column")
    return frame.loc[column]


def version_1(profile: dict) -> dict:
    """The same profile as format 1 wrote it: 101 quantiles, the top 50 categories, fewer
    counts, and a NaT counted as the smallest int64 in a datetime column's quantiles."""
    old = json.loads(json.dumps(profile))
    old["version"] = 1
    for entry in old["columns"].values():
        for key in ("distinct", "infinite", "sample_count", "other"):
            entry.pop(key, None)
        if entry["type"] == "datetime" and entry["nulls"]:
            # the lowest quantiles were NaT; the dates spread over the others
            share = entry["nulls"] / entry["count"]
            nat = round(100 * share)
            spread = (np.linspace(0, 1, 101)[nat:] - share) / (1 - share)
            dates = np.interp(spread.clip(0, 1), np.linspace(0, 1, 201), entry["quantiles"])
            entry["quantiles"] = [float(np.iinfo(np.int64).min)] * nat + dates.tolist()
        elif "quantiles" in entry:
            entry["quantiles"] = entry["quantiles"][::2]
        if "top" in entry:
            entry["top"] = dict(list(entry["top"].items())[:50])
    return old


# -- exact against scipy -----------------------------------------------------------------------
SAMPLES = {
    "normal": lambda n: normal(n),
    "shifted": lambda n: normal(n, 0.3),
    "wider": lambda n: normal(n, 0.0, 1.5),
    "ties": lambda n: RNG.integers(0, 40, n).astype(float),
    "heavy": lambda n: RNG.standard_cauchy(n),
    "spike": lambda n: np.where(RNG.random(n) < 0.6, 0.0, RNG.exponential(size=n)),
}


@pytest.mark.parametrize("n1,n2", [(7, 5), (300, 800), (900, 20_000), (30_000, 25_000)])
@pytest.mark.parametrize("shape", list(SAMPLES))
def test_ks_and_wasserstein_equal_scipy(n1: int, n2: int, shape: str) -> None:
    reference = SAMPLES["ties" if shape == "ties" else "normal"](n1)
    current = SAMPLES[shape](n2)
    report = drift(pd.DataFrame({"x": reference}), pd.DataFrame({"x": current}), tests="ks")
    expected = stats.ks_2samp(reference, current)
    assert row(report, "x")["statistic"] == pytest.approx(expected.statistic, abs=1e-9)
    pooled = np.concatenate((reference, current))
    if np.unique(pooled).size == pooled.size or (n1 + n2) * (min(n1, n2) + 1) > 4_000_000:
        assert row(report, "x")["p_value"] == pytest.approx(expected.pvalue, abs=1e-6)
    else:  # with ties scipy's p-value assumes none and is too large (tests/test_calibration)
        assert row(report, "x")["p_value"] <= expected.pvalue + 1e-9
    report = drift(pd.DataFrame({"x": reference}), pd.DataFrame({"x": current}),
                   tests="wasserstein")
    normed = stats.wasserstein_distance(reference, current) / max(np.std(reference), 0.001)
    assert row(report, "x")["statistic"] == pytest.approx(normed, rel=1e-9)


def test_ks_by_hand() -> None:
    # F_ref − F_cur at 1, 2, 3, 4: 1/3, 2/3 − 1/4, 1 − 2/4, 1 − 3/4: the largest is 1/2
    report = drift(pd.Series([1.0, 2, 3]), pd.Series([2.0, 3, 4, 5]), tests="ks")
    assert row(report, "value")["statistic"] == pytest.approx(0.5, abs=1e-12)
    # 2 and 3 are on both sides: 17 of the C(7, 3) = 35 ways to split the 7 values reach
    # D ≥ 1/2 (scipy's 23/35 assumes no ties)
    assert row(report, "value")["p_value"] == pytest.approx(17 / 35, abs=1e-12)


def test_wasserstein_by_hand() -> None:
    # ∫|F_ref − F_cur| = 1/3 + 5/12 + 1/2 + 1/4 = 1.5 over unit steps; std([1, 2, 3]) = √(2/3)
    report = drift(pd.Series([1.0, 2, 3]), pd.Series([2.0, 3, 4, 5]), tests="wasserstein")
    assert row(report, "value")["statistic"] == pytest.approx(1.5 / math.sqrt(2 / 3), rel=1e-12)
    assert math.isnan(row(report, "value")["p_value"])


def test_wasserstein_of_a_constant_reference_is_normed_by_a_thousandth() -> None:
    report = drift(pd.Series([2.0] * 10), pd.Series([2.5] * 10), tests="wasserstein")
    assert row(report, "value")["statistic"] == pytest.approx(0.5 / 0.001)


def categories(ref: dict[str, int], cur: dict[str, int]) -> tuple[pd.Series, pd.Series]:
    return (pd.Series([k for k, n in ref.items() for _ in range(n)], name="c"),
            pd.Series([k for k, n in cur.items() for _ in range(n)], name="c"))


def test_chi2_by_hand_and_equal_to_scipy_contingency() -> None:
    # pooled expected counts are 20 everywhere: 4 cells off by 10 → 4 · 100 / 20 = 20, 2 dof
    ref, cur = categories({"a": 10, "b": 20, "c": 30}, {"a": 30, "b": 20, "c": 10})
    result = row(drift(ref, cur, tests="chi2"), "c")
    assert result["statistic"] == pytest.approx(20.0)
    assert result["p_value"] == pytest.approx(math.exp(-10.0))
    scipy_result = stats.chi2_contingency([[10, 20, 30], [30, 20, 10]], correction=False)
    assert result["statistic"] == pytest.approx(scipy_result.statistic, rel=1e-12)
    assert result["p_value"] == pytest.approx(scipy_result.pvalue, rel=1e-12)


def test_z_test_by_hand_and_its_square_is_chi2() -> None:
    ref, cur = categories({"a": 10, "b": 10}, {"a": 5, "b": 15})
    z = (0.5 - 0.25) / math.sqrt(0.375 * 0.625 * (1 / 20 + 1 / 20))
    result = row(drift(ref, cur, tests="z"), "c")
    assert result["statistic"] == pytest.approx(z)
    assert result["p_value"] == pytest.approx(2 * stats.norm.sf(z))
    chi2 = row(drift(ref, cur, tests="chi2"), "c")
    assert result["statistic"] ** 2 == pytest.approx(chi2["statistic"])
    assert result["p_value"] == pytest.approx(chi2["p_value"])


def test_distances_by_hand() -> None:
    ref, cur = categories({"a": 50, "b": 50}, {"a": 25, "b": 75})
    r, c = np.array([0.5, 0.5]), np.array([0.25, 0.75])
    m = (r + c) / 2
    js = math.sqrt((np.sum(r * np.log(r / m)) + np.sum(c * np.log(c / m))) / 2)
    expected = {
        "psi": (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5),
        "hellinger": math.sqrt(1 - math.sqrt(0.125) - math.sqrt(0.375)),
        "jensenshannon": js,
    }
    for test, value in expected.items():
        result = row(drift(ref, cur, tests=test), "c")
        assert result["statistic"] == pytest.approx(value, rel=1e-12), test
        assert math.isnan(result["p_value"])
    assert js == pytest.approx(jensenshannon(r, c))


def test_psi_counts_an_empty_category_as_a_ten_thousandth() -> None:
    ref, cur = categories({"a": 100}, {"a": 50, "b": 50})
    expected = (0.5 - 1) * math.log(0.5 / 1) + (0.5 - 1e-4) * math.log(0.5 / 1e-4)
    assert row(drift(ref, cur, tests="psi"), "c")["statistic"] == pytest.approx(expected)


def test_binned_distances_of_numbers_use_the_reported_histogram() -> None:
    reference, current = normal(5000), normal(4000, 0.2, 1.3)
    reference[:3] = [40.0, -35.0, 60.0]  # outliers land in tail bins, not in the 20 core bins
    report = drift(pd.Series(reference), pd.Series(current))
    histogram = report.distributions["value"]
    assert histogram.edges is not None and len(histogram.edges) == len(histogram.reference) + 1
    assert histogram.edges[0] == -35.0 and histogram.edges[-1] == 60.0
    assert len(histogram.reference) == 22
    counts_r = np.histogram(reference, histogram.edges)[0]
    counts_c = np.histogram(current, histogram.edges)[0]
    r, c = counts_r / 5000, counts_c / 4000
    np.testing.assert_allclose(histogram.reference, r, rtol=1e-15)
    np.testing.assert_allclose(histogram.current, c, rtol=1e-15)
    js = row(drift(pd.Series(reference), pd.Series(current), tests="jensenshannon"), "value")
    assert js["statistic"] == pytest.approx(jensenshannon(r, c), rel=1e-12)
    hellinger = row(drift(pd.Series(reference), pd.Series(current), tests="hellinger"), "value")
    assert hellinger["statistic"] == pytest.approx(math.sqrt(1 - np.sum(np.sqrt(r * c))))
    chi2 = row(drift(pd.Series(reference), pd.Series(current), tests="chi2"), "value")
    keep = (counts_r + counts_c) > 0
    assert chi2["statistic"] == pytest.approx(stats.chi2_contingency(
        [counts_r[keep], counts_c[keep]], correction=False).statistic)


def test_few_distinct_numbers_are_binned_by_value() -> None:
    reference, current = RNG.integers(0, 8, 3000), RNG.integers(0, 9, 3000)
    result = row(drift(pd.Series(reference), pd.Series(current), tests="chi2"), "value")
    table = [np.bincount(reference, minlength=9), np.bincount(current, minlength=9)]
    assert result["statistic"] == pytest.approx(
        stats.chi2_contingency(table, correction=False).statistic)


# -- which test, overrides, thresholds, verdict ----------------------------------------------
@pytest.mark.parametrize("rows,values,expected", [
    (1000, normal, "ks"), (1001, normal, "wasserstein"),
    (500, lambda n: RNG.integers(0, 5, n), "chi2"), (500, lambda n: RNG.integers(0, 2, n), "z"),
    (5000, lambda n: RNG.integers(0, 5, n), "jensenshannon"),
    (5000, lambda n: RNG.integers(0, 6, n), "wasserstein"),
    (500, lambda n: choice(n, [0.5, 0.3, 0.2]), "chi2"),
    (500, lambda n: choice(n, [0.5, 0.5]), "z"), (500, lambda n: RNG.random(n) < 0.5, "z"),
    (5000, lambda n: choice(n, [0.5, 0.5]), "jensenshannon"),
])
def test_default_test_by_type_and_size(rows, values, expected) -> None:
    report = drift(pd.DataFrame({"x": values(rows)}), pd.DataFrame({"x": values(300)}))
    assert row(report, "x")["test"] == expected
    assert row(report, "x")["threshold"] == (0.05 if expected in ("ks", "chi2", "z") else 0.1)


def test_reference_size_counts_present_values_only() -> None:
    reference = np.concatenate([normal(900), [np.nan] * 500])
    assert row(drift(pd.Series(reference), pd.Series(normal(50))), "value")["test"] == "ks"


def mixed(n: int, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame({"a": normal(n, shift), "b": normal(n), "c": normal(n),
                         "d": choice(n, [0.6, 0.3, 0.1] if not shift else [0.2, 0.3, 0.5])})


def test_one_test_for_every_column_it_applies_to() -> None:
    report = drift(mixed(2000), mixed(2000), tests="psi")
    assert set(report.to_frame()["test"]) == {"psi"}
    report = drift(mixed(2000), mixed(2000), tests="ks")
    assert row(report, "d")["test"] == "jensenshannon"
    assert "ks does not apply" in row(report, "d")["note"]
    assert row(report, "a")["test"] == "ks"


def test_tests_per_column() -> None:
    report = drift(mixed(2000), mixed(2000), tests={"a": "hellinger", "d": "chi2"})
    assert list(report.to_frame()["test"]) == ["hellinger", "wasserstein", "wasserstein", "chi2"]


@pytest.mark.parametrize("tests,message", [
    ("t-test", "unknown test"), ({"a": "anderson"}, "unknown test"),
    ({"zz": "ks"}, "not compared"), ({"d": "ks"}, "categorical"),
    ({"d": "wasserstein"}, "categorical"), ({"d": "z"}, "two categories"),
    ({"a": "z"}, "two categories"),
])
def test_bad_tests_are_refused(tests, message) -> None:
    with pytest.raises(ValueError, match=message):
        drift(mixed(200), mixed(200), tests=tests)


def test_thresholds_override_cut_offs() -> None:
    reference, current = mixed(3000), mixed(3000, shift=0.3)
    assert row(drift(reference, current), "a")["drifted"]
    assert not row(drift(reference, current, thresholds=1.0), "a")["drifted"]
    report = drift(reference, current, thresholds={"a": 0.5, "d": 0.01})
    assert row(report, "a")["threshold"] == 0.5 and not row(report, "a")["drifted"]
    assert row(report, "d")["threshold"] == 0.01 and row(report, "d")["drifted"]
    assert row(report, "b")["threshold"] == 0.1
    small = drift(reference.iloc[:500], current.iloc[:500], thresholds={"a": 1e-30})
    assert row(small, "a")["test"] == "ks" and not row(small, "a")["drifted"]


@pytest.mark.parametrize("thresholds", [-0.1, 0, "0.1", True, math.inf, {"zz": 0.1}])
def test_bad_thresholds_are_refused(thresholds) -> None:
    with pytest.raises(ValueError):
        drift(mixed(100), mixed(100), thresholds=thresholds)


def test_dataset_verdict_uses_the_share_of_drifted_columns() -> None:
    reference = mixed(3000)
    current = mixed(3000, shift=0.5)  # a and d drift, b and c do not
    report = drift(reference, current)
    assert report.drifted_columns == ["a", "d"]
    assert report.share_drifted == 0.5 and report.drifted
    assert not drift(reference, current, share=0.75).drifted
    assert not drift(reference, mixed(3000)).drifted
    assert drift(reference, current, columns=["a", "b"], share=0.5).drifted
    for bad in (0, 1.5, -1):
        with pytest.raises(ValueError, match="share"):
            drift(reference, current, share=bad)


# -- real shifts are flagged, none are not -------------------------------------------------
SHIFTS = {
    "mean": lambda n: pd.Series(normal(n, 0.4)),
    "variance": lambda n: pd.Series(normal(n, 0.0, 2.0)),
    "category mix": lambda n: pd.Series(choice(n, [0.2, 0.3, 0.5])),
    "missingness": lambda n: pd.Series(np.where(RNG.random(n) < 0.4, np.nan, normal(n))),
    "new category": lambda n: pd.Series(choice(n, [0.3, 0.2, 0.1, 0.4], labels="abcz")),
}
BASELINE = {"mean": normal, "variance": normal, "missingness": normal,
            "category mix": lambda n: choice(n, [0.6, 0.3, 0.1]),
            "new category": lambda n: choice(n, [0.6, 0.3, 0.1])}


@pytest.mark.parametrize("rows", [600, 5000])  # p-value tests, then distances
@pytest.mark.parametrize("shift", list(SHIFTS))
def test_shifts_are_flagged_and_same_distributions_are_not(rows: int, shift: str) -> None:
    reference = pd.Series(BASELINE[shift](rows))
    # p-value tests (small references) alarm on 5 % of same-distribution samples by design:
    # there, the same distribution is the reference reshuffled (the profile is still rebuilt)
    same = reference.sample(frac=1.0) if rows < 1000 else pd.Series(BASELINE[shift](rows))
    shifted = SHIFTS[shift](rows)
    assert not drift(reference, same).drifted
    assert drift(reference, shifted).drifted
    profile = profile_of(reference)
    assert not drift(profile, same).drifted
    assert drift(profile, shifted).drifted


def test_missingness_drift_is_explained() -> None:
    reference = pd.Series(normal(5000))
    current = pd.Series(np.where(RNG.random(5000) < 0.4, np.nan, normal(5000)))
    result = row(drift(reference, current), "value")
    assert result["drifted"] and result["statistic"] < 0.1  # the values themselves did not move
    assert result["nan_share_current"] == pytest.approx(0.4, abs=0.03)
    assert "missing values 0.0% →" in result["note"]


# -- messy data ------------------------------------------------------------------------------
def test_nan_and_inf_are_reported_as_shares_and_left_out() -> None:
    reference, current = normal(800), normal(900)
    reference[:80] = np.nan
    current[:45] = np.inf
    current[45:90] = -np.inf
    current[90:180] = np.nan
    result = row(drift(pd.Series(reference), pd.Series(current), tests="ks"), "value")
    assert result["nan_share_reference"] == pytest.approx(0.1)
    assert result["nan_share_current"] == pytest.approx(0.2)
    assert "infinite values left out (0 reference, 90 current)" in result["note"]
    expected = stats.ks_2samp(reference[80:], current[180:])
    assert result["statistic"] == pytest.approx(expected.statistic)
    assert result["p_value"] == pytest.approx(expected.pvalue, abs=1e-6)


def test_all_missing_and_constant_columns_are_reported() -> None:
    reference = pd.DataFrame({"empty": [np.nan] * 50, "gone": normal(50), "const": 3.0,
                              "moved": 3.0, "text_const": "x"})
    current = pd.DataFrame({"empty": [np.nan] * 40, "gone": [np.nan] * 40, "const": 3.0,
                            "moved": 4.0, "text_const": "x"})
    report = drift(reference, current)
    assert "all values missing on both sides" in row(report, "empty")["note"]
    assert not row(report, "empty")["drifted"] and row(report, "empty")["test"] == ""
    assert "all values missing in current" in row(report, "gone")["note"]
    assert row(report, "gone")["drifted"]  # every value went missing
    assert row(report, "const")["test"] == "z" and not row(report, "const")["drifted"]
    assert "constant" in row(report, "const")["note"]
    assert row(report, "moved")["drifted"]
    assert not row(report, "text_const")["drifted"]


def test_unseen_categories_in_current() -> None:
    reference = pd.Series(choice(3000, [0.5, 0.3, 0.2]))
    current = pd.Series(choice(3000, [0.4, 0.2, 0.1, 0.2, 0.1], labels="abcxy"))
    result = row(drift(reference, current), "value")
    assert "2 categories not in reference: 'x', 'y'" in result["note"]
    assert result["drifted"]
    shares = drift(reference, current).distributions["value"]
    assert shares.labels[:3] == ("a", "b", "c") and set(shares.labels[3:]) == {"x", "y"}
    assert shares.reference[3:].sum() == 0 and shares.current.sum() == pytest.approx(1.0)


def every_dtype(n: int, shift: bool = False) -> pd.DataFrame:
    start = pd.Timestamp("2024-01-01") + (pd.Timedelta(days=30) if shift else pd.Timedelta(0))
    return pd.DataFrame({
        "int": RNG.integers(0, 1000, n) + (300 if shift else 0),
        "uint8": RNG.integers(0, 200, n).astype("uint8"),
        "bool": RNG.random(n) < (0.8 if shift else 0.3),
        "when": start + pd.to_timedelta(RNG.integers(0, 86_400 * 10, n), unit="s"),
        "when_utc": (start + pd.to_timedelta(RNG.integers(0, 86_400 * 10, n), unit="s")
                     ).tz_localize("UTC"),
        "took": pd.to_timedelta(RNG.exponential(3 if shift else 1, n), unit="s"),
        "cat": pd.Categorical(choice(n, [0.1, 0.2, 0.7] if shift else [0.7, 0.2, 0.1]),
                              categories=["a", "b", "c", "unused"]),
        "str": pd.Series(choice(n, [0.2, 0.8] if shift else [0.8, 0.2]), dtype="str"),
        "nullable": pd.Series(RNG.integers(0, 100, n) * (2 if shift else 1), dtype="Int64"),
        "object": pd.Series(choice(n, [0.1, 0.9] if shift else [0.9, 0.1]), dtype=object),
    })


@pytest.mark.parametrize("rows", [700, 4000])
def test_every_dtype_is_compared(rows: int) -> None:
    reference = every_dtype(rows)
    # small references get p-value tests, which alarm on 5 % of same-distribution columns
    # by design: there, the same distribution is the reference itself, reshuffled
    same = drift(reference, reference.sample(frac=1.0) if rows < 1000 else every_dtype(rows))
    shifted = drift(reference, every_dtype(rows, shift=True))
    kinds = same.to_frame().set_index("column")["kind"].to_dict()
    assert kinds["when"] == kinds["when_utc"] == "datetime" and kinds["took"] == "timedelta"
    assert kinds["int"] == kinds["nullable"] == "numeric"
    assert kinds["bool"] == kinds["cat"] == kinds["str"] == "categorical"
    assert same.drifted_columns == []
    assert shifted.drifted_columns == list(reference.columns.drop("uint8"))
    assert not same.to_frame()["note"].str.contains("differ").any()


def test_datetimes_are_compared_as_nanoseconds() -> None:
    reference, current = every_dtype(600)["when"], every_dtype(800)["when"]
    result = row(drift(reference, current, tests="ks"), "when")
    expected = stats.ks_2samp(reference.astype("int64"), current.astype("int64"))
    assert result["statistic"] == pytest.approx(expected.statistic)
    assert drift(reference, current).distributions["when"].kind == "datetime"


def test_columns_on_one_side_are_reported_not_tested() -> None:
    reference = mixed(500).assign(old=1.0)
    current = reference.drop(columns=["c", "old"]).assign(new="x")
    frame = drift(reference, current).to_frame().set_index("column")
    assert list(frame.index) == ["a", "b", "c", "d", "old", "new"]
    assert frame.loc["c", "note"] == "only in reference: not compared"
    assert frame.loc["new", "note"] == "only in current: not compared"
    assert frame.loc["new", "test"] == "" and not frame.loc["new", "drifted"]
    assert drift(reference, current).share_drifted == 0.0
    assert [c.column for c in drift(reference, current).compared] == ["a", "b", "d"]


@pytest.mark.parametrize("reference,current,kind,note", [
    (pd.Series(RNG.integers(0, 50, 500)), pd.Series(normal(500) * 10 + 25), "numeric", ""),
    (pd.Series(RNG.integers(0, 50, 500)), pd.Series(RNG.integers(0, 50, 500).astype(str)),
     "numeric", "types differ: int64 in reference"),
    (pd.Series(normal(500)), pd.Series(choice(500, [0.5, 0.5])), "categorical",
     "compared as text categories"),
    (pd.Series(RNG.random(500) < 0.5), pd.Series(RNG.integers(0, 2, 500)), "numeric",
     "compared as numeric"),
    (pd.Series(pd.date_range("2024-01-01", periods=500, freq="h")),
     pd.Series(pd.date_range("2024-01-01", periods=500, freq="h").astype(str)), "datetime",
     "compared as datetime"),
])
def test_mismatched_dtypes(reference, current, kind, note) -> None:
    result = row(drift(reference, current), "value")
    assert result["kind"] == kind
    assert note in result["note"]
    assert result["test"]


@pytest.mark.filterwarnings("error")
def test_huge_values_do_not_overflow() -> None:
    reference, current = normal(2000), normal(2000, 0.3)
    expected = stats.wasserstein_distance(reference, current) / np.std(reference)
    raw = drift(pd.Series(reference * 1e300), pd.Series(current * 1e300), tests="wasserstein")
    assert row(raw, "value")["statistic"] == pytest.approx(expected, rel=1e-9)
    stored = drift(profile_of(pd.Series(reference * 1e300)), pd.Series(current * 1e300))
    assert row(stored, "value")["statistic"] == pytest.approx(expected, rel=0.05)


def test_unhashable_values_are_compared_as_text() -> None:
    reference = pd.Series([[1, 2], [3]] * 300)
    current = pd.Series([[1, 2], [4]] * 300)
    assert row(drift(reference, current), "value")["drifted"]


@pytest.mark.parametrize("bad,message", [
    (pd.DataFrame({"x": []}), "no rows"), (np.empty((0, 3)), "no rows"),
    (np.zeros((3, 2, 2)), "3-D array"), ("01HXYZ", "reference_profile"),
    ({"rows": 3}, "not a profile"), ({"version": 9, "rows": 3, "columns": {}}, "newer"),
    ({"version": 2, "rows": 0, "columns": {}}, "no rows"), (pd.DataFrame(index=[0]), "columns"),
    (pd.DataFrame([[1, 2]], columns=["a", "a"]), "duplicate"),
])
def test_unusable_reference_is_a_clear_error(bad, message) -> None:
    with pytest.raises(DriftError, match=message):
        drift(bad, pd.DataFrame({"x": [1.0]}))


def test_unusable_current_is_a_clear_error() -> None:
    with pytest.raises(DriftError, match="no rows"):
        drift(pd.DataFrame({"x": [1.0]}), pd.DataFrame({"x": []}))
    with pytest.raises(DriftError, match="only the reference"):
        drift(pd.DataFrame({"x": [1.0]}), profile_of(pd.DataFrame({"x": [1.0]})))


def test_arrays_take_the_other_side_names() -> None:
    reference = mixed(400)[["a", "b", "c"]]
    report = drift(reference, reference.to_numpy())
    assert [c.column for c in report.columns] == ["a", "b", "c"]
    assert not report.drifted
    assert [c.column for c in drift(normal(300), normal(300)).columns] == ["value"]
    assert [c.column for c in drift(reference["a"], reference["b"].rename("zz")).columns] == ["a"]
    with pytest.raises(ValueError, match="neither"):
        drift(reference, reference, columns=["zz"])


# -- against a stored profile ---------------------------------------------------------------
def test_profile_keeps_exact_values_so_drift_from_it_is_exact() -> None:
    reference = pd.DataFrame({"grade": RNG.integers(0, 150, 900), "text": choice(900, [0.5, 0.5])})
    current = pd.DataFrame({"grade": RNG.integers(10, 160, 700),
                            "text": choice(700, [0.4, 0.6])})
    for test in ("ks", "wasserstein", "psi"):
        raw = row(drift(reference, current, tests={"grade": test}), "grade")
        stored = row(drift(profile_of(reference), current, tests={"grade": test}), "grade")
        assert stored["statistic"] == pytest.approx(raw["statistic"], rel=1e-12), test
        assert stored["note"] == ""
    raw, stored = drift(reference, current), drift(profile_of(reference), current)
    pd.testing.assert_frame_equal(raw.to_frame(), stored.to_frame())
    assert stored.reference_source == "profile" and raw.reference_source == "data"


def test_profile_of_large_data_approximates_and_says_so() -> None:
    reference = pd.DataFrame({"x": normal(60_000), "y": normal(60_000)})
    current = pd.DataFrame({"x": normal(40_000), "y": normal(40_000, 0.25)})
    raw = drift(reference, current, tests="ks")
    stored = drift(json.loads(json.dumps(profile_of(reference))), current, tests="ks")
    assert row(raw, "y")["drifted"] and row(stored, "y")["drifted"]
    # a 20,000-row sample, rebuilt from 201 quantiles: the KS statistic moves by the sample's
    # own error (≈ 1/√20000) plus at most 1/200
    for column in ("x", "y"):
        assert abs(row(stored, column)["statistic"] - row(raw, column)["statistic"]) < 0.02
    assert "profile sample, rebuilt" in row(stored, "x")["note"]
    assert "60,000 rows, summarised from a 20,000-row sample" in stored.note
    assert "1/200" in stored.note
    unnamed = drift(profile_of(reference), current.to_numpy(), tests="ks")
    assert unnamed.to_frame()["column"].tolist() == ["x", "y"]
    assert unnamed.drifted_columns == stored.drifted_columns


def test_rebuilt_reference_stays_within_the_documented_bound() -> None:
    # up to 20,000 rows the profile's sample is the data: only the rebuilding differs, and
    # every CDF value of the rebuilt sample is within 1/200 (+ 2 values) of the data's
    reference = pd.Series(RNG.lognormal(size=15_000))
    for current in (pd.Series(RNG.lognormal(0.0, 1, 9_000)),
                    pd.Series(RNG.lognormal(0.1, 1.2, 9_000))):
        raw = row(drift(reference, current, tests="ks"), "value")["statistic"]
        stored = row(drift(profile_of(reference), current, tests="ks"), "value")["statistic"]
        assert abs(stored - raw) <= 1 / 200 + 2 / 15_000


def test_outliers_in_the_profile_sample_raise_no_false_alarm() -> None:
    reference = normal(100_000)
    reference[sample_positions(100_000)[:3]] = 1e6  # in the rows the profile summarises
    profile = profile_of(pd.Series(reference))
    assert profile["columns"]["value"]["tails"]["high"][:2] == [1e6, 1e6]
    current = pd.Series(normal(50_000))
    assert row(drift(profile, current), "value")["statistic"] < 0.05
    assert row(drift(pd.Series(reference), current), "value")["statistic"] < 0.05


@pytest.mark.parametrize("rows", [800, 30_000])
def test_drift_from_profile_agrees_with_raw_on_clear_verdicts(rows: int) -> None:
    reference = every_dtype(rows).assign(num=normal(rows), gap=normal(rows))
    reference.loc[reference.index[::7], "gap"] = np.nan
    for current in (every_dtype(rows // 2).assign(num=normal(rows // 2), gap=normal(rows // 2)),
                    every_dtype(rows // 2, shift=True).assign(num=normal(rows // 2, 1.0),
                                                              gap=np.nan)):
        raw, stored = drift(reference, current), drift(profile_of(reference), current)
        assert stored.drifted_columns == raw.drifted_columns
        frame_r, frame_s = raw.to_frame(), stored.to_frame()
        assert list(frame_s["test"]) == list(frame_r["test"])
        np.testing.assert_allclose(frame_s["nan_share_reference"],
                                   frame_r["nan_share_reference"])


def test_version_1_profiles_are_still_read() -> None:
    reference = every_dtype(30_000).assign(num=normal(30_000), few=RNG.integers(0, 4, 30_000))
    reference.loc[::10, "when"] = pd.NaT
    old = version_1(profile_of(reference))
    same, shifted = every_dtype(5000), every_dtype(5000, shift=True)
    same = same.assign(num=normal(5000), few=RNG.integers(0, 4, 5000))
    same.loc[::10, "when"] = pd.NaT
    shifted = shifted.assign(num=normal(5000, 1.0), few=RNG.integers(2, 6, 5000))
    assert drift(old, same).drifted_columns == []
    assert drift(old, shifted).drifted_columns == drift(reference, shifted).drifted_columns
    assert "(format 1)" in drift(old, same).note and "101 quantiles" in drift(old, same).note
    when = drift(old, same).distributions["when"]
    assert when.edges is not None and when.edges[0] > 1e18  # NaT is not a value


def test_categories_the_profile_did_not_list_are_one_group() -> None:
    labels = np.array([f"c{i:04d}" for i in range(1500)])
    head = np.array([0.3, 0.2, 0.1, 0.1, 0.1, 0.05, 0.02, 0.01, 0.01, 0.01])
    usual = np.concatenate([head, np.full(1490, 0.1 / 1490)])
    usual /= usual.sum()  # ten frequent categories and a long tail of rare ones
    reference = pd.Series(labels[RNG.choice(1500, 20_000, p=usual)])
    profile = profile_of(reference)
    assert len(profile["columns"]["value"]["top"]) == 1000
    assert profile["columns"]["value"]["other"] > 0
    same = pd.Series(labels[RNG.choice(1500, 50_000, p=usual)])
    result = row(drift(profile, same), "value")
    assert "'(other)' group" in result["note"]
    shares = drift(profile, same).distributions["value"]
    listed = set(profile["columns"]["value"]["top"])
    assert shares.labels[-1] == "(other)" and set(shares.labels[:-1]) == listed
    assert shares.current[-1] == pytest.approx((~same.isin(listed)).mean())
    moved = np.concatenate([head[::-1], np.full(1490, 0.1 / 1490)])
    shifted = pd.Series(labels[RNG.choice(1500, 50_000, p=moved / moved.sum())])
    assert row(drift(profile, shifted), "value")["drifted"]
    assert row(drift(profile, shifted), "value")["statistic"] > 3 * result["statistic"]


def test_profile_with_a_type_change() -> None:
    profile = profile_of(pd.Series(RNG.integers(0, 3, 500)))
    result = row(drift(profile, pd.Series(choice(500, [0.5, 0.5]))), "value")
    assert result["drifted"] and "compared as text categories" in result["note"]
    values = pd.Series(RNG.integers(0, 3, 500))
    profile = profile_of(values)
    result = row(drift(profile, values.sample(frac=1.0).astype(str)), "value")
    assert not result["drifted"] and "compared as numeric" in result["note"]


# -- the run's training data, through a real store ----------------------------------------
def record_run(store, name: str, inputs: dict[str, object]) -> str:
    run_id = f"01RUN{name.upper():0<21}"[:26]
    store.start_run(run_id, name=name, experiment="drift", source="fit", source_hash="h",
                    started_at=time.time())
    datasets, entities = [], []
    for variable, value in inputs.items():
        fingerprint = fingerprint_data(value)
        datasets.append(DatasetInfo(fingerprint, type(value).__name__, tuple(value.shape),
                                    schema_of(value), profile_of(value)))
        entities.append(Entity("dataset", variable, fingerprint, {"shape": list(value.shape)}))
    store.finish_run(run_id, RunResult("finished", time.time(), inputs=entities,
                                       datasets=datasets))
    return run_id


def test_reference_profile_is_the_largest_2d_input(tmp_path) -> None:
    train = mixed(3000)
    test = mixed(1000)
    with open_store(tmp_path / "store") as store:
        run_id = record_run(store, "fit", {"y_train": train["a"], "X_train": train,
                                           "X_test": test})
        assert reference_profile(store, run_id) == json.loads(json.dumps(profile_of(train)))
        assert reference_profile(store, "fit", name="X_test")["rows"] == 1000
        assert reference_profile(store, run_id[:12], name="y_train")["rows"] == 3000
        assert not drift(reference_profile(store, "fit"), mixed(2000)).drifted
        assert drift(reference_profile(store, "fit"), mixed(2000, 0.5)).drifted_columns == [
            "a", "d"]
        with pytest.raises(NotFoundError, match="no dataset named 'X_val'.*X_train"):
            reference_profile(store, "fit", name="X_val")
        record_run(store, "series", {"y": train["a"]})
        with pytest.raises(NotFoundError, match="no 2-D dataset"):
            reference_profile(store, "series")
        with pytest.raises(RunNotFoundError):
            reference_profile(store, "nope")


def test_drift_of_a_tracked_run_in_the_real_shell(shell: Shell) -> None:
    shell.run("""
import numpy as np, pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
X, y = load_breast_cancer(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
""")
    cell = shell.run("""%%track cancer-lr --eval X_test y_test
from sklearn.linear_model import LogisticRegression
model = LogisticRegression(max_iter=5000).fit(X_train, y_train)
""")
    assert cell.result.success
    cell = shell.run("""
from jupyter_mlops.drift import drift
from jupyter_mlops.drift.reference import reference_profile
from jupyter_mlops import open_store
reference = reference_profile(open_store(), "cancer-lr")
same = drift(reference, X_test)
moved = drift(reference, X_test * 1.5)
""")
    assert cell.result.success, cell.stderr
    assert shell.ns["reference"]["rows"] == len(shell.ns["X_train"])
    assert not shell.ns["same"].drifted
    assert shell.ns["moved"].drifted


# -- what a notebook shows -------------------------------------------------------------------
def test_html_view_is_compact_self_contained_and_highlights_drift() -> None:
    report = drift(mixed(3000), mixed(3000, 0.5).assign(b=np.nan))
    page = report._repr_html_()
    assert "dataset drifted: 3 of 4 columns drifted; dataset drift needs 2" in page
    assert "The dataset drifts when 2 of 4 columns do (share 50%)." in page
    assert page.count('<tr class="drifted" style="background:#fde2e1">') == 3
    assert "<script" not in page and "http" not in page and "<link" not in page
    assert "missing values 0.0% → 100.0%" in page
    assert repr(report).startswith("<DriftReport dataset drifted: 3 of 4")


def test_distributions_hold_what_a_chart_needs() -> None:
    report = drift(mixed(3000), mixed(2000, 0.5))
    numeric, categorical = report.distributions["a"], report.distributions["d"]
    assert numeric.kind == "numeric" and numeric.labels == ()
    assert numeric.edges is not None and np.all(np.diff(numeric.edges) > 0)
    assert numeric.reference.sum() == pytest.approx(1) and numeric.current.sum() == pytest.approx(1)
    assert (numeric.reference_count, numeric.current_count) == (3000, 2000)
    assert categorical.kind == "categorical" and categorical.edges is None
    assert categorical.labels == ("a", "b", "c")  # the reference's most frequent first
    assert categorical.reference[0] > categorical.reference[1] > categorical.reference[2]
    assert categorical.current.sum() == pytest.approx(1) and categorical.current_count == 2000


def test_drift_imports_no_front_end() -> None:
    code = ("import sys, jupyter_mlops.drift, jupyter_mlops.drift.reference\n"
            "print(','.join(m for m in ('IPython', 'plotly', 'ipywidgets', 'tornado') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == ""
