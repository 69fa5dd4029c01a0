"""Plain data objects handed out by the store. Standard library only."""

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
