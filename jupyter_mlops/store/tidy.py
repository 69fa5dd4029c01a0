"""Tidying runs after the fact: tags, notes, archiving, restoring and deleting — each audited.

Every change is one write transaction that also appends an event (subject ``run:RUN_ID``) to
the audit log. Deleting removes the run's rows only, never a file: artifacts that no row
references any more are left for ``jupyter-mlops doctor --fix`` (see :mod:`.doctor`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import RunInUseError
from .audit import append_event, user

if TYPE_CHECKING:
    import sqlite3

    from .store import Store

MAX_TAG_KEY = 128
MAX_TAG_VALUE = 200
MAX_TAGS = 100  # per run
MAX_NOTE = 10_000
MAX_REF = 200  # a run reference
MAX_RUNS = 1000  # runs in one archive, restore or delete
# A tag key is what `key:value` search finds (store/listing.py): a letter or _, then word
# characters, '.' or '-'.
TAG_KEY = re.compile(r"[A-Za-z_][\w.-]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
ARCHIVED = ("exclude", "include", "only")


def check_archived(archived: str) -> str:
    """Validate the ``archived`` listing option: ``exclude`` (the default), ``include``
    or ``only``."""
    if archived not in ARCHIVED:
        raise ValueError(f"archived={str(archived)[:40]!r}: use 'exclude' (hide archived runs, "
                         "the default), 'include' or 'only'")
    return archived


def check_tag(key: Any, value: Any = "") -> tuple[str, str]:
    """A tag key and value, validated early with a clear :class:`ValueError`."""
    if not isinstance(key, str) or not TAG_KEY.fullmatch(key) or len(key) > MAX_TAG_KEY:
        raise ValueError(f"invalid tag key {str(key)[:60]!r}: start with a letter or '_', then "
                         f"letters, digits, '_', '.' or '-' (at most {MAX_TAG_KEY} characters)")
    if not isinstance(value, str) or len(value) > MAX_TAG_VALUE or _CONTROL.search(value):
        raise ValueError(f"invalid value for tag {key!r}: text of at most {MAX_TAG_VALUE} "
                         "characters on one line")
    return key, value


def _actor(actor: str | None) -> str:
    return user() if actor is None else actor


def _check_ref(ref: Any) -> str:
    if not isinstance(ref, str) or len(ref) > MAX_REF:
        raise ValueError(f"a run reference is text of at most {MAX_REF} characters, got "
                         f"{str(ref)[:40]!r}")
    return ref


def _resolve(store: Store, ref: Any) -> str:
    return store.resolve_run_id(_check_ref(ref))


def _touch(conn: sqlite3.Connection, run_id: str) -> None:
    """Mark a run changed: the sidebar's change poll picks it up."""
    conn.execute("UPDATE runs SET updated_at = ? WHERE run_id = ?", [time.time(), run_id])


def edit_tags(store: Store, ref: str, set_tags: Mapping[str, str] | None = None,
              remove: Iterable[str] = (), *, actor: str | None = None) -> dict[str, str]:
    """Set and remove tags of a run in one audited change; returns the run's tags."""
    changes = [check_tag(key, value) for key, value in (set_tags or {}).items()]
    removed = [check_tag(key)[0] for key in remove]
    both = {key for key, _ in changes} & set(removed)
    if both:
        raise ValueError(f"tag {sorted(both)[0]!r} is both set and removed")
    run_id = _resolve(store, ref)
    with store.transaction() as conn:
        old = dict(conn.execute("SELECT key, value FROM tags WHERE run_id = ?", [run_id]))
        conn.executemany("INSERT OR REPLACE INTO tags VALUES (?, ?, ?)",
                         [(run_id, key, value) for key, value in changes])
        conn.executemany("DELETE FROM tags WHERE run_id = ? AND key = ?",
                         [(run_id, key) for key in removed])
        tags = dict(conn.execute("SELECT key, value FROM tags WHERE run_id = ?", [run_id]))
        if len(tags) > MAX_TAGS:
            raise ValueError(f"a run holds at most {MAX_TAGS} tags; this change would leave "
                             f"{len(tags)}")
        if tags != old:
            _touch(conn, run_id)
            append_event(conn, actor=_actor(actor), action="tag", subject=f"run:{run_id}",
                         detail={"set": dict(changes),
                                 "removed": [key for key in removed if key in old]})
    return tags


