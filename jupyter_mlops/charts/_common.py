"""What the chart modules share: the palette, run labels, thinning."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from plotly.colors import qualitative

from ..entities import RunSummary

PALETTE: list[str] = list(qualitative.Plotly)


def run_labels(runs: Sequence[RunSummary]) -> list[str]:
    """``name · id-prefix`` per run, the prefix long enough to tell these runs apart."""
    ids = [run.run_id for run in runs]
    width = 10
    while len({run_id[:width] for run_id in ids}) < len(ids):
        width += 2
    return [f"{run.name} · {run.run_id[:width]}" for run in runs]


def thin(n: int, limit: int) -> np.ndarray:
    """At most ``limit`` evenly spaced indices into ``n`` points, first and last included."""
    if n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(np.int64))
