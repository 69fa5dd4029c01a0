"""What the capture layer hands to the store to record (write-side payloads)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..entities import CodeCell, Entity


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset seen by a run: identified by content, described by schema and profile."""

    fingerprint: str
    kind: str
    shape: tuple[int, ...]
    schema: dict[str, Any]
    profile: dict[str, Any]


@dataclass(frozen=True)
class ModelInfo:
    """A fitted model produced by a run, with its serialized bytes."""

    fingerprint: str
    class_name: str
    module: str
    data: bytes
    format: str
    trusted_types: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class EnvironmentInfo:
    """Python and the versions of the packages a run's code used."""

    env_hash: str
    python: str
    platform: str
    packages: dict[str, str]


@dataclass
class RunResult:
    """Everything learned about a run once its cell has finished."""

    status: str
    ended_at: float
    params: dict[str, Any] = field(default_factory=dict)
    metrics: list[tuple[str, float, int, float]] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    inputs: list[Entity] = field(default_factory=list)
    outputs: list[Entity] = field(default_factory=list)
    datasets: list[DatasetInfo] = field(default_factory=list)
    models: list[ModelInfo] = field(default_factory=list)
    artifacts: list[tuple[bytes, str]] = field(default_factory=list)
    environment: EnvironmentInfo | None = None
    git: dict[str, Any] = field(default_factory=dict)
    stdout: str = ""
    stderr: str = ""
    error: str | None = None
    traceback: str | None = None
    code_slice: list[CodeCell] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
