"""Plain data objects handed out by the store (and drawn by the charts). Standard library only."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

RunStatus = Literal["running", "finished", "failed", "interrupted"]
EntityKind = Literal["dataset", "model", "artifact"]
RUN_STATUSES: tuple[str, ...] = ("running", "finished", "failed", "interrupted")


@dataclass(frozen=True)
class Entity:
    """Something a run read or produced: a dataset, a model or an artifact.

    Attributes
    ----------
    kind : "dataset" | "model" | "artifact"
    name : the variable (or artifact name) it was bound to in the cell
    fingerprint : content hash; equal content means the same entity across cells and kernels
    detail : kind-specific summary (shape, class name, size...)
    """

    kind: EntityKind
    name: str
    fingerprint: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricPoint:
    """One logged value of a metric."""

    key: str
    value: float
    step: int
    timestamp: float


@dataclass(frozen=True)
class CodeCell:
    """A cell of the replayable code slice of a run."""

    execution_count: int | None
    source: str
    cell_id: str | None = None


@dataclass
class Run:
    """Everything recorded about one execution of a tracked cell."""

    run_id: str
    name: str
    experiment: str
    status: RunStatus
    started_at: float
    ended_at: float | None
    duration_s: float | None
    source: str
    source_hash: str
    params: dict[str, Any]
    metrics: dict[str, float]
    tags: dict[str, str]
    inputs: list[Entity]
    outputs: list[Entity]
    error: str | None = None
    traceback: str | None = None
    stdout: str = ""
    stderr: str = ""
    notebook: str | None = None
    cell_id: str | None = None
    execution_count: int | None = None
    code_slice: list[CodeCell] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)
    git: dict[str, Any] = field(default_factory=dict)
    user: str | None = None
    host: str | None = None
    parent_run_id: str | None = None
    note: str | None = None
    archived_at: float | None = None
    _history: Callable[[str], list[MetricPoint]] | None = field(default=None, repr=False)

    def metric_history(self, key: str) -> list[MetricPoint]:
        """All logged values of metric ``key``, by step then time."""
        if self._history is None:
            return []
        return self._history(key)

    @property
    def models(self) -> list[Entity]:
        """The models this run produced."""
        return [e for e in self.outputs if e.kind == "model"]


@dataclass(frozen=True)
class RunSummary:
    """Who a run is and how it ended, without what it read, produced or logged."""

    run_id: str
    name: str
    experiment: str
    status: RunStatus
    started_at: float
    duration_s: float | None


@dataclass(frozen=True)
class RunSet:
    """Runs side by side, in the order asked for: what the run charts compare.

    Attributes
    ----------
    runs : each run's summary, in order, each run once
    metrics : run id → metric key → its latest value
    params : run id → parameter key → its value (as logged: numbers, strings, lists...)
    curves : run id → the metric keys it logged two or more points of
    """

    runs: list[RunSummary]
    metrics: dict[str, dict[str, float]]
    params: dict[str, dict[str, Any]]
    curves: dict[str, set[str]]

    @property
    def ids(self) -> list[str]:
        """The run ids, in order."""
        return [run.run_id for run in self.runs]


@dataclass(frozen=True)
class Predictions:
    """What a ``%%track --eval X y`` run kept: ``arrays`` holds numpy arrays ``y_true`` and
    ``y_pred``; ``proba`` and ``classes`` for a model with ``predict_proba``; ``task``
    (``"classification"`` or ``"regression"``) for runs recorded since it was kept."""

    run_id: str
    run_name: str
    arrays: dict[str, Any]
    model: str = "model"
    X: str = "X"  # the variable names the --eval line gave
    y: str = "y"


@dataclass
class LineageNode:
    """A run (id ``run:<run_id>``) or an entity (id = its fingerprint) of a lineage graph."""

    id: str
    kind: str
    names: list[str]
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class LineageGraph:
    """The runs upstream and downstream of ``focus``, with what they read and produced; edges
    go input → run and run → output, as node ids."""

    focus: str
    runs: list[Run]
    nodes: dict[str, LineageNode]
    edges: list[tuple[str, str]]

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form: ``{"focus", "nodes": [...], "edges": [{"source", "target"}]}``."""
        return {"focus": self.focus,
                "nodes": [{"id": n.id, "kind": n.kind, "name": n.names[0], "names": n.names,
                           "detail": n.detail} for n in self.nodes.values()],
                "edges": [{"source": a, "target": b} for a, b in self.edges]}
