"""The append-only, hash-chained audit log of promotions, transitions and deletions.

Each event stores the sha256 of its own content chained with the previous event's hash, so
editing or deleting a row (after dropping the store's protective triggers) breaks the chain
from that row on, and :func:`verify_chain` says where.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64


@dataclass(frozen=True)
class Event:
    """One audit event."""

    seq: int
    at: float
    actor: str
    action: str
    subject: str
    detail: dict[str, Any]
    reason: str | None
    hash: str


def _digest(prev_hash: str, seq: int, at: float, actor: str, action: str, subject: str,
            detail: str, reason: str | None) -> str:
    canonical = json.dumps([prev_hash, seq, repr(at), actor, action, subject, detail, reason],
                           ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def append_event(conn: sqlite3.Connection, *, actor: str, action: str, subject: str,
                 detail: dict[str, Any] | None = None, reason: str | None = None) -> Event:
    """Append an event; call inside the write transaction of the change it records."""
    last = conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS)
    at = time.time()
    detail_text = json.dumps(detail or {}, sort_keys=True, default=repr)
    digest = _digest(prev_hash, seq, at, actor, action, subject, detail_text, reason)
    conn.execute(
        "INSERT INTO events (seq, at, actor, action, subject, detail, reason, prev_hash, hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [seq, at, actor, action, subject, detail_text, reason, prev_hash, digest],
    )
    return Event(seq, at, actor, action, subject, detail or {}, reason, digest)


def events(conn: sqlite3.Connection, subject: str | None = None, limit: int | None = None
           ) -> list[Event]:
    """Events, newest first (optionally of one subject, e.g. ``"fraud"`` or ``"fraud/3"``)."""
    sql = "SELECT seq, at, actor, action, subject, detail, reason, hash FROM events"
    args: list[Any] = []
    if subject is not None:
        sql += " WHERE subject = ? OR subject LIKE ?"
        args += [subject, subject + "/%"]
    sql += " ORDER BY seq DESC"
    if limit is not None:
        sql += " LIMIT ?"
        args.append(limit)
    return [Event(seq, at, actor, action, subj, json.loads(detail), reason, digest)
            for seq, at, actor, action, subj, detail, reason, digest in conn.execute(sql, args)]


def verify_chain(conn: sqlite3.Connection) -> list[str]:
    """Problems in the audit chain (empty when every event is intact and in sequence)."""
    problems: list[str] = []
    prev_hash, expected_seq = GENESIS, 1
    rows = conn.execute(
        "SELECT seq, at, actor, action, subject, detail, reason, prev_hash, hash "
        "FROM events ORDER BY seq"
    )
    for seq, at, actor, action, subject, detail, reason, stored_prev, digest in rows:
        if seq != expected_seq:
            problems.append(f"audit log: event {expected_seq} is missing (next is {seq})")
        if stored_prev != prev_hash:
            problems.append(f"audit log: event {seq} does not follow the event before it")
        if _digest(stored_prev, seq, at, actor, action, subject, detail, reason) != digest:
            problems.append(f"audit log: event {seq} ({action} {subject}) was altered")
        prev_hash, expected_seq = digest, seq + 1
    return problems
