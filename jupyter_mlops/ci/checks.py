"""What CI checks, as named results that explain themselves: :class:`Check`, and the
checks of one CI run against its baseline (:func:`run_checks`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..store import Store
from .baseline import Pairing
from .contract import contract_checks
from .quality import bundle_check, gate_checks, metric_check, reproducibility_check

Status = Literal["passed", "failed", "skipped"]


@dataclass
class Check:
    """One check's outcome.

    Attributes
    ----------
    name : what was checked (``schema``, ``ranges``, ``drift``, ``metrics``, ``gate``,
        ``reproducibility``, ``bundle``, ``execution``, ``recorded cells``)
    subject : what it was checked on (a notebook, or a notebook's cell and run)
    status : ``passed``, ``failed`` or ``skipped``
    message : what was found, and on failure what differs
    details : figures for the summary (``metric_deltas``, ``drifted_columns``)
    """

    name: str
    subject: str
    status: Status
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.status == "failed"


@dataclass(frozen=True)
class Tolerances:
    """How far a CI run may be from its baseline.

    Attributes
    ----------
    metrics : metric → largest allowed worsening (absolute); ``default`` for the others
    reproducibility : largest difference of a metric between runs of the same code on the
        same inputs
    ranges : share of the baseline's range a numeric column's min/max may move beyond it
    nulls : largest allowed rise of a column's share of missing values
    drift_share : share of drifted columns at which the data counts as drifted (the drift
        engine's ``share``; the default flags a single drifted column)
    """

    metrics: dict[str, float] = field(default_factory=lambda: {"default": 0.01})
    reproducibility: float = 1e-6
    ranges: float = 0.1
    nulls: float = 0.05
    drift_share: float = 0.01

    def metric(self, key: str) -> float:
        return float(self.metrics.get(key, self.metrics.get("default", 0.01)))


def run_checks(store: Store, pairing: Pairing, tolerances: Tolerances, *,
               gates: list[str], bundle: bool, verify: bool) -> list[Check]:
    """Every check of one CI run against its baseline (the data contract and quality checks
    are skipped, saying why, when the cell has no baseline)."""
    run = store.get_run(pairing.run_id)
    subject = f"{pairing.key.describe()} ({run.name})"
    found: list[tuple[str, Status, str, dict[str, Any]]] = []
    if run.status != "finished":
        found.append(("run", "failed", f"the run {run.status}: {run.error or ''}".strip(), {}))
    elif pairing.baseline is None:
        found.append(("baseline", "skipped", "no earlier run of this cell to compare with", {}))
    base = store.get_run(pairing.baseline) if pairing.baseline else None
    if run.status == "finished" and base is not None:
        found += contract_checks(store, run, base, tolerances)
        found.append(metric_check(run, base, tolerances))
        found.append(reproducibility_check(store, run, base, tolerances))
    if run.status == "finished":
        found += gate_checks(store, run, base, gates)
        if bundle and run.models:
            found.append(bundle_check(store, run, verify=verify))
    return [Check(name, subject, status, message, details)
            for name, status, message, details in found]
