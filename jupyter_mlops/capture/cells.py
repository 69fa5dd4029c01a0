"""The kernel's cell history: every executed cell, cheaply (no data hashing).

It answers two questions for a tracked cell: which earlier cells produced the names it reads
(the replayable code slice), and whether any of them is stale (its cell was since edited or
re-run out of order).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from ..entities import CodeCell
from .analysis import CellAnalysis

MAX_CELLS = 5_000


@dataclass(frozen=True)
class CellRecord:
    """One executed cell."""

    seq: int
    execution_count: int | None
    cell_id: str | None
    source: str
    analysis: CellAnalysis
    succeeded: bool
    executed_at: float

    def label(self) -> str:
        """How a user recognises the cell: its prompt number."""
        return f"[{self.execution_count}]" if self.execution_count is not None else "a cell"


class CellHistory:
    """The cells executed in this kernel, oldest first (bounded)."""

    def __init__(self) -> None:
        self.cells: list[CellRecord] = []
        self._seq = 0

    def add(
        self,
        source: str,
        analysis: CellAnalysis,
        *,
        execution_count: int | None = None,
        cell_id: str | None = None,
        succeeded: bool = True,
    ) -> CellRecord:
        """Record an executed cell."""
        self._seq += 1
        record = CellRecord(self._seq, execution_count, cell_id, source, analysis, succeeded,
                            time.time())
        self.cells.append(record)
        if len(self.cells) > MAX_CELLS:
            del self.cells[: len(self.cells) - MAX_CELLS]
        return record

    def _definer(self, name: str, before: int) -> CellRecord | None:
        """The latest successful cell before sequence ``before`` that bound ``name``."""
        for record in reversed(self.cells):
            if record.seq < before and record.succeeded and name in record.analysis.binds:
                return record
        return None

    def code_slice(self, reads: Iterable[str]) -> list[CellRecord]:
        """The earlier cells the given names come from, transitively, in execution order."""
        chosen: dict[int, CellRecord] = {}
        pending = [(name, self._seq + 1) for name in reads]
        while pending:
            name, before = pending.pop()
            definer = self._definer(name, before)
            if definer is None or definer.seq in chosen:
                continue
            chosen[definer.seq] = definer
            pending += [(n, definer.seq) for n in definer.analysis.reads]
        return [chosen[seq] for seq in sorted(chosen)]

    def staleness(self, reads: Iterable[str]) -> list[str]:
        """Warnings about names read from cells that were since edited or re-run out of order."""
        warnings: list[str] = []
        for record in self.code_slice(reads):
            later = [c for c in self.cells if c.seq > record.seq]
            rerun = next((c for c in later if record.cell_id and c.cell_id == record.cell_id), None)
            bound = sorted(set(reads).intersection(record.analysis.binds)) or sorted(
                record.analysis.binds)
            if rerun is not None and rerun.source != record.source and not (
                set(rerun.analysis.binds).intersection(record.analysis.binds)
            ):
                warnings.append(
                    f"{', '.join(bound)} came from cell {record.label()}, which has since been "
                    f"edited and re-run as {rerun.label()} without defining it: re-run the cells "
                    "in order to make this run reproducible"
                )
            for name in sorted(record.analysis.reads):
                redefiner = next((c for c in later if name in c.analysis.binds), None)
                if redefiner is not None and redefiner.seq < self._seq + 1:
                    warnings.append(
                        f"{', '.join(bound)} (from {record.label()}) was computed from {name}, "
                        f"which {redefiner.label()} redefined afterwards: it may be stale, "
                        f"re-run {record.label()}"
                    )
        return list(dict.fromkeys(warnings))

    @staticmethod
    def as_code(records: Iterable[CellRecord]) -> list[CodeCell]:
        """The records as the code cells stored with a run."""
        return [CodeCell(r.execution_count, r.source, r.cell_id) for r in records]