def set_note(store: Store, ref: str, note: str | None, *, actor: str | None = None) -> None:
    """Replace a run's note (``None`` or ``""`` clears it); audited."""
    if note is not None and not isinstance(note, str):
        raise ValueError(f"a note is text, not {type(note).__name__}")
    if note and len(note) > MAX_NOTE:
        raise ValueError(f"the note is {len(note)} characters long; at most {MAX_NOTE}")
    run_id = _resolve(store, ref)
    with store.transaction() as conn:
        conn.execute("UPDATE run_texts SET note = ? WHERE run_id = ?", [note or None, run_id])
        _touch(conn, run_id)
        append_event(conn, actor=_actor(actor), action="note", subject=f"run:{run_id}",
                     detail={"chars": len(note or "")})


def _refs(refs: Iterable[str] | str) -> list[str]:
    listed = [refs] if isinstance(refs, str) else list(refs)
    if not listed:
        raise ValueError("name at least one run")
    if len(listed) > MAX_RUNS:
        raise ValueError(f"at most {MAX_RUNS} runs at once, got {len(listed)}")
    return listed


def set_archived(store: Store, refs: Iterable[str] | str, archived: bool, *,
                 actor: str | None = None) -> list[str]:
    """Archive (or restore) runs: hidden from listings unless asked for, kept otherwise.
    Runs already in that state are left as they are; returns the ids changed."""
    run_ids = list(dict.fromkeys(_resolve(store, ref) for ref in _refs(refs)))
    changed = []
    with store.transaction() as conn:
        now = time.time()
        for run_id in run_ids:
            done = conn.execute(
                "UPDATE runs SET archived_at = ?, updated_at = ? WHERE run_id = ? AND "
                f"archived_at IS {'' if archived else 'NOT '}NULL",
                [now if archived else None, now, run_id]).rowcount
            if done:
                changed.append(run_id)
                append_event(conn, actor=_actor(actor), subject=f"run:{run_id}",
                             action="archive" if archived else "restore")
    return changed


def edit_run(store: Store, ref: str, *, set_tags: Mapping[str, str] | None = None,
             remove_tags: Iterable[str] = (), note: str | None = None,
             archived: bool | None = None, actor: str | None = None) -> str:
    """Several changes to one run in one transaction (all or none): tags set and removed,
    the note (``None``: unchanged, ``""``: cleared), archived (True) or restored (False).
    Returns the run's id."""
    run_id = _resolve(store, ref)
    with store.transaction():
        if set_tags or remove_tags:
            edit_tags(store, run_id, set_tags, remove_tags, actor=actor)
        if note is not None:
            set_note(store, run_id, note, actor=actor)
        if archived is not None:
            set_archived(store, [run_id], archived, actor=actor)
    return run_id


def _deletable(conn: sqlite3.Connection, ref: str, run_id: str, deleted: set[str]
               ) -> str | None:
    """Why a run cannot be deleted (along with the runs ``deleted``), or None."""
    if run_id != ref and not run_id.upper().startswith(ref.strip().upper()):
        return (f"{ref!r} names run {run_id} by name or model: delete takes run ids (or "
                "unique id prefixes), so that a name never deletes the wrong run")
    name, status = conn.execute("SELECT name, status FROM runs WHERE run_id = ?",
                                [run_id]).fetchone()
    if status == "running":
        return f"run {run_id} ({name}) is still running: wait for it to end"
    held = [f"{n}/{v} ({stage or 'no stage'})" for n, v, stage in conn.execute(
        "SELECT name, version, stage FROM model_versions WHERE run_id = ? ORDER BY name, "
        "version", [run_id])]
    if held:
        return (f"run {run_id} ({name}) is the run of registered model version(s) "
                f"{', '.join(held)}: archive the run instead, or delete those versions from "
                "the registry first (`jupyter-mlops delete-version`, audited)")
    children = [child for (child,) in conn.execute(
        "SELECT run_id FROM runs WHERE parent_run_id = ? ORDER BY started_at", [run_id])
        if child not in deleted]
    if children:
        return (f"run {run_id} ({name}) was retrained as {', '.join(children)}, whose lineage "
                "names it: archive it instead, or delete those runs with it")
    return None


