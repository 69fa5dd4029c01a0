"""Registered models, their versions, stages and aliases — with every change audited.

Stages ``staging`` and ``production`` are held by at most one version of a model (a partial
unique index); moving a version into one archives the previous holder. ``archived`` may hold
any number. Any other name is a free alias (``champion``), also held by one version at most.
Every change appends an event to the audit log in the same transaction.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import NotFoundError, PromotionError, UnfinishedRunError
from .audit import Event, append_event

if TYPE_CHECKING:
    from .store import Store

STAGES = ("staging", "production", "archived")
EXCLUSIVE_STAGES = ("staging", "production")
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")  # matched whole (fullmatch)
MAX_VERSION = 10**9


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model: a tracked model of a run, under a name."""

    name: str
    version: int
    run_id: str
    model_fingerprint: str
    model_variable: str
    stage: str | None
    aliases: list[str] = field(default_factory=list)
    created_at: float = 0.0
    created_by: str | None = None
    reason: str | None = None
    gate: dict[str, Any] | None = None
    run_name: str | None = None  # None when that run is no longer in the store
    # The open request to move this version that waits for approval: request, stage, expires_at
    pending: dict[str, Any] | None = None

    @property
    def ref(self) -> str:
        """``name/version``, usable wherever a model reference is accepted."""
        return f"{self.name}/{self.version}"


