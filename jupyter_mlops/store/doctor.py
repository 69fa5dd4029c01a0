"""What ``jupyter-mlops doctor`` checks, the one repair it may make, and key adoption.

Problems: the schema, SQLite's own check, missing or altered artifacts, the audit chain (its
hashes, its protective triggers, its anchors: head file, version rows, bundles) and the
registry against the replayed log, and approved moves that never finished (the process
carrying one out died: approving the request again retries it). Warnings: what is harmless
or needs the user's key, such as an artifact file no row refers to (its run was deleted, or
a crash came between writing a model and committing its run). ``--fix`` removes only those:
files named by their sha256 under ``artifacts/``, older than :data:`GRACE_S` (a run may be
about to record a newer one), that no row references.
``--adopt-key`` starts the signed chain on a store that provably never had an audit key.
"""

from __future__ import annotations

import re
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import StoreError
from .anchors import (
    HEAD_FILENAME,
    MAX_JSON_BYTES,
    Head,
    audit_key,
    head_signature,
    parse_json,
    read_head,
    read_json,
)
from .approvals import approved_at, stuck
from .audit import ADOPT_KEY, append_event, verify_chain
from .audit import head as chain_head
from .replay import registry_problems
from .schema import AUDIT_TRIGGERS, known_migrations

if TYPE_CHECKING:
    from .store import Store

GRACE_S = 600.0
# Names jupyter-mlops gives files under artifacts/, matched whole ("$" allows a final newline):
# a blob's sha256, and the temporary file tempfile.mkstemp(prefix=".tmp-") makes for it.
_BLOB = re.compile(r"[0-9a-f]{64}")
_TEMPORARY = re.compile(r"\.tmp-[a-z0-9_]{8}")


