"""What a pushed run carries beside MLflow's own fields, under ``mlops/`` in its artifacts:
the cell and its code slice, the run record (everything ``pull`` needs to rebuild the run
exactly: params as logged, inputs and outputs, datasets' schema and profile, models), the
lineage document, and the models as stored."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..entities import Run
from ..store import Store

RUN_FILE, LINEAGE_FILE, CELL_FILE, SLICE_FILE = "run.json", "lineage.json", "cell.py", \
    "code_slice.py"
MODELS_DIR = "models"


def _entities(entities: list[Any]) -> list[dict[str, Any]]:
    return [dataclasses.asdict(e) for e in entities]


def _models(store: Store, run: Run) -> list[dict[str, Any]]:
    models = []
    for entity in run.models:
        row = store.conn.execute("SELECT class_name, module, format, trusted_types FROM models "
                                 "WHERE fingerprint = ?", [entity.fingerprint]).fetchone()
        if row is not None:
            models.append({"variable": entity.name, "fingerprint": entity.fingerprint,
                           "class_name": row[0], "module": row[1], "format": row[2],
                           "trusted_types": json.loads(row[3] or "[]"),
                           "file": f"{MODELS_DIR}/{entity.name}.{row[2]}"})
    return models


def run_document(store: Store, run: Run) -> dict[str, Any]:
    """The run as ``pull`` rebuilds it (``mlops/run.json``)."""
    fingerprints = {e.fingerprint for e in [*run.inputs, *run.outputs] if e.kind == "dataset"}
    datasets = {fp: store.get_dataset(fp) for fp in sorted(fingerprints)
                if store.has_dataset(fp)}
    return {
        "format": 1, "run_id": run.run_id, "name": run.name, "experiment": run.experiment,
        "status": run.status, "started_at": run.started_at, "ended_at": run.ended_at,
        "source": run.source, "source_hash": run.source_hash, "params": run.params,
        "tags": run.tags,
        "notebook": run.notebook, "cell_id": run.cell_id,
        "execution_count": run.execution_count, "user": run.user, "host": run.host,
        "parent_run_id": run.parent_run_id, "error": run.error, "traceback": run.traceback,
        "stdout": run.stdout, "stderr": run.stderr, "warnings": run.warnings, "git": run.git,
        "environment": run.environment, "inputs": _entities(run.inputs),
        "outputs": _entities(run.outputs), "datasets": datasets,
        "models": _models(store, run),
        "code_slice": [dataclasses.asdict(c) for c in run.code_slice],
    }


def lineage_document(store: Store, run: Run,
                     remote_of: Callable[[str], str | None]) -> dict[str, Any]:
    """The run's place in the lineage (``mlops/lineage.json``): its parent and retrains,
    the runs upstream and downstream of it (local ids with their ids on the server), and
    what it read and produced."""

    def linked(run_ids: list[str]) -> list[dict[str, str | None]]:
        return [{"run_id": r, "remote_run_id": remote_of(r)} for r in run_ids]

    return {"run_id": run.run_id,
            "parent": linked([run.parent_run_id])[0] if run.parent_run_id else None,
            "retrains": linked(store.retrains(run.run_id)),
            "upstream": linked(store.upstream(run.run_id)),
            "downstream": linked(store.downstream(run.run_id)),
            "inputs": _entities(run.inputs), "outputs": _entities(run.outputs)}


def code_slice_text(run: Run) -> str:
    """The cells that rebuild the run's inputs, then the run's cell, as one script."""
    parts = [f"# In[{c.execution_count if c.execution_count is not None else ' '}]\n{c.source}"
             for c in run.code_slice]
    return "\n\n".join([*parts, f"# the tracked cell\n{run.source}"]) + "\n"


def write_run_files(store: Store, run: Run, document: dict[str, Any],
                    lineage: dict[str, Any], folder: Path) -> None:
    """Write the ``mlops/`` artifacts of a run into ``folder``: the code slice only when
    cells before the run's feed it, the lineage only when the run has any (each file is one
    upload)."""
    folder.mkdir(parents=True)
    if document["models"]:
        (folder / MODELS_DIR).mkdir()
    (folder / CELL_FILE).write_text(run.source, encoding="utf-8")
    if run.code_slice:
        (folder / SLICE_FILE).write_text(code_slice_text(run), encoding="utf-8")
    (folder / RUN_FILE).write_text(json.dumps(document, indent=1, default=repr),
                                   encoding="utf-8")
    if any(lineage[k] for k in ("parent", "retrains", "upstream", "downstream", "inputs",
                                "outputs")):
        (folder / LINEAGE_FILE).write_text(json.dumps(lineage, indent=1), encoding="utf-8")
    for model in document["models"]:
        data, _, _ = store.model_artifact(run.run_id, model["variable"])
        (folder / model["file"]).write_bytes(data)
