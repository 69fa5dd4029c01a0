"""Data drift between reference data (or its stored profile) and current data, per column.

Each column gets the test the best tools pick by type and size (Evidently's defaults):

============================  ========================  ===========================
column                        reference ≤ 1000 values   reference > 1000 values
============================  ========================  ===========================
numeric, > 5 distinct values  ``ks`` (p < 0.05)         ``wasserstein`` (≥ 0.1)
≤ 5 values, or categorical    ``chi2``; ``z`` if two    ``jensenshannon`` (≥ 0.1)
============================  ========================  ===========================

``psi`` and ``hellinger`` (≥ 0.1) are available for every column. The KS statistic equals
``scipy.stats.ks_2samp``'s, and so does its p-value unless values are tied: scipy's assumes
no ties and is then too large (penguins' flipper lengths, whole millimetres, were flagged in
2.7 % of random splits at 5 %), so with ties it is the exact p-value of the permutation test
(up to ``(n1 + n2) · min(n1, n2)`` of 4 million). Chi-square is
``scipy.stats.chi2_contingency`` without continuity correction on the 2 × k table;
``wasserstein`` is ``scipy.stats.wasserstein_distance`` divided by the reference's standard
deviation (at least 0.001); the binned distances use the categories, the values of a numeric
column with at most 20 distinct ones, or else the 20 equal-width bins of the two sides' common
0.5–99.5 % range plus a bin per tail (:attr:`DriftReport.distributions`).

Missing and infinite values are left out of the distribution test and tested on their own:
Fisher's exact test of the missing/present counts (Pearson's chi-square once more than 10,000
tables are possible; a z-test on 0/240 vs 2/104 said p = 0.03, Fisher says 0.09). Given how
many values are missing in all, their split between the sides is hypergeometric when nothing
drifted, so Fisher's test is exact both for a random split and for two samples; Barnard's and
Boschloo's unconditional tests are not exact for a split and cost a search over a nuisance
parameter. **One decision per column**: with a p-value test, the column drifts when
``1 − (1 − 0.8·t)(1 − P₀(p_missing ≤ 0.2·t))`` is below the threshold, with
``t = min(p / 0.8, p_missing / 0.2)`` the weighted smaller of the two p-values and ``P₀`` the
exact null law of Fisher's p-value (``column_p_value``). The two tests are independent when
nothing drifted, so this is the exact chance that either is as small: each column is
flagged in α of random splits; the distribution test keeps at least four fifths of α, and a
missing-value test that cannot reach its fifth (2 missing values among 344 rows) costs
nothing (``stats.min_p_value``). With a distance, the
column drifts when the distance reaches its threshold or the missing/present shares are at a
Jensen–Shannon distance ≥ 0.1 (effect sizes, as for the distribution: no α).

**The dataset** drifts when at least ``share`` (default half) of the compared columns drift;
the summary says how many that takes. Random splits of a table flag it far less often than α.
:meth:`DriftReport.significant_columns` keeps the drifted columns that survive Holm's
correction over the columns watched, so that the chance of any false alarm per comparison is
at most α: :func:`jupyter_mlops.monitoring.monitor` alerts on those the model relies on.

Against a stored profile (:func:`jupyter_mlops.profile.profile_of`) the same tests run on
the sample the profile summarises (all rows up to 20,000): exactly, for columns whose
distinct values it kept (at most 200) and for categories; for other numeric columns on
that sample rebuilt from its 201 quantiles and extreme values, which keeps every value of
the reference CDF within 1/200 of the sample's. P-values then count the sample's rows.
The report's ``note`` and the columns' notes say so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..data.profile import QUANTILES
from . import stats as st
from .columns import Pair, typed_columns
from .inputs import (
    TESTS,
    align_names,
    as_profile,
    as_table,
    selected,
    tests_for,
    thresholds_for,
)
from .sides import OTHER, Side, missing_distance, missing_note, value_counts

__all__ = ["DEFAULT_THRESHOLDS", "TESTS", "ColumnDrift", "Distribution", "DriftReport", "drift"]

P_VALUE_TESTS = frozenset({"ks", "chi2", "z"})
DEFAULT_THRESHOLDS = {"ks": 0.05, "chi2": 0.05, "z": 0.05, "psi": 0.1, "jensenshannon": 0.1,
                      "wasserstein": 0.1, "hellinger": 0.1}
SMALL_REFERENCE = 1000  # reference values up to which p-value tests are the default
LOW_CARDINALITY = 5  # numeric columns with at most this many values are tested as categories
DISCRETE_VALUES = 20  # numeric columns with at most this many values are binned by value
MISSING_P_VALUE, MISSING_DISTANCE = 0.05, 0.1  # when a change of the missing share is drift
FRAME_COLUMNS = ["column", "test", "statistic", "p_value", "threshold", "drifted", "kind",
                 "nan_share_reference", "nan_share_current", "note", "missing_p_value",
                 "column_p_value"]


@dataclass(frozen=True)
class Distribution:
    """Both sides of one column on common bins or categories: what a chart draws.

    Attributes
    ----------
    kind : "numeric", "datetime", "timedelta" (``edges`` set; datetimes in nanoseconds
        since the epoch, timedeltas in nanoseconds) or "categorical" (``labels`` set)
    edges : bin edges, ``len(reference) + 1`` of them: 20 equal-width bins over the common
        0.5–99.5 % range, plus a bin for each non-empty tail up to the extreme value
    labels : category texts, the reference's most frequent first; ``"(other)"`` gathers the
        categories a profile did not list one by one
    reference, current : each side's share of its non-missing values per bin or category
    reference_count, current_count : how many values the shares are of
    """

    kind: str
    edges: np.ndarray | None
    labels: tuple[str, ...]
    reference: np.ndarray
    current: np.ndarray
    reference_count: int
    current_count: int


@dataclass(frozen=True)
class ColumnDrift:
    """The verdict on one column; ``test == ""`` when it could not be tested (see ``note``).

    ``statistic`` and ``p_value`` are the distribution test's; ``missing_p_value`` is the
    missing-value test's (Fisher's exact). With a p-value test, ``column_p_value`` joins
    both (see the module's docstring) and the column drifted when it is below ``threshold``;
    with a distance, both are NaN and the column drifted when the distance (or the
    missing-share distance) reached its threshold.
    """

    column: str
    test: str
    statistic: float
    p_value: float
    threshold: float
    drifted: bool
    kind: str
    nan_share_reference: float
    nan_share_current: float
    note: str
    distribution: Distribution | None = None
    missing_p_value: float = math.nan
    column_p_value: float = math.nan


class DriftReport:
    """The result of :func:`drift`: a verdict per column and for the dataset.

    Attributes
    ----------
    columns : one :class:`ColumnDrift` per column, in the order compared
    share : the share of drifted columns at which the dataset counts as drifted
    reference_source : "data" or "profile" (the reference was a stored profile)
    note : how the reference was read (a profile: its sample and approximations)
    """

    def __init__(self, columns: list[ColumnDrift], *, share: float, reference_source: str,
                 note: str = "") -> None:
        self.columns = columns
        self.share = share
        self.reference_source = reference_source
        self.note = note

    @property
    def compared(self) -> list[ColumnDrift]:
        """The columns present on both sides (the denominator of :attr:`share_drifted`)."""
        return [c for c in self.columns if c.kind]

    @property
    def drifted_columns(self) -> list[str]:
        """Names of the drifted columns."""
        return [c.column for c in self.columns if c.drifted]

    @property
    def share_drifted(self) -> float:
        """Drifted columns over columns present on both sides (0 when there are none)."""
        compared = self.compared
        return sum(c.drifted for c in compared) / len(compared) if compared else 0.0

    @property
    def drifted(self) -> bool:
        """The dataset verdict: the share of drifted columns reached :attr:`share`."""
        return bool(self.compared) and self.share_drifted >= self.share

    @property
    def distributions(self) -> dict[str, Distribution]:
        """Per tested column, both sides' histogram or category shares (for charts)."""
        return {c.column: c.distribution for c in self.columns if c.distribution is not None}

    def to_frame(self) -> pd.DataFrame:
        """One row per column: ``column, test, statistic, p_value, threshold, drifted``,
        then ``kind, nan_share_reference, nan_share_current, note, missing_p_value,
        column_p_value``."""
        rows = [[c.column, c.test, c.statistic, c.p_value, c.threshold, c.drifted, c.kind,
                 c.nan_share_reference, c.nan_share_current, c.note, c.missing_p_value,
                 c.column_p_value] for c in self.columns]
        frame = pd.DataFrame(rows, columns=FRAME_COLUMNS)
        return frame.astype({"statistic": float, "p_value": float, "threshold": float,
                             "drifted": bool, "missing_p_value": float,
                             "column_p_value": float})

    @property
    def needed(self) -> int:
        """How many drifted columns make the dataset drifted (at least one)."""
        return max(1, math.ceil(self.share * len(self.compared) - 1e-9))

    @property
    def rule(self) -> str:
        """The decision rules of this report, in words (shown under its summary)."""
        return (f"A column drifts when the p-value joining its distribution test and its "
                f"missing-value test (the exact chance that either is as small, the "
                f"distribution test weighted 4/5 and the missing values 1/5) is below its "
                f"threshold, or, for a distance, when the distance or the "
                f"missing share's Jensen–Shannon distance reaches it. The dataset drifts when "
                f"{self.needed} of {len(self.compared)} columns do (share "
                f"{self.share:.0%}).")

    def significant_columns(self, among: Sequence[str] | None = None) -> list[str]:
        """The drifted columns that remain drifted when the chance of any false alarm among
        ``among`` (default: all compared columns) is held at the threshold: Holm's step-down
        procedure over their column p-values (the first needs ``p < threshold / k``).
        Columns judged by a distance have no p-value: they stand as drifted."""
        wanted = {c.column for c in self.compared} if among is None else set(among)
        tested = [c for c in self.compared if c.column in wanted]
        by_p = [c for c in tested if not math.isnan(c.column_p_value)]
        kept = st.holm([c.column_p_value for c in by_p], [c.threshold for c in by_p])
        chosen = {c.column for c, keep in zip(by_p, kept, strict=True) if keep}
        chosen |= {c.column for c in tested if math.isnan(c.column_p_value) and c.drifted}
        return [c.column for c in self.columns if c.column in chosen]

    def _summary(self) -> str:
        verdict = "drifted" if self.drifted else "not drifted"
        return (f"dataset {verdict}: {len(self.drifted_columns)} of {len(self.compared)} "
                f"columns drifted; dataset drift needs {self.needed}")

    def __repr__(self) -> str:
        return f"<DriftReport {self._summary()}>"

    def _repr_html_(self) -> str:
        from .html import report_html

        return report_html(self, self._summary(), self.rule)

    def figure(self, columns: list[str] | None = None) -> Any:
        """The report as a plotly figure: the verdict table, then each column's reference and
        current distributions overlaid (see :func:`jupyter_mlops.charts.drift_figure`)."""
        from ..charts import drift_figure  # plotly is loaded only when a chart is asked for

        return drift_figure(self, columns)


def drift(
    reference: Any,
    current: Any,
    *,
    columns: Sequence[str] | str | None = None,
    tests: str | Mapping[str, str] | None = None,
    thresholds: float | Mapping[str, float] | None = None,
    share: float = 0.5,
) -> DriftReport:
    """Compare current data with reference data (or its stored profile), column by column.

    Parameters
    ----------
    reference : a DataFrame, Series, 1-/2-D array, or a profile dict from
        :func:`jupyter_mlops.profile.profile_of` (e.g. a run's training data through
        :func:`jupyter_mlops.drift_reference.reference_profile`): no raw data needed.
    current : a DataFrame, Series or 1-/2-D array. Arrays take the other side's column
        names when they have as many columns.
    columns : the columns to compare (default: all, reference's first).
    tests : a test name for every column it applies to (others keep their default), or a
        ``{column: name}`` dict; names: "ks", "chi2", "z", "psi", "jensenshannon",
        "wasserstein", "hellinger".
    thresholds : the cut-off for every column, or a ``{column: value}`` dict: p-value tests
        flag drift below it, distances at or above it.
    share : the share of drifted columns at which the dataset counts as drifted.

    Returns
    -------
    DriftReport

    Raises
    ------
    DriftError
        A side has no rows or is not a table; the reference dict is not a profile.
    ValueError
        An unknown test, column or threshold, or a test that cannot apply to its column.
    """
    if not 0.0 < share <= 1.0:
        raise ValueError(f"share must be in (0, 1], got {share!r}")
    current_frame = as_table(current, "current")
    profile = as_profile(reference)
    if profile is None:
        reference_frame = as_table(reference, "reference")
        reference_frame, current_frame = align_names(reference, reference_frame, current,
                                                      current_frame)
        reference_names = list(reference_frame.columns)
    else:
        reference_names = [str(name) for name in profile["columns"]]
        unnamed = not isinstance(current, (pd.DataFrame, pd.Series))
        if current_frame.shape[1] == len(reference_names) and (unnamed or
                                                                len(reference_names) == 1):
            current_frame = current_frame.set_axis(reference_names, axis=1)
    names = selected(columns, reference_names, list(current_frame.columns))
    test_of, global_test = tests_for(tests, names)
    threshold_of = thresholds_for(thresholds, names)
    both = set(reference_names) & set(current_frame.columns)
    pairs = typed_columns(reference_frame if profile is None else profile, current_frame,
                          [name for name in names if name in both])
    results, rebuilt = [], False
    for name in names:
        if name not in both:
            side = "reference" if name in reference_names else "current"
            results.append(ColumnDrift(name, "", math.nan, math.nan, math.nan, False, "",
                                       math.nan, math.nan, f"only in {side}: not compared"))
            continue
        pair = next(pairs)
        rebuilt = rebuilt or pair.reference.rebuilt
        results.append(_compare_column(pair, test_of.get(name), global_test,
                                       threshold_of.get(name)))
    source = "data" if profile is None else "profile"
    return DriftReport(results, share=share, reference_source=source,
                       note=_profile_note(profile, rebuilt))


def _profile_note(profile: dict[str, Any] | None, rebuilt: bool) -> str:
    if profile is None:
        return ""
    rows, sample = int(profile["rows"]), int(profile.get("sample_rows") or profile["rows"])
    note = f"reference: a stored profile (format {profile['version']}) of {rows:,} rows"
    if sample < rows:
        note += f", summarised from a {sample:,}-row sample"
    if rebuilt:
        steps = len(QUANTILES) - 1 if profile["version"] >= 2 else 100
        note += (f"; numeric columns marked 'rebuilt' are interpolated between the {steps + 1} "
                 f"quantiles it kept, so their statistics approximate those on the data (each "
                 f"value of the reference CDF within 1/{steps})")
    return note


# -- one column -----------------------------------------------------------------------------
def _compare_column(pair: Pair, test: str | None, global_test: str | None,
                    threshold: float | None) -> ColumnDrift:
    name, ref, cur = pair.name, pair.reference, pair.current
    notes = [pair.note] if pair.note else []
    if ref.sample or ref.rebuilt:
        notes.append("reference: profile " + ", ".join(
            word for word, flag in (("sample", ref.sample), ("rebuilt", ref.rebuilt)) if flag))
    if ref.infinite or cur.infinite:
        notes.append(f"infinite values left out ({ref.infinite} reference, "
                     f"{cur.infinite} current)")
    nan_r = ref.missing / ref.rows if ref.rows else math.nan
    nan_c = cur.missing / cur.rows
    missing = st.missing_test(ref.missing, ref.rows, cur.missing, cur.rows)
    if ref.present == 0 or cur.present == 0:
        where = ("on both sides" if ref.present == cur.present == 0
                 else "in reference" if ref.present == 0 else "in current")
        if ref.rows <= SMALL_REFERENCE:
            drifted = missing.p_value < (threshold or MISSING_P_VALUE)
            column_p = missing.p_value
        else:
            drifted, column_p = missing_distance(ref, cur) >= MISSING_DISTANCE, math.nan
        notes += [missing_note(ref, cur, missing, drifted, math.isnan(column_p)),
                  f"all values missing {where}: not tested"]
        return ColumnDrift(name, "", math.nan, math.nan, math.nan, drifted, ref.kind, nan_r,
                           nan_c, "; ".join(n for n in notes if n),
                           missing_p_value=missing.p_value, column_p_value=column_p)
    if ref.numeric:
        comparison, table, distinct = _numeric_tables(ref, cur)
        histogram = comparison.histogram
        distribution = Distribution(ref.kind, histogram.edges, (),
                                    histogram.reference / ref.present,
                                    histogram.current / cur.present, ref.present, cur.present)
    else:
        comparison = None
        labels, counts_r, counts_c, category_note = _category_table(ref, cur)
        if category_note:
            notes.append(category_note)
        table, distinct = (counts_r, counts_c, False), len(labels)
        distribution = Distribution(ref.kind, None, tuple(labels), counts_r / counts_r.sum(),
                                    counts_c / counts_c.sum(), ref.present, cur.present)
    if distinct == 1:
        notes.append("constant")
    chosen = _default_test(ref, distinct)
    requested = test or global_test
    if requested:
        problem = _inapplicable(requested, ref, distinct, table[2])
        if problem and test:
            raise ValueError(f"tests= asks for {requested!r} on column {name!r}, but {problem}")
        if problem:
            notes.append(f"{requested} does not apply ({problem}): {chosen} used")
        else:
            chosen = requested
    statistic, p_value = _run_test(chosen, ref, cur, comparison, table)
    cutoff = threshold if threshold is not None else DEFAULT_THRESHOLDS[chosen]
    if chosen in P_VALUE_TESTS:  # one p-value for both tests of the column, against cutoff
        column_p = st.min_p_value(p_value, missing)
        drifted = column_p < cutoff
        by_missing = drifted and st.missing_decides(p_value, missing)
        missing_p = missing.p_value
    else:  # effect sizes: the distribution's distance, or the missing share's
        column_p = missing_p = math.nan
        by_missing = missing_distance(ref, cur) >= MISSING_DISTANCE
        drifted = statistic >= cutoff or by_missing
    if by_missing:
        notes.append(missing_note(ref, cur, missing, True, chosen not in P_VALUE_TESTS))
    return ColumnDrift(name, chosen, statistic, p_value, cutoff, bool(drifted), ref.kind, nan_r,
                       nan_c, "; ".join(notes), distribution, missing_p_value=missing_p,
                       column_p_value=column_p)


def _numeric_tables(ref: Side, cur: Side) -> tuple[st.NumericComparison,
                                                   tuple[np.ndarray, np.ndarray, bool], int]:
    """The exact numeric comparison and the frequency table the binned tests use: the
    values when there are at most DISCRETE_VALUES of them, else the histogram bins."""
    assert ref.values is not None and cur.values is not None
    core = (min(ref.core[0], cur.core[0]), max(ref.core[1], cur.core[1]))
    comparison = st.compare_numeric(ref.values, cur.values, core)
    if comparison.occupied_buckets <= DISCRETE_VALUES:
        values_r, counts_r = value_counts(ref.values)
        values_c, counts_c = value_counts(cur.values)
        values = np.union1d(values_r, values_c)
        if values.size <= DISCRETE_VALUES:
            table_r = np.zeros(values.size)
            table_c = np.zeros(values.size)
            table_r[np.searchsorted(values, values_r)] = counts_r
            table_c[np.searchsorted(values, values_c)] = counts_c
            return comparison, (table_r, table_c, True), int(values.size)
    histogram = comparison.histogram
    return comparison, (histogram.reference, histogram.current, False), DISCRETE_VALUES + 1


def _category_table(ref: Side, cur: Side) -> tuple[list[str], np.ndarray, np.ndarray, str]:
    """Both sides' counts over one list of categories: the reference's, most frequent
    first, then the new ones; against a truncated profile, unlisted ones are one group."""
    counts_r = dict(sorted((ref.counts or {}).items(), key=lambda kv: -kv[1]))
    current = dict(sorted((cur.counts or {}).items(), key=lambda kv: -kv[1]))
    new = [k for k in current if k not in counts_r]
    note = ""
    if ref.other:
        counts_r[OTHER] = counts_r.get(OTHER, 0) + ref.other
        grouped = sum(current.pop(k) for k in new)
        current[OTHER] = current.get(OTHER, 0) + grouped
        new = []
        if grouped:
            note = f"categories the profile did not list are compared as one {OTHER!r} group"
    elif new:
        shown = ", ".join(repr(k) for k in new[:3]) + (", …" if len(new) > 3 else "")
        note = f"{len(new)} categor{'y' if len(new) == 1 else 'ies'} not in reference: {shown}"
    labels = list(counts_r) + new
    table_r = np.array([counts_r.get(k, 0) for k in labels], dtype=float)
    table_c = np.array([current.get(k, 0) for k in labels], dtype=float)
    return labels, table_r, table_c, note


def _default_test(ref: Side, distinct: int) -> str:
    many_values = ref.numeric and distinct > LOW_CARDINALITY
    if ref.rows - ref.missing <= SMALL_REFERENCE:
        return "ks" if many_values else ("chi2" if distinct > 2 else "z")
    return "wasserstein" if many_values else "jensenshannon"


def _inapplicable(test: str, ref: Side, distinct: int, by_value: bool) -> str:
    if test in ("ks", "wasserstein") and not ref.numeric:
        return f"{test} compares numbers and the column is categorical"
    if test == "z" and (distinct > 2 or (ref.numeric and not by_value)):
        return "the z-test compares two categories and the column has more values"
    return ""


def _run_test(test: str, ref: Side, cur: Side, comparison: st.NumericComparison | None,
              table: tuple[np.ndarray, np.ndarray, bool]) -> tuple[float, float]:
    if test == "ks":
        assert comparison is not None and ref.values is not None and cur.values is not None
        return st.ks_test(ref.values, cur.values, comparison.ks)
    if test == "wasserstein":
        assert comparison is not None and ref.values is not None
        std = ref.std if ref.std is not None else _std(ref.values)
        return comparison.wasserstein / max(std, 0.001), math.nan
    counts_r, counts_c, _ = table
    if test == "chi2":
        return st.chi2_test(counts_r, counts_c)
    if test == "z":
        return st.z_test(counts_r, counts_c)
    distance = {"psi": st.psi, "jensenshannon": st.jensen_shannon, "hellinger": st.hellinger}
    return distance[test](counts_r, counts_c), math.nan


def _std(values: np.ndarray) -> float:
    """``np.std``, rescaled when the squares of huge values would overflow."""
    with np.errstate(over="ignore", invalid="ignore"):
        std = float(values.std())
    if math.isfinite(std):
        return std
    scale = float(np.abs(values).max())
    return float((values / scale).std()) * scale
