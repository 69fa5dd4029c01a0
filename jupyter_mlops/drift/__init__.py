"""The drift engine (L3): per-column tests between reference data (or its stored profile) and
current data, and the report they make.

May import: ``errors``, ``entities``, ``data`` and ``store`` (reading a run's reference
profile, :mod:`.reference`); ``charts`` only inside ``DriftReport.figure()``. Never a front end.
Data flows one way: :mod:`.inputs` (what ``drift()`` is given) → :mod:`.columns` (each
column's kind decided once per side, typed into :class:`.sides.Side`) → the per-column test
(:mod:`.engine`, statistics in :mod:`.stats`) → the :class:`DriftReport` (:mod:`.html`).
Where to add a drift test: :mod:`.stats` (the statistic) and ``TESTS`` in :mod:`.engine`.
"""

from .engine import DEFAULT_THRESHOLDS, TESTS, ColumnDrift, Distribution, DriftReport, drift
from .reference import reference_profile

__all__ = ["DEFAULT_THRESHOLDS", "TESTS", "ColumnDrift", "Distribution", "DriftReport", "drift",
           "reference_profile"]
