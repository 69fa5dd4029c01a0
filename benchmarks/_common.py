"""Timing and reporting helpers shared by the benchmarks."""

from __future__ import annotations

import contextlib
import io
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass


def elapsed(fn: Callable[[], object]) -> float:
    """Seconds one call of ``fn`` takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_of(sample: Callable[[], float], reps: int, warmup: int = 1) -> float:
    """Median of ``reps`` values of ``sample`` (a callable returning a duration), after warm-up."""
    for _ in range(warmup):
        sample()
    return statistics.median(sample() for _ in range(reps))


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Swallow stdout and stderr (summary lines, library chatter) while timing."""
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        yield


@dataclass(frozen=True)
class Row:
    """One line of the results table: our figure against one baseline.

    ``ours`` and ``baseline`` are seconds, or points per second when ``rate`` is set; the
    ratio is always "how many times better ours is" (above 1: ours is faster).
    """

    figure: str
    ours: float
    baseline_name: str
    baseline: float | None
    target: str = ""
    passed: bool | None = None
    rate: bool = False

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or not self.ours or not self.baseline:
            return None
        return self.ours / self.baseline if self.rate else self.baseline / self.ours


def _value(value: float | None, rate: bool) -> str:
    if value is None:
        return "-"
    if rate:
        return f"{value:,.0f} pts/s"
    ms = value * 1e3
    return f"{ms:,.2f} ms" if ms < 10 else f"{ms:,.0f} ms"


COLUMNS = (("figure", 38), ("ours", 14), ("baseline", 40), ("baseline value", 15),
           ("ratio", 8), ("target", 22), ("verdict", 7))


def print_header() -> None:
    """The table's header line."""
    print("  ".join(name.ljust(width) for name, width in COLUMNS).rstrip())
    print("  ".join("-" * width for _, width in COLUMNS))


def print_row(row: Row) -> None:
    """One table line, printed as soon as the figure is measured."""
    ratio = "-" if row.ratio is None else f"{row.ratio:,.{0 if row.ratio >= 10 else 2}f}x"
    verdict = "" if row.passed is None else ("PASS" if row.passed else "MISS")
    cells = (row.figure, _value(row.ours, row.rate), row.baseline_name,
             _value(row.baseline, row.rate), ratio, row.target, verdict)
    print("  ".join(str(c).ljust(w) for c, (_, w) in zip(cells, COLUMNS, strict=True)).rstrip())
    sys.stdout.flush()