def delete_runs(store: Store, refs: Iterable[str] | str, *, actor: str | None = None
                ) -> list[str]:
    """Delete runs and everything recorded only for them (params, metrics, tags, texts,
    lineage edges, and model and artifact rows no other run or version refers to); audited.

    All or nothing: a run that is still running, is a registered model version's run, or was
    retrained as runs not deleted with it refuses the whole call (:class:`RunInUseError`,
    naming why). Files are never removed here: artifacts
    left unreferenced are removed by ``jupyter-mlops doctor --fix``. Returns the ids deleted.
    """
    listed = [_check_ref(ref) for ref in _refs(refs)]
    with store.transaction() as conn:
        resolved = {ref: store.resolve_run_id(ref) for ref in listed}
        deleted = set(resolved.values())
        refused = [why for ref, run_id in resolved.items()
                   if (why := _deletable(conn, ref, run_id, deleted)) is not None]
        if refused:
            raise RunInUseError("nothing was deleted: " + "; ".join(refused))
        run_ids = list(dict.fromkeys(resolved.values()))
        for run_id in run_ids:
            detail = _delete_rows(conn, run_id)
            append_event(conn, actor=_actor(actor), action="delete-run",
                         subject=f"run:{run_id}", detail=detail)
    return run_ids


def _delete_rows(conn: sqlite3.Connection, run_id: str) -> dict[str, Any]:
    """Remove one run's rows; what the audit event keeps about it."""
    name, experiment, started = conn.execute(
        "SELECT r.name, e.name, r.started_at FROM runs r JOIN experiments e "
        "ON e.id = r.experiment_id WHERE r.run_id = ?", [run_id]).fetchone()
    models = [fp for (fp,) in conn.execute(
        "SELECT fingerprint FROM run_io WHERE run_id = ? AND direction = 'output' "
        "AND kind = 'model'", [run_id])]
    blobs = {fp.removeprefix("sha256:") for (fp,) in conn.execute(
        "SELECT fingerprint FROM run_io WHERE run_id = ? AND kind = 'artifact'", [run_id])}
    for table in ("params", "tags", "metrics", "latest_metrics", "run_io", "run_texts", "runs"):
        conn.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])
    for fingerprint in models:
        other = conn.execute("SELECT run_id FROM run_io WHERE fingerprint = ? AND direction = "
                             "'output' ORDER BY rowid LIMIT 1", [fingerprint]).fetchone()
        versioned = conn.execute("SELECT 1 FROM model_versions WHERE model_fingerprint = ?",
                                 [fingerprint]).fetchone()
        if other is not None:  # the same model made by another run: it is that run's now
            conn.execute("UPDATE models SET run_id = ? WHERE fingerprint = ? AND run_id = ?",
                         [other[0], fingerprint, run_id])
        elif versioned is None:
            blobs |= {sha for (sha,) in conn.execute(
                "SELECT artifact_sha256 FROM models WHERE fingerprint = ?", [fingerprint])}
            conn.execute("DELETE FROM models WHERE fingerprint = ?", [fingerprint])
    released = sorted(sha for sha in blobs if not conn.execute(
        "SELECT 1 FROM models WHERE artifact_sha256 = ? UNION ALL "
        "SELECT 1 FROM run_io WHERE fingerprint = ? LIMIT 1", [sha, "sha256:" + sha]).fetchone())
    conn.executemany("DELETE FROM artifacts WHERE sha256 = ?", [(sha,) for sha in released])
    return {"name": name, "experiment": experiment, "started_at": started,
            "released_artifacts": released}


__all__ = ["ARCHIVED", "MAX_NOTE", "MAX_TAG_KEY", "MAX_TAG_VALUE", "MAX_TAGS",
           "check_archived", "check_tag", "delete_runs", "edit_run", "edit_tags",
           "set_archived", "set_note"]