def check_name(name: str, what: str = "model name") -> str:
    """Validate a model name or alias early, with a clear message."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ValueError(f"invalid {what} {name!r}: use letters, digits, '_', '-', '.' "
                         "(starting with a letter or digit, at most 128 characters)")
    return name


def check_version(version: int) -> int:
    """Validate a version number early (SQLite cannot even compare a 20-digit integer)."""
    if isinstance(version, bool) or not isinstance(version, int) or \
            not 1 <= version <= MAX_VERSION:
        raise ValueError(f"invalid version number {str(version)[:20]!r}: versions are counted "
                         f"from 1 (at most {MAX_VERSION})")
    return version


def _row_to_version(row: Any) -> ModelVersion:
    name, version, run_id, fingerprint, variable, stage, created_at, by, reason, gate, \
        aliases, run_name, pending = row
    return ModelVersion(name, version, run_id, fingerprint, variable, stage,
                        sorted(json.loads(aliases)), created_at, by, reason,
                        json.loads(gate) if gate else None, run_name,
                        json.loads(pending) if pending else None)


# A version's columns, its aliases and run name included (one query for any number of them).
_VERSION_COLUMNS = (
    "name, version, run_id, model_fingerprint, model_variable, stage, created_at, created_by, "
    "reason, gate, (SELECT json_group_array(a.alias) FROM model_aliases a "
    "WHERE a.name = model_versions.name AND a.version = model_versions.version), "
    "(SELECT r.name FROM runs r WHERE r.run_id = model_versions.run_id), "
    "(SELECT json_object('request', q.id, 'stage', q.stage, 'expires_at', q.expires_at) "
    "FROM approval_requests q WHERE q.name = model_versions.name AND q.version = "
    "model_versions.version AND q.status = 'pending' AND q.expires_at > "
    "(julianday('now') - 2440587.5) * 86400.0 ORDER BY q.id DESC LIMIT 1)"
)


def get_version(store: Store, ref: str) -> ModelVersion:
    """Resolve ``name/3``, ``name@production``, ``name@champion`` or ``name`` (latest)."""
    name, version, label = parse_model_ref(ref)
    conn = store.conn
    if version is not None:
        row = conn.execute(f"SELECT {_VERSION_COLUMNS} FROM model_versions "
                           "WHERE name = ? AND version = ?", [name, version]).fetchone()
    elif label is not None:
        row = conn.execute(
            f"SELECT {_VERSION_COLUMNS} FROM model_versions WHERE name = ? AND (stage = ? "
            "OR version = (SELECT version FROM model_aliases WHERE name = ? AND alias = ?)) "
            "ORDER BY stage = ? DESC, version DESC LIMIT 1", [name, label, name, label, label]
        ).fetchone()
    else:
        row = conn.execute(f"SELECT {_VERSION_COLUMNS} FROM model_versions WHERE name = ? "
                           "ORDER BY version DESC LIMIT 1", [name]).fetchone()
    if row is None:
        known = [n for (n,) in conn.execute("SELECT name FROM registered_models ORDER BY name")]
        raise NotFoundError(f"no model version {ref!r} in this store (registered models: "
                            f"{', '.join(known) or 'none'}; promote a run with "
                            "`%mlops promote RUN --name NAME`)")
    return _row_to_version(row)


def require_finished(store: Store, run_id: str) -> None:
    """Refuse a run that did not finish: its model cannot be promoted or bundled.

    Raises
    ------
    UnfinishedRunError
        the run failed, was interrupted or is still running.
    """
    row = store.conn.execute("SELECT name, status, error FROM runs WHERE run_id = ?",
                             [run_id]).fetchone()
    if row is not None and row[1] != "finished":
        raise UnfinishedRunError(run_id, row[0], row[1], row[2])


def parse_model_ref(ref: str) -> tuple[str, int | None, str | None]:
    """``name/3`` → (name, 3, None); ``name@production`` → (name, None, "production")."""
    if "@" in ref:
        name, _, label = ref.partition("@")
        return check_name(name), None, check_name(label, "stage or alias")
    if "/" in ref:
        name, _, number = ref.rpartition("/")
        if not number.isdigit() or len(number) > len(str(MAX_VERSION)):
            raise ValueError(f"invalid model reference {ref[:60]!r}: use NAME/VERSION (a "
                             f"version up to {MAX_VERSION}) or NAME@STAGE")
        return check_name(name), check_version(int(number)), None
    return check_name(ref), None, None


def is_model_ref(ref: str) -> bool:
    """Whether ``ref`` looks like a registry reference rather than a run reference."""
    return isinstance(ref, str) and ("@" in ref or bool(re.match(r"^.+/\d+$", ref)))


def versions(store: Store, name: str | None = None) -> list[ModelVersion]:
    """All versions (of one model), newest first."""
    sql = f"SELECT {_VERSION_COLUMNS} FROM model_versions"
    args: list[Any] = []
    if name is not None:
        sql += " WHERE name = ?"
        args.append(name)
    rows = store.conn.execute(sql + " ORDER BY name, version DESC", args).fetchall()
    return [_row_to_version(row) for row in rows]


def _anchor(conn: Any, name: str, version: int, event: Event) -> None:
    """Record on the version's row the last audit event about it (an anchor of the chain
    outside the events table: removing or rewriting that event is then detected)."""
    conn.execute("UPDATE model_versions SET audit_seq = ?, audit_hash = ?, audit_keyed = "
                 "max(audit_keyed, (SELECT keyed FROM events WHERE seq = ?)) "
                 "WHERE name = ? AND version = ?",
                 [event.seq, event.hash, event.seq, name, version])


def _assign(store: Store, name: str, version: int, label: str, actor: str,
            reason: str | None, checks: dict[str, Any] | None = None) -> None:
    """Give ``label`` (stage or alias) to a version, inside the caller's transaction; the
    ``checks`` it passed (gate, verification) go into its event."""
    conn = store.conn
    if label in STAGES:
        previous = conn.execute("SELECT stage FROM model_versions WHERE name = ? AND version = ?",
                                [name, version]).fetchone()[0]
        if label in EXCLUSIVE_STAGES:
            holders = [v for (v,) in conn.execute(
                "SELECT version FROM model_versions WHERE name = ? AND stage = ? AND version != ?",
                [name, label, version])]
            for holder in holders:
                conn.execute("UPDATE model_versions SET stage = 'archived' "
                             "WHERE name = ? AND version = ?", [name, holder])
                _anchor(conn, name, holder, append_event(
                    conn, actor=actor, action="transition", subject=f"{name}/{holder}",
                    detail={"from": label, "to": "archived",
                            "because": f"{name}/{version} moved to {label}"}, reason=reason))
        conn.execute("UPDATE model_versions SET stage = ? WHERE name = ? AND version = ?",
                     [label, name, version])
        _anchor(conn, name, version, append_event(
            conn, actor=actor, action="transition", subject=f"{name}/{version}",
            detail={"from": previous, "to": label, **(checks or {})}, reason=reason))
    else:
        old = conn.execute("SELECT version FROM model_aliases WHERE name = ? AND alias = ?",
                           [name, label]).fetchone()
        conn.execute(
            "INSERT INTO model_aliases (name, alias, version, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version, "
            "updated_at = excluded.updated_at", [name, label, version, time.time()])
        _anchor(conn, name, version, append_event(
            conn, actor=actor, action="alias", subject=f"{name}/{version}",
            detail={"alias": label, "previous_version": old[0] if old else None,
                    **(checks or {})}, reason=reason))


def register_version(
    store: Store, *, name: str, run_id: str, model_fingerprint: str, model_variable: str,
    actor: str, label: str | None = None, reason: str | None = None,
    audit: dict[str, Any] | None = None,
) -> ModelVersion:
    """Create the next version of ``name`` (registering the name if new), audited."""
    check_name(name)
    if label is not None:
        check_name(label, "stage or alias")
    audit = audit or {}
    with store.transaction() as conn:
        now = time.time()
        if conn.execute("INSERT OR IGNORE INTO registered_models VALUES (?, ?, ?)",
                        [name, now, actor]).rowcount:
            append_event(conn, actor=actor, action="create-model", subject=name)
        version = conn.execute("SELECT coalesce(max(version), 0) + 1 FROM model_versions "
                               "WHERE name = ?", [name]).fetchone()[0]
        conn.execute(
            "INSERT INTO model_versions (name, version, run_id, model_fingerprint, "
            "model_variable, stage, created_at, created_by, reason, gate) "
            "VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?, ?)",
            [name, version, run_id, model_fingerprint, model_variable, now, actor, reason,
             json.dumps(audit.get("gate")) if audit.get("gate") else None])
        event = append_event(conn, actor=actor, action="register", subject=f"{name}/{version}",
                             detail={"run_id": run_id, "model": model_fingerprint, **audit},
                             reason=reason)
        if audit.get("forced"):
            event = append_event(conn, actor=actor, action="gate-override",
                                 subject=f"{name}/{version}", detail={"gate": audit.get("gate")},
                                 reason=reason)
        _anchor(conn, name, version, event)
        if label is not None:
            _assign(store, name, version, label, actor, reason)
    return get_version(store, f"{name}/{version}")


def record_refusal(store: Store, *, name: str, run_id: str, actor: str,
                   detail: dict[str, Any], reason: str | None = None) -> None:
    """Audit a promotion that a gate or a verification refused."""
    with store.transaction() as conn:
        append_event(conn, actor=actor, action="promotion-refused", subject=name,
                     detail={"run_id": run_id, **detail}, reason=reason)


def transition(store: Store, name: str, version: int, label: str, *, actor: str,
               reason: str | None = None, detail: dict[str, Any] | None = None
               ) -> ModelVersion:
    """Move a version to a stage, or point an alias at it; audited (with ``detail``: the
    checks the move passed)."""
    check_name(label, "stage or alias")
    check_version(version)
    with store.transaction() as conn:
        exists = conn.execute("SELECT 1 FROM model_versions WHERE name = ? AND version = ?",
                              [name, version]).fetchone()
        if not exists:
            raise NotFoundError(f"no version {version} of model {name!r}")
        _assign(store, name, version, label, actor, reason, detail)
    return get_version(store, f"{name}/{version}")


def delete_version(store: Store, name: str, version: int, *, actor: str, reason: str) -> None:
    """Remove a version from the registry (its run and model stay); audited."""
    if not reason:
        raise PromotionError("deleting a model version needs a reason (it goes in the audit log)")
    check_version(version)
    with store.transaction() as conn:
        deleted = conn.execute("DELETE FROM model_versions WHERE name = ? AND version = ?",
                               [name, version]).rowcount
        if not deleted:
            raise NotFoundError(f"no version {version} of model {name!r}")
        conn.execute("DELETE FROM model_aliases WHERE name = ? AND version = ?", [name, version])
        append_event(conn, actor=actor, action="delete", subject=f"{name}/{version}",
                     reason=reason)


def copy_version(store: Store, *, name: str, version: int, run_id: str,
                 model_fingerprint: str, model_variable: str, created_at: float,
                 created_by: str | None, reason: str | None, actor: str, origin: str) -> None:
    """Record a version copied from elsewhere (a tracking server), keeping its number; audited
    as a ``pull`` from ``origin``. Its stage and aliases follow with :func:`transition`."""
    check_name(name)
    check_version(version)
    with store.transaction() as conn:
        if conn.execute("INSERT OR IGNORE INTO registered_models VALUES (?, ?, ?)",
                        [name, created_at, created_by]).rowcount:
            append_event(conn, actor=actor, action="create-model", subject=name,
                         detail={"origin": origin})
        conn.execute(
            "INSERT INTO model_versions (name, version, run_id, model_fingerprint, "
            "model_variable, stage, created_at, created_by, reason) "
            "VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?)",
            [name, version, run_id, model_fingerprint, model_variable, created_at, created_by,
             reason])
        _anchor(conn, name, version, append_event(
            conn, actor=actor, action="pull", subject=f"{name}/{version}",
            detail={"origin": origin, "run_id": run_id, "model": model_fingerprint},
            reason=reason))
