"""Runs recorded straight through the Store API, for cases a notebook cell makes awkward."""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Iterable
from typing import Any

import numpy as np
from ulid import ULID

from jupyter_mlops import Entity, Store
from jupyter_mlops.store.records import RunResult


def npz(**arrays: np.ndarray) -> bytes:
    """Arrays as the ``.npz`` bytes ``--eval`` keeps."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, allow_pickle=False, **arrays)
    return buffer.getvalue()


def record_run(
    store: Store,
    name: str,
    *,
    experiment: str = "recorded",
    params: dict[str, Any] | None = None,
    metrics: dict[str, float] | None = None,
    curves: dict[str, Iterable[float]] | None = None,
    inputs: Iterable[Entity] = (),
    outputs: Iterable[Entity] = (),
    predictions: dict[str, np.ndarray] | None = None,
    status: str = "finished",
    started_at: float | None = None,
    run_id: str | None = None,
) -> str:
    """Record a finished run and return its id.

    ``curves`` logs each value at steps 0, 1, 2...; ``predictions`` are kept like ``--eval``
    keeps them (an ``application/x-npz`` artifact output named ``predictions``).
    """
    run_id = run_id or str(ULID())
    started = time.time() if started_at is None else started_at
    store.start_run(run_id, name=name, experiment=experiment, source="# recorded",
                    source_hash="0" * 16, started_at=started)
    points = [(key, float(value), 0, started) for key, value in (metrics or {}).items()]
    for key, values in (curves or {}).items():
        points += [(key, float(v), step, started) for step, v in enumerate(values)]
    result = RunResult(status=status, ended_at=started + 0.5, params=params or {},
                       metrics=points, inputs=list(inputs), outputs=list(outputs))
    if predictions is not None:
        data = npz(**predictions)
        result.artifacts.append((data, "application/x-npz"))
        result.outputs.append(Entity(
            "artifact", "predictions", "sha256:" + hashlib.sha256(data).hexdigest(),
            {"media_type": "application/x-npz", "model": "model", "X": "X_test", "y": "y_test"},
        ))
    store.finish_run(run_id, result)
    return run_id
