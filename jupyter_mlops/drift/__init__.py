"""The drift engine (L3): per-column tests between reference data (or its stored profile) and
current data, and the report they make.

May import: ``errors``, ``entities``, ``data`` and ``store`` (reading a run's reference
profile, :mod:`.reference`); ``charts`` only inside ``DriftReport.figure()``. Never a front end.
Where to add a drift test: :mod:`.stats` (the statistic) and ``TESTS`` in :mod:`.engine`.
"""

from .engine import DEFAULT_THRESHOLDS, TESTS, ColumnDrift, Distribution, DriftReport, drift
from .reference import reference_profile

__all__ = ["DEFAULT_THRESHOLDS", "TESTS", "ColumnDrift", "Distribution", "DriftReport", "drift",
           "reference_profile"]
