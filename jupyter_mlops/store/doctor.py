"""What ``jupyter-mlops doctor`` checks, and the one repair it may make.

Problems: the schema, SQLite's own check, missing or altered artifacts, the audit chain (its
hashes, its protective triggers, its anchors: head file, version rows, bundles) and the
registry against the replayed log. Warnings: what is harmless or needs the user's key, such
as an artifact file no row refers to (a crash between writing a model and committing its
run). ``--fix`` removes only those: files named by their sha256 under ``artifacts/``, older
than :data:`GRACE_S` (a run may be about to record a newer one), that no row references.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import StoreError
from .anchors import HEAD_FILENAME, Head, audit_key, head_signature, read_head, write_head
from .audit import head as chain_head
from .audit import verify_chain
from .replay import registry_problems
from .schema import AUDIT_TRIGGERS, known_migrations

if TYPE_CHECKING:
    from .store import Store

GRACE_S = 600.0
_BLOB = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class Diagnosis:
    """What doctor found: problems (exit 1), warnings, and the artifact files ``--fix`` may
    remove."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unreferenced: list[Path] = field(default_factory=list)
    unsigned_head: bool = False


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
    for bundle in bundles or []:
        found.problems += _bundle_problems(store, bundle)
    found.problems += registry_problems(store.conn)
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
        found.warnings.append(f"artifact file {path} is referenced by no record (left by a crash "
                              "before its run was committed); `jupyter-mlops doctor --fix` "
                              "removes it")


def _unreferenced(store: Store, recorded: set[str]) -> list[Path]:
    """Files under artifacts/ that jupyter-mlops wrote (sha256-named blobs, or their
    temporary files) and no row references."""
    root = store.artifacts.root
    if not root.is_dir():
        return []
    paths = []
    for path in sorted(root.glob("??/*")):
        name = path.name
        ours = (_BLOB.match(name) and name[:2] == path.parent.name) or name.startswith(".tmp-")
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
    problems = []
    try:
        head = read_head(store.directory)
    except StoreError as exc:
        problems.append(f"audit log: {exc}")
        head = None
    if head is None and "m008_audit_anchors" in store.schema_version:
        problems.append(f"audit log: its head file {store.directory / HEAD_FILENAME} is "
                        "missing: it was deleted (with it, events removed from the end of the "
                        "log cannot be detected from the store alone)")
    elif head is not None:
        problems += _check_anchor(hashes, head, f"its head file ({HEAD_FILENAME})")
        if key is not None and head.seq and head.signature is None:
            found.unsigned_head = True
            problems.append(
                f"audit log: {HEAD_FILENAME} is not signed with the audit key, so a log "
                "re-written without the key cannot be told from this one. If the key was only "
                "just configured, `jupyter-mlops doctor --fix` signs the current head (do it "
                "only if you trust the log as it is), as does the next audited change")
        elif key is not None and head.seq and \
                head.signature != head_signature(key, head.seq, head.hash):
            problems.append(f"audit log: the signature in {HEAD_FILENAME} does not match the "
                            "audit key: the file was written without the key")
    rows = conn.execute("SELECT name, version, audit_seq, audit_hash FROM model_versions "
                        "WHERE audit_seq IS NOT NULL")
    for name, version, seq, digest in rows:
        problems += _check_anchor(hashes, Head(seq, digest), f"model version {name}/{version}")
    return problems


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


def _bundle_problems(store: Store, bundle: Path) -> list[str]:
    """Check a bundle's recorded audit head and events against the store's log."""
    try:
        lineage = json.loads((bundle / "lineage.json").read_text(encoding="utf-8"))
        recorded = lineage["audit_head"]
        head = Head(int(recorded["seq"]), str(recorded["hash"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [f"bundle {bundle}: no readable audit head in lineage.json ({exc!r})"]
    hashes = dict(store.conn.execute("SELECT seq, hash FROM events"))
    problems = _check_anchor(hashes, head, f"bundle {bundle}")
    for event in lineage.get("audit") or []:
        if isinstance(event, dict) and "seq" in event:
            problems += _check_anchor(hashes, Head(int(event["seq"]), str(event.get("hash"))),
                                      f"bundle {bundle} (event {event.get('action')})")
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
    """``doctor --fix``: remove the unreferenced artifact files old enough, and sign the head
    file with the audit key when that is the only problem (the key was just configured).
    Updates ``found`` and returns what was done."""
    done = []
    if found.unsigned_head and len(found.problems) == 1:
        write_head(store.directory, chain_head(store.conn), audit_key(store.directory),
                   replace=True)
        found.problems, found.unsigned_head = [], False
        done.append("signed the audit head with the audit key")
    removed = collect_garbage(store, found.unreferenced) if found.unreferenced else []
    done += [f"removed unreferenced artifact file {path}" for path in removed]
    found.warnings = [w for w in found.warnings if not any(str(p) in w for p in removed)]
    kept = len(found.unreferenced) - len(removed)
    found.unreferenced = [p for p in found.unreferenced if p not in removed]
    if kept:
        done.append(f"kept {kept} newer unreferenced artifact file(s): a running cell may be "
                    "about to record them; run --fix again later")
    return done
