"""Each CI run's baseline: the same cell's latest run that was not a CI run, or the run of a
model version (``--against NAME@STAGE``) for the cells that produced a model.

A cell is known by its notebook's file name and its cell id (nbformat 4.5), else by its
source hash: the store records ``notebook``, ``cell_id`` and ``source_hash`` of every run.
The notebook's directory is left out, so a CI checkout elsewhere (or a notebook moved to
another directory) still finds the team's runs; a renamed notebook finds them by cell id, but
a copy does not while its original is still in the project (Jupyter keeps cell ids when it
duplicates a notebook): its cells are new.
Two notebooks of the same file name in different directories share their baselines: give
them different names.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from ..store import Store
from ..store.registry import get_version
from .execute import CI_TAG


@dataclass(frozen=True)
class CellKey:
    """Who a tracked cell is, across runs and checkouts."""

    notebook: str
    cell: str

    def describe(self) -> str:
        return f"{self.notebook} cell {self.cell[:12]}"

    @property
    def ref(self) -> str:
        """How settings name the cell: ``NOTEBOOK.ipynb:CELL_ID`` (``retired``)."""
        return f"{self.notebook}:{self.cell}"

    @classmethod
    def parse(cls, ref: str) -> CellKey:
        """The key of ``NOTEBOOK.ipynb:CELL_ID`` (a ValueError says the form otherwise)."""
        notebook, sep, cell = ref.partition(".ipynb:")
        if not (sep and notebook.strip() and cell.strip()) or "/" in notebook:
            raise ValueError(f"{ref!r} is not NOTEBOOK.ipynb:CELL_ID (the notebook's file "
                             "name and the cell's id, as the recorded cells check names it)")
        return cls(notebook.strip() + ".ipynb", cell.strip())


@dataclass(frozen=True)
class Pairing:
    """A CI run and its baseline run (``None``: the cell has no earlier run)."""

    run_id: str
    key: CellKey
    baseline: str | None


def cell_key(notebook: str | None, cell_id: str | None, source_hash: str | None) -> CellKey:
    """The key of a run's cell: its notebook's name and its cell id, else its source hash."""
    return CellKey(Path(notebook or "?").name, cell_id or f"source:{source_hash}")


def _latest_non_ci(store: Store, before: float) -> dict[CellKey, str]:
    """The latest run before ``before`` of every cell, CI runs left out."""
    rows = store.conn.execute(
        "SELECT run_id, notebook, cell_id, source_hash FROM runs WHERE started_at < ? "
        "AND status = 'finished' AND run_id NOT IN (SELECT run_id FROM tags WHERE key = ?) "
        "ORDER BY started_at", [before, CI_TAG]).fetchall()
    return {cell_key(notebook, cell, source): run_id for run_id, notebook, cell, source in rows}


def pair_runs(store: Store, run_ids: list[str], before: float, *,
              against: str | None = None, present: Collection[str] = ()) -> list[Pairing]:
    """Each CI run in ``run_ids`` with its baseline: with ``against`` (``NAME@STAGE``), the
    version's run for the runs that produced a model; else the same cell's latest non-CI run
    started before ``before`` — in a notebook of another name when this one has no runs of
    its own and that notebook is not among ``present`` (the file names of the project's
    notebooks): it was renamed, keeping its cell ids, and its cells' source when they have
    none. A copy of a notebook still present, or a cell new to a notebook with history that
    matches another notebook's, is a new cell."""
    latest = _latest_non_ci(store, before)
    by_cell = {key.cell: run_id for key, run_id in latest.items()  # the latest wins
               if key.notebook not in present}
    known = {key.notebook for key in latest}
    versioned = get_version(store, against).run_id if against else None
    pairings = []
    for run_id in run_ids:
        notebook, cell, source = store.conn.execute(
            "SELECT notebook, cell_id, source_hash FROM runs WHERE run_id = ?",
            [run_id]).fetchone()
        key = cell_key(notebook, cell, source)
        baseline = latest.get(key)
        if baseline is None and key.notebook not in known:  # no runs of its own
            baseline = by_cell.get(key.cell)
        if versioned and store.get_run(run_id).models:
            baseline = versioned
        pairings.append(Pairing(run_id, key, baseline))
    return pairings


def missing_cells(store: Store, notebook: Path, pairings: list[Pairing],
                  before: float) -> list[tuple[CellKey, str]]:
    """The cells of ``notebook`` that recorded a run before but none in CI (key, last run),
    retired ones included."""
    seen = {p.key for p in pairings}
    return [(key, run_id) for key, run_id in _latest_non_ci(store, before).items()
            if key.notebook == notebook.name and key not in seen]
