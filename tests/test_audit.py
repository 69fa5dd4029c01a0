"""The audit log is tamper-evident for real: every rewrite path is refused by the database,
and what a plain sqlite3 session can still do after dropping the triggers is caught by
`jupyter-mlops doctor` (run as a process) through the chain's anchors and a registry replay."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from jupyter_mlops.store import Store, open_store
from jupyter_mlops.store.anchors import HEAD_FILENAME, KEY_ENV, KEY_FILE_ENV
from jupyter_mlops.store.audit import _digest
from jupyter_mlops.store.registry import register_version, transition
from jupyter_mlops.store.schema import AUDIT_TRIGGERS, known_migrations, migrations

COLUMNS = "seq, at, actor, action, subject, detail, reason, prev_hash, hash"


def doctor(store: Path, *args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in (KEY_ENV, KEY_FILE_ENV)}
    if key:
        env[KEY_ENV] = key
    return subprocess.run([sys.executable, "-m", "jupyter_mlops.cli", "--store", str(store),
                           "doctor", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def history(store: Store) -> None:
    """m/1 registered to staging, m/2 to production, m/1 given the alias champion."""
    for run in ("r1", "r2"):
        register_version(store, name="m", run_id=run, model_fingerprint=f"model:{run}",
                         model_variable="model", actor="alice",
                         label="staging" if run == "r1" else "production", reason="ok")
    transition(store, "m", 1, "champion", actor="alice", reason="best so far")


@pytest.fixture
def audited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)
    directory = tmp_path / "store"
    with open_store(directory) as store:
        history(store)
        assert store.check() == []
    yield directory


def attacker(directory: Path) -> sqlite3.Connection:
    """A plain sqlite3 session on the store (not jupyter-mlops: no pragmas of ours)."""
    return sqlite3.connect(directory / "lineage.db", isolation_level=None)


REWRITES = [
    f"INSERT OR REPLACE INTO events ({COLUMNS}) SELECT seq, at, 'eve', action, subject, "
    "detail, reason, prev_hash, hash FROM events WHERE seq = 2",
    f"REPLACE INTO events ({COLUMNS}) SELECT seq, at, 'eve', action, subject, detail, reason, "
    "prev_hash, hash FROM events WHERE seq = 2",
    f"INSERT INTO events ({COLUMNS}) SELECT seq, at, actor, action, subject, detail, reason, "
    "prev_hash, hash FROM events WHERE seq = 2 ON CONFLICT (seq) DO UPDATE SET actor = 'eve'",
    f"INSERT OR IGNORE INTO events ({COLUMNS}) SELECT seq, at, 'eve', action, subject, detail, "
    "reason, prev_hash, hash FROM events WHERE seq = 2",
    "UPDATE OR REPLACE events SET actor = 'eve' WHERE seq = 2",
    "DELETE FROM events WHERE seq = (SELECT max(seq) FROM events)",
    # An append that does not extend the chain (a forged predecessor).
    f"INSERT INTO events ({COLUMNS}) SELECT max(seq) + 1, 0, 'eve', 'transition', 'm/1', '{{}}', "
    f"NULL, '{'0' * 64}', 'x' FROM events",
    # An append that skips a sequence number.
    f"INSERT INTO events ({COLUMNS}) SELECT max(seq) + 2, 0, 'eve', 'transition', 'm/1', '{{}}', "
    "NULL, (SELECT hash FROM events ORDER BY seq DESC LIMIT 1), 'x' FROM events",
]


@pytest.mark.parametrize("statement", REWRITES)
@pytest.mark.parametrize("recursive", [False, True])
def test_every_rewrite_path_is_refused_by_the_database(audited: Path, statement: str,
                                                       recursive: bool) -> None:
    conn = attacker(audited)
    conn.execute(f"PRAGMA recursive_triggers = {int(recursive)}")
    before = conn.execute("SELECT * FROM events ORDER BY seq").fetchall()
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute(statement)
    assert conn.execute("SELECT * FROM events ORDER BY seq").fetchall() == before
    conn.close()
    assert doctor(audited).returncode == 0


def drop_triggers(conn: sqlite3.Connection) -> None:
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")\
            .fetchall():
        conn.execute(f"DROP TRIGGER {name}")


def restore_triggers(conn: sqlite3.Connection) -> None:
    for sql in AUDIT_TRIGGERS.values():
        conn.execute(sql)


def rechain(conn: sqlite3.Connection, change: Callable[[list[object]], None]) -> None:
    """Rewrite every event (``change`` edits the rows) and recompute the whole sha256 chain."""
    rows = [list(r) for r in conn.execute(f"SELECT {COLUMNS} FROM events ORDER BY seq")]
    change(rows)
    conn.execute("DELETE FROM events")
    prev = "0" * 64
    for row in rows:
        row[7] = prev
        row[8] = prev = _digest(prev, *row[:7])  # type: ignore[arg-type]
        conn.execute(f"INSERT INTO events ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row)


def forge_reason(rows: list[list[object]]) -> None:
    rows[1][6] = "approved by the board"


def truncate_and_fix_the_head_file(conn: sqlite3.Connection, directory: Path) -> None:
    conn.execute("DELETE FROM events WHERE seq = (SELECT max(seq) FROM events)")
    seq, digest = conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")\
        .fetchone()
    (directory / HEAD_FILENAME).write_text(json.dumps({"seq": seq, "hash": digest}))


ATTACKS: dict[str, tuple[Callable[[sqlite3.Connection, Path], None], str]] = {
    "triggers dropped, nothing else": (lambda c, d: None,
                                       "trigger events_no_update was dropped"),
    "trigger replaced by one that never fires": (
        lambda c, d: c.execute("CREATE TRIGGER events_no_delete BEFORE DELETE ON events "
                               "WHEN 0 BEGIN SELECT RAISE(ABORT, 'x'); END"),
        "trigger events_no_delete was replaced"),
    "last event deleted": (
        lambda c, d: c.execute("DELETE FROM events WHERE seq = (SELECT max(seq) FROM events)"),
        "events were deleted from the end of the log"),
    "all events deleted": (lambda c, d: c.execute("DELETE FROM events"),
                           "events were deleted from the end of the log"),
    "last event deleted and head file re-written": (
        truncate_and_fix_the_head_file, "model version m/1 records event"),
    "whole chain re-hashed": (lambda c, d: rechain(c, forge_reason), "the chain was re-written"),
    "head file deleted": (lambda c, d: (d / HEAD_FILENAME).unlink(), "head file"),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_doctor_detects_what_dropping_the_triggers_allows(audited: Path, attack: str) -> None:
    tamper, expected = ATTACKS[attack]
    conn = attacker(audited)
    drop_triggers(conn)
    tamper(conn, audited)
    conn.close()
    done = doctor(audited)
    assert done.returncode == 1, done.stdout
    assert expected in done.stdout, done.stdout


@pytest.mark.parametrize(("statement", "expected"), [
    ("UPDATE model_versions SET stage = 'archived' WHERE version = 2; "
     "UPDATE model_versions SET stage = 'production' WHERE version = 1",
     "version m/1 has stage 'production' but the audit log says 'staging'"),
    ("DELETE FROM model_versions WHERE version = 2",
     "version m/2 is missing, but the audit log never deleted it"),
    ("UPDATE model_aliases SET version = 2", "alias m@champion points at version 2 but the "
     "audit log says 1"),
    ("INSERT INTO model_versions (name, version, run_id, stage) VALUES ('m', 3, 'r3', NULL)",
     "version m/3 exists (stage None) but the audit log never registered it"),
])
def test_doctor_replays_the_log_against_the_registry(audited: Path, statement: str,
                                                     expected: str) -> None:
    conn = attacker(audited)
    conn.executescript(statement)  # no trigger needs dropping: these tables are not append-only
    conn.close()
    done = doctor(audited)
    assert done.returncode == 1 and expected in done.stdout, done.stdout


def test_bundle_anchors_detect_a_log_rewritten_with_all_store_anchors(audited: Path,
                                                                      tmp_path: Path) -> None:
    """An attacker who re-chains the log and fixes the head file and the version rows is
    still caught by a bundle exported before (its lineage.json left with the model)."""
    conn = attacker(audited)
    seq, digest = conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")\
        .fetchone()
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "lineage.json").write_text(json.dumps({"audit_head": {"seq": seq, "hash": digest},
                                                     "audit": []}))
    assert doctor(audited, "--bundle", str(bundle)).returncode == 0
    drop_triggers(conn)
    rechain(conn, forge_reason)
    seq, digest = conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")\
        .fetchone()
    (audited / HEAD_FILENAME).write_text(json.dumps({"seq": seq, "hash": digest}))
    conn.execute("UPDATE model_versions SET audit_hash = (SELECT hash FROM events "
                 "WHERE seq = model_versions.audit_seq)")
    restore_triggers(conn)
    conn.close()
    assert doctor(audited).returncode == 0  # without a key or the bundle: not detectable
    done = doctor(audited, "--bundle", str(bundle))
    assert done.returncode == 1 and f"bundle {bundle} records event" in done.stdout


def test_with_a_key_the_chain_cannot_be_recomputed(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "s3cret")
    directory = tmp_path / "store"
    with open_store(directory) as store:
        history(store)
    assert doctor(directory, key="s3cret").returncode == 0
    without = doctor(directory)
    assert without.returncode == 0 and "signed with an audit key" in without.stdout
    # Everything an attacker without the key can reach, re-written consistently.
    conn = attacker(directory)
    drop_triggers(conn)
    conn.execute("UPDATE events SET keyed = 0")
    rechain(conn, forge_reason)
    seq, digest = conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")\
        .fetchone()
    (directory / HEAD_FILENAME).write_text(json.dumps({"seq": seq, "hash": digest}))
    conn.execute("UPDATE model_versions SET audit_hash = (SELECT hash FROM events "
                 "WHERE seq = model_versions.audit_seq)")
    restore_triggers(conn)
    conn.close()
    done = doctor(directory, key="s3cret")
    assert done.returncode == 1 and "not signed with the audit key" in done.stdout
    assert doctor(directory, key="wrong").returncode == 1


def test_a_key_file_inside_the_store_is_refused(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "store"
    directory.mkdir()
    (directory / "audit.key").write_text("s3cret")
    monkeypatch.setenv(KEY_FILE_ENV, str(directory / "audit.key"))
    with pytest.raises(Exception, match="inside the store"):
        open_store(directory)


def test_doctor_fix_collects_only_unreferenced_artifacts_we_wrote(audited: Path) -> None:
    with open_store(audited) as store:
        kept = store.put_artifact(b"a model a run refers to")
        # A crash between writing a model file and committing its run leaves this:
        orphan = store.artifacts.path(store.artifacts.put(b"a model whose run never committed"))
    mine = orphan.parent / "notes.txt"
    mine.write_text("not ours")
    lookalikes = [orphan.parent / (orphan.name + "\n"),  # a blob's name and a newline
                  orphan.parent / ".tmp-notes.txt"]  # not a name mkstemp gives
    for lookalike in lookalikes:
        lookalike.write_text("not ours either")
        os.utime(lookalike, (time.time() - 3600, time.time() - 3600))
    done = doctor(audited)
    assert done.returncode == 0, done.stdout
    assert f"warning: artifact file {orphan} is referenced by no record" in done.stdout
    young = doctor(audited, "--fix")
    assert orphan.exists() and "newer unreferenced" in young.stdout  # a run may be committing
    old = time.time() - 3600
    os.utime(orphan, (old, old))
    fixed = doctor(audited, "--fix")
    assert fixed.returncode == 0 and f"removed unreferenced artifact file {orphan}" in fixed.stdout
    assert not orphan.exists() and mine.read_text() == "not ours"
    assert all(p.read_text() == "not ours either" for p in lookalikes)
    with open_store(audited) as store:
        assert store.artifacts.path(kept).exists()
    assert "warning" not in doctor(audited).stdout


def test_a_store_made_by_the_previous_version_is_upgraded_and_anchored(tmp_path: Path) -> None:
    directory = tmp_path / "old"
    directory.mkdir()
    from sqlite_utils import Database

    db = Database(directory / "lineage.db")
    migrations.apply(db, stop_before="m008_audit_anchors")
    db.conn.close()
    # The previous version's own registry code: write events as it did (no keyed column).
    conn = sqlite3.connect(directory / "lineage.db", isolation_level=None)
    prev = "0" * 64
    for seq, (action, subject, detail) in enumerate(
            [("create-model", "m", "{}"), ("register", "m/1", "{}"),
             ("transition", "m/1", json.dumps({"from": None, "to": "production"}))], 1):
        digest = _digest(prev, seq, 1.0, "bob", action, subject, detail, None)
        conn.execute(f"INSERT INTO events ({COLUMNS}) VALUES (?, 1.0, 'bob', ?, ?, ?, NULL, ?, ?)",
                     [seq, action, subject, detail, prev, digest])
        prev = digest
    conn.execute("INSERT INTO registered_models VALUES ('m', 1.0, 'bob')")
    conn.execute("INSERT INTO model_versions VALUES ('m', 1, 'r', 'f', 'model', 'production', "
                 "1.0, 'bob', NULL, NULL)")
    conn.close()
    with open_store(directory) as store:
        assert store.schema_version == known_migrations()
        assert store.check() == []
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            store.conn.execute(f"INSERT OR REPLACE INTO events ({COLUMNS}) SELECT seq, at, "
                               "'eve', action, subject, detail, reason, prev_hash, hash "
                               "FROM events WHERE seq = 2")
    assert (directory / HEAD_FILENAME).exists()
    conn = attacker(directory)
    drop_triggers(conn)
    conn.execute("DELETE FROM events WHERE seq = 3")
    conn.close()
    done = doctor(directory)
    assert done.returncode == 1 and "deleted from the end" in done.stdout


def cli(store: Path, *args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in (KEY_ENV, KEY_FILE_ENV)}
    if key:
        env[KEY_ENV] = key
    return subprocess.run([sys.executable, "-m", "jupyter_mlops.cli", "--store", str(store),
                           *args], capture_output=True, text=True, env=env, timeout=120)


def count_events(directory: Path) -> int:
    conn = attacker(directory)
    try:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
    finally:
        conn.close()


def test_a_key_configured_later_is_adopted_explicitly(audited: Path) -> None:
    done = doctor(audited, key="s3cret")
    assert done.returncode == 1 and "--adopt-key" in done.stdout, done.stdout
    assert doctor(audited, "--fix", key="s3cret").returncode == 1  # --fix blesses nothing
    before = count_events(audited)
    moved = cli(audited, "transition", "m", "1", "archived", key="s3cret")
    assert moved.returncode != 0 and "not signed with the audit key" in moved.stderr
    assert count_events(audited) == before  # refused: nothing signed over the unsigned log
    adopted = doctor(audited, "--adopt-key", key="s3cret")
    assert adopted.returncode == 0 and "adopted the audit key" in adopted.stdout, adopted.stdout
    assert cli(audited, "transition", "m", "1", "archived", key="s3cret").returncode == 0
    assert doctor(audited, key="s3cret").returncode == 0
    assert doctor(audited, key="another").returncode == 1
    again = doctor(audited, "--adopt-key", key="s3cret")
    assert again.returncode != 0 and "signed with a key before" in again.stderr


def exported(store: Store, archive: Path) -> Path:
    """A bundle .zip whose lineage.json carries the audit head, as ``export --zip`` writes it."""
    from jupyter_mlops.store.audit import head

    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("lineage.json", json.dumps({"audit_head": head(store.conn).anchor(),
                                                 "audit": []}))
    return archive


def downgrade(directory: Path, *, reset_flags: bool) -> None:
    """What an attacker without the key can do to a keyed store: re-chain every event as
    unkeyed sha256 (actor changed), re-anchor the version rows, write an unsigned head file."""
    conn = attacker(directory)
    drop_triggers(conn)
    rechain(conn, lambda rows: [row.__setitem__(2, "eve") for row in rows])
    conn.execute("UPDATE model_versions SET audit_hash = (SELECT hash FROM events "
                 "WHERE seq = model_versions.audit_seq)")
    if reset_flags:
        conn.execute("UPDATE model_versions SET audit_keyed = 0")
    seq, digest = conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")\
        .fetchone()
    (directory / HEAD_FILENAME).write_text(json.dumps({"seq": seq, "hash": digest,
                                                       "signature": None}))
    restore_triggers(conn)
    conn.close()


@pytest.mark.parametrize("reset_flags", [False, True])
def test_a_log_rewritten_without_the_key_never_passes_doctor(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reset_flags: bool) -> None:
    monkeypatch.setenv(KEY_ENV, "s3cret")
    directory = tmp_path / "store"
    with open_store(directory) as store:
        history(store)
        bundle = exported(store, tmp_path / "b.zip")
    downgrade(directory, reset_flags=reset_flags)
    done = doctor(directory, key="s3cret")
    assert done.returncode == 1 and "not signed with" in done.stdout, done.stdout
    # An honest change with the key refuses to sign over the re-written log ...
    moved = cli(directory, "transition", "m", "1", "archived", key="s3cret")
    assert moved.returncode != 0 and "not signed with the audit key" in moved.stderr
    assert doctor(directory, key="s3cret").returncode == 1
    assert doctor(directory, "--fix", key="s3cret").returncode == 1
    # ... and adopting the key is refused while anything records it was there before.
    evidence = ["--bundle", str(bundle)] if reset_flags else []
    adopted = doctor(directory, "--adopt-key", *evidence, key="s3cret")
    assert adopted.returncode != 0 and "signed with a key before" in adopted.stderr, adopted
    assert doctor(directory, key="s3cret").returncode == 1
    if not reset_flags:  # the version rows contradict the log even without the key
        plain = doctor(directory)
        assert plain.returncode == 1 and "recorded with the audit key" in plain.stdout


@pytest.mark.parametrize("content", ["[" * 100_000, "{" + " " * 2_000_000 + "}", "\xff\xfe"])
def test_doctor_reports_a_hostile_head_file_once(audited: Path, content: str) -> None:
    (audited / HEAD_FILENAME).write_text(content, encoding="latin-1")
    done = doctor(audited)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    found = [line for line in done.stdout.splitlines() if line.startswith("problem:")]
    assert len(found) == 1 and "is not a readable audit head" in found[0], done.stdout


def test_doctor_checks_zip_bundles_and_survives_hostile_ones(audited: Path,
                                                             tmp_path: Path) -> None:
    with open_store(audited) as store:
        bundle = exported(store, tmp_path / "b.zip")
    done = doctor(audited, "--bundle", str(bundle))
    assert done.returncode == 0, done.stdout
    conn = attacker(audited)
    drop_triggers(conn)
    conn.execute("DELETE FROM events WHERE seq = (SELECT max(seq) FROM events)")
    conn.close()
    done = doctor(audited, "--bundle", str(bundle))
    assert done.returncode == 1 and f"bundle {bundle} records event" in done.stdout, done.stdout
    hostile = tmp_path / "hostile"
    hostile.mkdir()
    (hostile / "lineage.json").write_text("[" * 100_000)
    with zipfile.ZipFile(tmp_path / "hostile.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("lineage.json", " " * 5_000_000)
    for bundle in (hostile, tmp_path / "hostile.zip"):
        done = doctor(audited, "--bundle", str(bundle))
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert f"bundle {bundle}: no readable audit head" in done.stdout, done.stdout


def test_doctor_reports_an_event_detail_nested_too_deep(audited: Path) -> None:
    conn = attacker(audited)
    seq, prev = conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    detail = "[" * 100_000
    digest = _digest(prev, seq + 1, 1.0, "eve", "transition", "m/1", detail, None)
    conn.execute(f"INSERT INTO events ({COLUMNS}) VALUES (?, 1.0, 'eve', 'transition', 'm/1', "
                 "?, NULL, ?, ?)", [seq + 1, detail, prev, digest])  # it extends the chain
    conn.close()
    done = doctor(audited)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"event {seq + 1} has a detail that is not a JSON object" in done.stdout
