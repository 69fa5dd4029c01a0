"""The continuous-training loop: monitor new batches, retrain and promote on drift."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..capture.environment import user
from ..data.tables import SUFFIXES, read_table
from ..store import Store, open_store
from ..store.audit import append_event
from .monitoring import monitor, training_variables
from .retrain import retrain as retrain_run


@dataclass(frozen=True)
class WatchStep:
    """What the loop did with one batch."""

    source: str
    batch_id: int | None
    drifted: bool
    alerts: int
    retrained_run_id: str | None
    outcome: str


def _directory_batches(
        directory: Path) -> Callable[[], tuple[str, pd.DataFrame | ValueError] | None]:
    """The next new file of ``directory`` as a batch, or why it cannot be read (a file too
    large, not a table, or no regular file: one bad file must not stop the watch)."""
    seen: set[str] = set()

    def next_batch() -> tuple[str, pd.DataFrame | ValueError] | None:
        for path in sorted(directory.iterdir()):
            if path.suffix in SUFFIXES and path.name not in seen:
                seen.add(path.name)
                try:
                    return path.name, read_table(path, squeeze=False)
                except ValueError as exc:
                    return path.name, exc
        return None

    return next_batch


def watch(
    model_ref: str,
    source: str | Path | Callable[[], Any],
    *,
    every: float = 60.0,
    target: str | None = None,
    retrain: bool = True,
    promote_to: str = "production",
    gate: str | None = "champion",
    bindings: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    max_batches: int | None = None,
    verify: bool | None = None,
    trusted: list[str] | None = None,
    store: Store | None = None,
) -> Iterator[WatchStep]:
    """Monitor each new batch; on drift or an alert, retrain on it and promote if it wins.

    Parameters
    ----------
    model_ref : the watched model, ``"name@stage"`` (or a run)
    source : a directory (each new .csv/.parquet/.jsonl file is a batch, in name order; one
        that cannot be read — too large, not a table, no regular file — is skipped with an
        audited step saying why) or a callable returning the next batch (a DataFrame) or None
        when there is none yet
    every : seconds to wait when there is no new batch
    target : the label column of the batches (needed to check performance and to retrain)
    bindings : how the recorded cell's variables take a batch, e.g.
        ``{"X_train": "features", "y_train": "labels"}`` (default: found from the run)
    max_batches : stop after this many batches (default: run until interrupted)
    verify : verify the bundle before promoting to production (default: yes)
    trusted : exact extra type names for the promotion's bundle (see :func:`promote`)

    Yields a :class:`WatchStep` per batch; every decision is also an audit event.
    """
    store = store or open_store()
    next_batch = _directory_batches(Path(source)) if not callable(source) else (
        lambda: (f"batch {time.strftime('%H:%M:%S')}", b) if (b := source()) is not None
        else None)
    done = 0
    while max_batches is None or done < max_batches:
        batch = next_batch()
        if batch is None:
            time.sleep(every)
            continue
        label, frame = batch
        done += 1
        if isinstance(frame, ValueError):  # audited and skipped, the watch goes on
            outcome = f"skipped: {frame}"
            with store.transaction() as conn:
                append_event(conn, actor=user(), action="watch",
                             subject=model_ref.partition("@")[0],
                             detail={"source": label, "outcome": outcome})
            yield WatchStep(label, None, False, 0, None, outcome)
            continue
        labels = frame.pop(target) if target and target in frame.columns else None
        result = monitor(model_ref, frame, labels=labels, thresholds=thresholds, store=store)
        retrained, outcome = None, "no drift"
        if result.drifted or result.alerts:
            outcome = "drift: retraining is off"
            if retrain and labels is None:
                outcome = "drift: no labels in the batch to retrain on"
            elif retrain and labels is not None:
                run_id = store.resolve_run_id(model_ref)
                names = dict(bindings or {})
                if not names:
                    x_name, y_name = training_variables(store, run_id)
                    names = {x_name: "features", y_name: "labels"}
                # retrain trains on the first rows of the batch and judges challenger and
                # champion on the rest (its held-out share), as a retrain by hand does.
                values = {"features": frame, "labels": labels}
                bound = {kind: variable for variable, kind in names.items()}
                new = retrain_run(run_id, data={k: values[v] for k, v in names.items()},
                                  promote_to=promote_to, gate=gate, name=result.model,
                                  store=store,
                                  training=(bound.get("features", ""), bound.get("labels", "")),
                                  verify=verify, trusted=trusted,
                                  reason=f"drift in {label}")
                retrained, outcome = new.run_id, new.tags.get("promotion", "")
        with store.transaction() as conn:
            append_event(conn, actor=user(), action="watch", subject=result.model,
                         detail={"batch": result.batch_id, "source": label,
                                 "drifted": result.drifted, "retrained": retrained,
                                 "outcome": outcome})
        yield WatchStep(label, result.batch_id, result.drifted, len(result.alerts), retrained,
                        outcome)
