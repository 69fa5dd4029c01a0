"""The append-only, hash-chained audit log of promotions, transitions and deletions.

Each event stores the sha256 (an HMAC with the audit key, see :mod:`.anchors`) of its own
content chained with the previous event's hash, so editing a row (after dropping the store's
protective triggers) breaks the chain from that row on, and :func:`verify_chain` says where.
Removing the newest rows or recomputing the whole chain is caught by the anchors.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import sqlite3
import time
from dataclasses import dataclass
from functools import cache
from typing import Any

from ..errors import StoreError
from .anchors import Head, audit_key, sign

USER_ENV = "JUPYTER_MLOPS_USER"


def user() -> str:
    """Who acts here, as runs and the audit log record it: ``$JUPYTER_MLOPS_USER`` when set,
    else the operating-system user running this process."""
    return os.environ.get(USER_ENV) or _os_user()


@cache
def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return os.environ.get("USER", "unknown")


GENESIS = "0" * 64
ADOPT_KEY = "adopt-audit-key"


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
            detail: str, reason: str | None, key: bytes | None = None) -> str:
    canonical = json.dumps([prev_hash, seq, repr(at), actor, action, subject, detail, reason],
                           ensure_ascii=False, separators=(",", ":"))
    return sign(key, canonical) if key else hashlib.sha256(canonical.encode()).hexdigest()


def append_event(conn: sqlite3.Connection, *, actor: str, action: str, subject: str,
                 detail: dict[str, Any] | None = None, reason: str | None = None) -> Event:
    """Append an event; call inside the write transaction of the change it records."""
    last = conn.execute("SELECT seq, hash, keyed FROM events ORDER BY seq DESC LIMIT 1"
                        ).fetchone()
    seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS)
    at = time.time()
    detail_text = json.dumps(detail or {}, sort_keys=True, default=repr)
    key = audit_key()
    if key is not None and last is not None and not last[2] and action != ADOPT_KEY:
        # Signing on would bless whatever the unsigned events say, even a log re-written
        # without the key: adopting a key is an explicit, checked step.
        raise StoreError(
            "the audit log is not signed with the audit key set here ($JUPYTER_MLOPS_AUDIT_KEY "
            "or ..._KEY_FILE), so nothing was changed. Run `jupyter-mlops doctor`: if the key "
            "was only just configured for this store, `jupyter-mlops doctor --adopt-key` starts "
            "the signed chain; if the store had a key before, the log was re-written without it")
    digest = _digest(prev_hash, seq, at, actor, action, subject, detail_text, reason, key)
    conn.execute(
        "INSERT INTO events (seq, at, actor, action, subject, detail, reason, prev_hash, hash, "
        "keyed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [seq, at, actor, action, subject, detail_text, reason, prev_hash, digest, int(bool(key))],
    )
    return Event(seq, at, actor, action, subject, detail or {}, reason, digest)


def events(conn: sqlite3.Connection, subject: str | None = None, limit: int | None = None
           ) -> list[Event]:
    """Events, newest first (optionally of one subject, e.g. ``"fraud"`` or ``"fraud/3"``)."""
    sql = "SELECT seq, at, actor, action, subject, detail, reason, hash FROM events"
    args: list[Any] = []
    if subject is not None:
        sql += " WHERE subject = ? OR substr(subject, 1, ?) = ?"  # exact, not LIKE: no wildcards
        args += [subject, len(subject) + 1, subject + "/"]
    sql += " ORDER BY seq DESC"
    if limit is not None:
        sql += " LIMIT ?"
        args.append(limit)
    return [Event(seq, at, actor, action, subj, json.loads(detail), reason, digest)
            for seq, at, actor, action, subj, detail, reason, digest in conn.execute(sql, args)]


def head(conn: sqlite3.Connection) -> Head:
    """The newest event's (seq, hash); ``Head(0, GENESIS)`` for an empty log."""
    row = conn.execute("SELECT seq, hash, keyed FROM events ORDER BY seq DESC LIMIT 1"
                       ).fetchone()
    return Head(row[0], row[1], keyed=bool(row[2])) if row else Head(0, GENESIS)


def verify_chain(conn: sqlite3.Connection, key: bytes | None = None
                 ) -> tuple[list[str], list[str]]:
    """Problems and warnings of the audit chain (no problems: every event is intact and in
    sequence). Events signed with a key are checked with ``key``; without it, only their
    order and links, which is a warning. With ``key``, unsigned events are a problem unless
    they come before an explicit adoption of the key (``doctor --adopt-key``)."""
    problems: list[str] = []
    unverified: list[int] = []
    signed_from: int | None = None
    adopted = False
    prev_hash, expected_seq = GENESIS, 1
    rows = conn.execute(
        "SELECT seq, at, actor, action, subject, detail, reason, prev_hash, hash, keyed "
        "FROM events ORDER BY seq"
    )
    for seq, at, actor, action, subject, detail, reason, stored_prev, digest, keyed in rows:
        if seq != expected_seq:
            problems.append(f"audit log: event {expected_seq} is missing (next is {seq})")
        if stored_prev != prev_hash:
            problems.append(f"audit log: event {seq} does not follow the event before it")
        if keyed and signed_from is None:
            signed_from, adopted = seq, action == ADOPT_KEY
        if not keyed and signed_from is not None:
            problems.append(f"audit log: event {seq} ({action} {subject}) is not signed although "
                            f"events from {signed_from} on are: it was rewritten without the key")
        if keyed and key is None:
            unverified.append(seq)
        elif _digest(stored_prev, seq, at, actor, action, subject, detail, reason,
                     key if keyed else None) != digest:
            problems.append(f"audit log: event {seq} ({action} {subject}) was altered")
        prev_hash, expected_seq = digest, seq + 1
    warnings = []
    if unverified:
        warnings.append(f"audit log: events {unverified[0]}-{unverified[-1]} are signed with an "
                        "audit key that is not set here, so only their order was checked: set "
                        "$JUPYTER_MLOPS_AUDIT_KEY (or ..._KEY_FILE) to verify them")
    if key is not None and expected_seq > 1 and not adopted and signed_from != 1:
        unsigned = f"events 1-{(signed_from or expected_seq) - 1}"
        problems.append(
            f"audit log: an audit key is set but {unsigned} are not signed with it, and no "
            "adoption of the key comes after them: a log re-written without the key looks "
            "exactly like this. If the key was only just configured and this store never had "
            "one, `jupyter-mlops doctor --adopt-key` starts the signed chain")
    return problems, warnings
