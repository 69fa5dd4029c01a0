"""How a run reference becomes a run: one rule for every command (magic, CLI, REST, API).

In order: a full run id; a unique prefix of one (case-insensitive); a model reference
(``NAME@STAGE``, ``NAME@ALIAS``, ``NAME/VERSION``) means the run behind that version; a run
name means the latest run *tracked* under it: runs made by ``retrain`` keep their parent's
name but are reached by id, or by their model reference once promoted. When a name has
several runs, :attr:`Resolution.note` says which one was picked and what else it names.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import AmbiguousRunError, NotFoundError, RunNotFoundError
from .like import ESCAPE, like_escape

if TYPE_CHECKING:
    from .store import Store

SHOWN_IDS = 5  # ids listed when a prefix or a name matches several runs


@dataclass(frozen=True)
class Resolution:
    """The run a reference names, and a note when the choice was not the only one."""

    run_id: str
    note: str | None = None


def _ids(rows: list[tuple[str]]) -> str:
    shown = ", ".join(row[0][:12] for row in rows[:SHOWN_IDS])
    return shown + (", …" if len(rows) > SHOWN_IDS else "")


def _when(started: float) -> str:
    return dt.datetime.fromtimestamp(started).strftime("%Y-%m-%d %H:%M:%S")


def _by_name(conn: sqlite3.Connection, name: str) -> Resolution | None:
    rows = conn.execute(
        "SELECT run_id, parent_run_id IS NOT NULL, started_at FROM runs WHERE name = ? "
        "ORDER BY parent_run_id IS NOT NULL, started_at DESC, run_id DESC LIMIT ?",
        [name, SHOWN_IDS + 2]).fetchall()
    if not rows:
        return None
    picked, retrained, started = rows[0]
    if len(rows) == 1:
        return Resolution(picked)
    total, children = conn.execute(
        "SELECT count(*), sum(parent_run_id IS NOT NULL) FROM runs WHERE name = ?",
        [name]).fetchone()
    kind = ("the latest of its runs, all retrained" if retrained
            else "the latest run tracked under that name")
    what = f"{total - 1} other run(s)" + (
        f", {children - retrained} of them retrained" if children - retrained else "")
    return Resolution(picked, f"name {name!r} has {total} runs: picked {picked} ({kind}, "
                              f"started {_when(started)}); {what}: "
                              f"{_ids([(row[0],) for row in rows[1:]])} (use a run id)")


def resolve(store: Store, ref: str) -> Resolution:
    """The run ``ref`` names (see the module docstring); raises :class:`RunNotFoundError`,
    or :class:`AmbiguousRunError` for a prefix of several runs."""
    from .registry import get_version, is_model_ref

    conn = store.conn
    ref = str(ref).strip()
    if not ref:
        raise RunNotFoundError(ref)
    if conn.execute("SELECT 1 FROM runs WHERE run_id = ?", [ref]).fetchone():
        return Resolution(ref)
    prefix = like_escape(ref.upper()) + "%"
    rows = conn.execute(f"SELECT run_id FROM runs WHERE run_id LIKE ? {ESCAPE} "
                        "ORDER BY run_id LIMIT ?", [prefix, SHOWN_IDS + 1]).fetchall()
    if len(rows) == 1:
        return Resolution(str(rows[0][0]))
    if len(rows) > 1:
        total = conn.execute(f"SELECT count(*) FROM runs WHERE run_id LIKE ? {ESCAPE}",
                             [prefix]).fetchone()[0]
        raise AmbiguousRunError(ref, total, _ids(rows))
    model_error: NotFoundError | ValueError | None = None
    if is_model_ref(ref):
        try:
            version = get_version(store, ref)
            return Resolution(version.run_id, f"{ref} is {version.ref}, the model of run "
                                              f"{version.run_id}")
        except (NotFoundError, ValueError) as exc:
            model_error = exc  # a run may still have this name
    named = _by_name(conn, ref)
    if named is not None:
        return named
    if model_error is not None:
        raise RunNotFoundError(ref, str(model_error))
    raise RunNotFoundError(ref)