@dataclass
class Diagnosis:
    """What doctor found: problems (exit 1), warnings, and the artifact files ``--fix`` may
    remove."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unreferenced: list[Path] = field(default_factory=list)
    keyed_evidence: list[str] = field(default_factory=list)


def diagnose(store: Store, bundles: list[Path] | None = None) -> Diagnosis:
    """Check the store (and the audit anchors in these bundles' ``lineage.json``)."""
    found = Diagnosis()
    applied = store.schema_version
    missing = [name for name in known_migrations() if name not in applied]
    if missing:
        found.problems.append(f"schema is missing migrations {missing}")
    result = store.conn.execute("PRAGMA quick_check").fetchone()[0]
    if result != "ok":
        found.problems.append(f"SQLite quick_check: {result}")
    _check_artifacts(store, found)
    key = audit_key(store.directory)
    problems, warnings = verify_chain(store.conn, key)
    found.problems += problems + _trigger_problems(store)
    found.warnings += warnings
    found.problems += _anchor_problems(store, key, found)
    if store.conn.execute("SELECT 1 FROM events WHERE keyed LIMIT 1").fetchone():
        found.keyed_evidence.append("signed events")
    for bundle in bundles or []:
        found.problems += _bundle_problems(store, bundle, found)
    found.problems += registry_problems(store.conn)
    found.problems += [f"approval request {r.id} ({r.ref} → {r.stage}) was approved at "
                       f"{time.ctime(approved_at(store, r.id) or r.requested_at)} but its move "
                       f"never finished: `jupyter-mlops approve {r.id}` retries it"
                       for r in stuck(store)]
    return found


def _check_artifacts(store: Store, found: Diagnosis) -> None:
    recorded = {row[0] for row in store.conn.execute("SELECT sha256 FROM artifacts")}
    on_disk = store.artifacts.all_hashes()
    for sha in sorted(recorded - on_disk):
        found.problems.append(f"artifact {sha} is recorded but missing from "
                              f"{store.artifacts.root}")
    for sha in sorted(recorded & on_disk):
        try:
            store.artifacts.get(sha, verify=True)
        except Exception as exc:
            found.problems.append(str(exc))
    dangling_models = store.conn.execute(
        "SELECT count(*) FROM models WHERE artifact_sha256 NOT IN (SELECT sha256 FROM artifacts)"
    ).fetchone()[0]
    if dangling_models:
        found.problems.append(f"{dangling_models} model(s) refer to artifacts that are not "
                              "recorded")
    for path in _unreferenced(store, recorded):
        found.unreferenced.append(path)
        found.warnings.append(f"artifact file {path} is referenced by no record (its run was "
                              "deleted, or a crash came before its run was committed); "
                              "`jupyter-mlops doctor --fix` removes it")


def _unreferenced(store: Store, recorded: set[str]) -> list[Path]:
    """Files under artifacts/ that jupyter-mlops wrote (sha256-named blobs, or their
    temporary files) and no row references."""
    root = store.artifacts.root
    if not root.is_dir():
        return []
    paths = []
    for path in sorted(root.glob("??/*")):
        name = path.name
        ours = (_BLOB.fullmatch(name) and name[:2] == path.parent.name) or \
            _TEMPORARY.fullmatch(name)
        if ours and path.is_file() and not path.is_symlink() and name not in recorded:
            paths.append(path)
    return paths


def _trigger_problems(store: Store) -> list[str]:
    found = dict(store.conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'events'"))
    problems = []
    for name, sql in AUDIT_TRIGGERS.items():
        if name not in found:
            problems.append(f"audit log: trigger {name} was dropped: the log is not "
                            "append-only any more")
        elif " ".join(found[name].split()) != " ".join(sql.split()):
            problems.append(f"audit log: trigger {name} was replaced by other SQL: "
                            f"{' '.join(found[name].split())}")
    return problems


def _anchor_problems(store: Store, key: bytes | None, found: Diagnosis) -> list[str]:
    conn = store.conn
    hashes = dict(conn.execute("SELECT seq, hash FROM events"))
    keyed_events = {seq for (seq,) in conn.execute("SELECT seq FROM events WHERE keyed")}
    problems = []
    try:
        head = read_head(store.directory)
    except StoreError as exc:
        problems.append(f"audit log: {exc}")  # one problem: the file is there, unreadable
        found.keyed_evidence.append(f"an unreadable {HEAD_FILENAME}")
    else:
        if head is None and "m008_audit_anchors" in store.schema_version:
            problems.append(f"audit log: its head file {store.directory / HEAD_FILENAME} is "
                            "missing: it was deleted (with it, events removed from the end of "
                            "the log cannot be detected from the store alone)")
        elif head is not None:
            problems += _check_anchor(hashes, head, f"its head file ({HEAD_FILENAME})")
            problems += _head_key_problems(head, key, keyed_events, found)
    rows = conn.execute("SELECT name, version, audit_seq, audit_hash, audit_keyed "
                        "FROM model_versions WHERE audit_seq IS NOT NULL")
    for name, version, seq, digest, keyed in rows:
        where = f"model version {name}/{version}"
        problems += _check_anchor(hashes, Head(seq, digest), where)
        if keyed:
            found.keyed_evidence.append(where)
            if seq in hashes and seq not in keyed_events:
                problems.append(f"audit log: {where} was recorded with the audit key, but its "
                                f"event {seq} is not signed: the log was re-written without "
                                "the key")
    return problems


def _head_key_problems(head: Head, key: bytes | None, keyed_events: set[int],
                       found: Diagnosis) -> list[str]:
    """The head file against keyed mode: once keyed, always keyed (and signed)."""
    if head.keyed:
        found.keyed_evidence.append(HEAD_FILENAME)
    if head.seq == 0:
        return []
    if head.keyed and head.seq not in keyed_events:
        return [f"audit log: {HEAD_FILENAME} says the log is signed with the audit key, but "
                f"its event {head.seq} is not: the log was re-written without the key"]
    if key is None:
        return []
    if head.signature is None:
        return [f"audit log: {HEAD_FILENAME} is not signed with the audit key set here, so a "
                "log re-written without the key cannot be told from this one. If the key was "
                "only just configured and this store never had one, `jupyter-mlops doctor "
                "--adopt-key` starts the signed chain"]
    if head.signature != head_signature(key, head.seq, head.hash):
        return [f"audit log: the signature in {HEAD_FILENAME} does not match the audit key: "
                "the file was written without the key (or another key is set here)"]
    return []


def _check_anchor(hashes: dict[int, str], head: Head, where: str) -> list[str]:
    """A problem when the event ``where`` records is not in the log as recorded."""
    if head.seq == 0:
        return []
    if head.seq not in hashes:
        newest = max(hashes, default=0)
        return [f"audit log: {where} records event {head.seq}, but the log ends at event "
                f"{newest}: events were deleted from the end of the log"]
    if hashes[head.seq] != head.hash:
        return [f"audit log: {where} records event {head.seq} with hash {head.hash[:12]}…, but "
                f"the log's event {head.seq} has hash {hashes[head.seq][:12]}…: the chain was "
                "re-written"]
    return []


def _read_lineage(bundle: Path) -> Any:
    """A bundle's ``lineage.json``, from its folder or its .zip (bounded, depth-safe)."""
    if bundle.is_file() and zipfile.is_zipfile(bundle):
        with zipfile.ZipFile(bundle) as archive:
            info = archive.getinfo("lineage.json")
            if info.file_size > MAX_JSON_BYTES:
                raise ValueError(f"lineage.json is larger than {MAX_JSON_BYTES} bytes")
            with archive.open(info) as handle:
                return parse_json(handle.read(MAX_JSON_BYTES + 1))
    return read_json(bundle / "lineage.json")


def _bundle_problems(store: Store, bundle: Path, found: Diagnosis) -> list[str]:
    """Check a bundle's recorded audit head and events against the store's log."""
    try:
        lineage = _read_lineage(bundle)
        recorded = lineage["audit_head"]
        head = Head(int(recorded["seq"]), str(recorded["hash"]), keyed=recorded.get("keyed")
                    is True)
        events = [(int(e["seq"]), str(e.get("hash")), str(e.get("action")))
                  for e in lineage.get("audit") or [] if isinstance(e, dict) and "seq" in e]
    except (OSError, ValueError, KeyError, TypeError, AttributeError,
            zipfile.BadZipFile) as exc:
        why = f"{type(exc).__name__}: {exc}" if isinstance(exc, OSError) else str(exc)[:200]
        return [f"bundle {bundle}: no readable audit head in lineage.json ({why})"]
    conn = store.conn
    hashes = dict(conn.execute("SELECT seq, hash FROM events"))
    problems = _check_anchor(hashes, head, f"bundle {bundle}")
    if head.keyed:
        found.keyed_evidence.append(f"bundle {bundle}")
        keyed = conn.execute("SELECT keyed FROM events WHERE seq = ?", [head.seq]).fetchone()
        if keyed is not None and not keyed[0]:
            problems.append(f"audit log: bundle {bundle} was exported from a log signed with "
                            f"the audit key, but event {head.seq} is not signed: the log was "
                            "re-written without the key")
    for seq, digest, action in events:
        problems += _check_anchor(hashes, Head(seq, digest),
                                  f"bundle {bundle} (event {action})")
    return problems


def collect_garbage(store: Store, paths: list[Path], *, now: float | None = None) -> list[Path]:
    """Remove the given unreferenced artifact files that are still unreferenced and older than
    :data:`GRACE_S`; returns those removed."""
    now = time.time() if now is None else now
    removed = []
    with store.transaction() as conn:  # no run commits a new reference meanwhile
        recorded = {row[0] for row in conn.execute("SELECT sha256 FROM artifacts")}
        for path in _unreferenced(store, recorded):
            if path in paths and now - path.stat().st_mtime >= GRACE_S:
                path.unlink()
                removed.append(path)
    return removed


def repair(store: Store, found: Diagnosis) -> list[str]:
    """``doctor --fix``: remove the unreferenced artifact files old enough. Updates ``found``
    and returns what was done. (It never signs an unsigned log: see :func:`adopt_key`.)"""
    done = []
    removed = collect_garbage(store, found.unreferenced) if found.unreferenced else []
    done += [f"removed unreferenced artifact file {path}" for path in removed]
    found.warnings = [w for w in found.warnings if not any(str(p) in w for p in removed)]
    kept = len(found.unreferenced) - len(removed)
    found.unreferenced = [p for p in found.unreferenced if p not in removed]
    if kept:
        done.append(f"kept {kept} newer unreferenced artifact file(s): a running cell may be "
                    "about to record them; run --fix again later")
    return done


def adopt_key(store: Store, bundles: list[Path], *, actor: str) -> str:
    """``doctor --adopt-key``: start the signed chain on a store that never had a key, with a
    signed event recording that the events before it were not signed.

    Refused (:class:`StoreError`) without a key, when anything records that the store had one
    (head file, version rows, signed events, the given bundles: adopting then would bless a
    log re-written without the key), or when doctor finds any other problem.
    """
    key = audit_key(store.directory)
    if key is None:
        raise StoreError("--adopt-key needs the audit key: set $JUPYTER_MLOPS_AUDIT_KEY (or "
                         "..._KEY_FILE) first")
    found = diagnose(store, bundles)
    if found.keyed_evidence:
        raise StoreError(
            "refusing to adopt the audit key: this store was signed with a key before (per "
            f"{', '.join(sorted(set(found.keyed_evidence)))}), so unsigned events mean the log "
            "was re-written without it. Restore the store from a backup")
    other = [p for p in found.problems if "--adopt-key" not in p]
    if other:
        raise StoreError("refusing to adopt the audit key while doctor finds other problems: "
                         + "; ".join(other))
    unsigned = chain_head(store.conn).seq
    with store.transaction() as conn:
        append_event(conn, actor=actor, action=ADOPT_KEY, subject="audit-log",
                     detail={"unsigned_events": unsigned},
                     reason="audit key adopted with `doctor --adopt-key`")
    return (f"adopted the audit key: events 1-{unsigned} stay unsigned (as they were), every "
            "event from now on is signed")
