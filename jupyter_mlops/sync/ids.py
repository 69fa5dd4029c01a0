"""The store's record of a sync (tables ``sync_ids`` and ``sync_cursors``): which local
experiment, run and model version is which on each server, what of it was sent, and the
change cursor of the last complete push; and the lock that makes one push or pull of a
store with a server at a time."""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import SyncError
from ..store import Store

CREATING = "creating:"  # the remote id of a run being created (found by its tag after a crash)
LOCK_WAIT_S = 600.0  # a push or pull waits this long for another one of the same store
SAY_WAITING_S = 2.0  # ... and says it waits after this long


@contextmanager
def exclusive(store: Store, remote: str) -> Iterator[None]:
    """One push or pull of a store with ``remote`` at a time, across processes (two kernels
    auto-pushing, a push from a terminal beside them): two at once would both create a run
    neither has recorded yet. An OS lock on a file beside the store, which the system
    releases when its process ends, however it ends."""
    from filelock import FileLock, Timeout

    path = store.directory / f"sync-{hashlib.sha256(remote.encode()).hexdigest()[:16]}.lock"
    # never a marker file (a crashed process would leave it held), and the file stays: one
    # unlinked while another process waits on it would let a third take a second lock
    lock = FileLock(path, fallback_to_soft=False, preserve_lock_file=True)
    try:
        try:
            lock.acquire(timeout=min(SAY_WAITING_S, LOCK_WAIT_S))
        except Timeout:
            if LOCK_WAIT_S <= SAY_WAITING_S:
                raise
            print(f"waiting for another push or pull of this store with {remote} to end "
                  f"(at most {LOCK_WAIT_S:g} s)...", file=sys.stderr, flush=True)
            lock.acquire(timeout=LOCK_WAIT_S - SAY_WAITING_S)
    except Timeout:
        raise SyncError(f"another push or pull of this store with {remote} has held {path} "
                        f"for {LOCK_WAIT_S:g} s; try again when it ends") from None
    except (OSError, NotImplementedError) as exc:
        raise SyncError(f"cannot lock {path} ({exc}): a store that pushes or pulls needs a "
                        "folder on a file system with file locks") from None
    try:
        yield
    finally:
        lock.release()


def remote_of(store: Store, remote: str, kind: str, local_id: str,
              direction: str | None = None) -> tuple[str, dict[str, Any]] | None:
    """(remote id, state) of a local entity pushed to or pulled from ``remote`` (only one
    way when ``direction`` is given), or None when never synced."""
    row = store.conn.execute(
        "SELECT remote_id, state FROM sync_ids WHERE remote = ? AND kind = ? AND local_id = ? "
        "AND coalesce(?, direction) = direction", [remote, kind, local_id, direction]
    ).fetchone()
    return None if row is None else (row[0], json.loads(row[1] or "{}"))


def pushed_run(store: Store, remote: str, run_id: str) -> str | None:
    """The id on ``remote`` of a local run that was pushed there (or pulled from it)."""
    known = remote_of(store, remote, "run", run_id)
    return None if known is None or known[0].startswith(CREATING) else known[0]


def local_of(store: Store, remote: str, kind: str, remote_id: str) -> tuple[str, str] | None:
    """(local id, direction) of a remote entity, or None when never synced."""
    row = store.conn.execute(
        "SELECT local_id, direction FROM sync_ids WHERE remote = ? AND kind = ? "
        "AND remote_id = ?", [remote, kind, remote_id]).fetchone()
    return None if row is None else (row[0], row[1])


def record(store: Store, remote: str, kind: str, local_id: str, remote_id: str, *,
           direction: str, state: dict[str, Any] | None = None) -> None:
    """Remember (or update) a synced entity and what of it was sent."""
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO sync_ids (remote, kind, local_id, remote_id, direction, state, at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (remote, kind, local_id) DO UPDATE SET "
            "remote_id = excluded.remote_id, state = excluded.state, at = excluded.at",
            [remote, kind, local_id, remote_id, direction, json.dumps(state or {}),
             time.time()])


def pushed_versions(store: Store, remote: str) -> dict[str, str]:
    """The model versions this store pushed to ``remote`` (``name/number`` there), with their
    local refs."""
    return {remote_id: local for local, remote_id in store.conn.execute(
        "SELECT local_id, remote_id FROM sync_ids WHERE remote = ? AND kind = 'version' "
        "AND direction = 'push'", [remote])}


def foreign_aliases(store: Store, remote: str, name: str, aliases: dict[str, Any]
                    ) -> dict[str, str]:
    """Of model ``name``'s ``aliases`` on ``remote`` (alias → version number), those held by
    a version this store did not push there."""
    ours = pushed_versions(store, remote)
    return {alias: str(number) for alias, number in aliases.items()
            if f"{name}/{number}" not in ours}


def pulled_runs(store: Store) -> set[str]:
    """Local ids of the runs that are copies pulled from a server (never pushed back)."""
    return {r for (r,) in store.conn.execute(
        "SELECT local_id FROM sync_ids WHERE kind = 'run' AND direction = 'pull'")}


def cursor(store: Store, remote: str) -> tuple[float, int]:
    """(runs' updated_at, audit event seq) up to which the last complete push sent all."""
    row = store.conn.execute("SELECT updated_at, event_seq FROM sync_cursors WHERE remote = ?",
                             [remote]).fetchone()
    return (0.0, 0) if row is None else (row[0], row[1])


def current_cursor(store: Store) -> tuple[float, int]:
    """The store's change cursor now (as the REST API's ``changes`` reads it)."""
    updated, seq = store.conn.execute(
        "SELECT (SELECT max(updated_at) FROM runs), (SELECT max(seq) FROM events)").fetchone()
    return (updated or 0.0, seq or 0)


def advance(store: Store, remote: str, to: tuple[float, int]) -> None:
    """Record that everything up to ``to`` was pushed to ``remote``."""
    with store.transaction() as conn:
        conn.execute("INSERT OR REPLACE INTO sync_cursors VALUES (?, ?, ?, ?)",
                     [remote, to[0], to[1], time.time()])
