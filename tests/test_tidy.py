"""Tidying runs: tags, notes, archive/restore and delete — audited, bounded, and deleting rows
only (unreferenced artifact files are collected by `doctor --fix`)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from conftest import Shell

from jupyter_mlops import Store, open_store
from jupyter_mlops.entities import Entity
from jupyter_mlops.errors import RunInUseError, RunNotFoundError
from jupyter_mlops.store import ModelInfo, RunResult
from jupyter_mlops.store.doctor import GRACE_S, collect_garbage, diagnose
from jupyter_mlops.store.listing import count_runs, run_keys
from jupyter_mlops.store.registry import register_version


def add_run(store: Store, run_id: str, *, name: str = "r", started: float | None = None,
            status: str = "finished", **result: object) -> str:
    started = time.time() if started is None else started
    store.start_run(run_id, name=name, experiment="default", source="x = 1", source_hash="h",
                    started_at=started)
    if status != "running":
        store.finish_run(run_id, RunResult(status=status, ended_at=started + 1,
                                           **result))  # type: ignore[arg-type]
    return run_id


def model_run(store: Store, run_id: str, data: bytes, *, fingerprint: str | None = None,
              artifact: bytes | None = None) -> str:
    """A run that made a model (and maybe logged an artifact)."""
    fingerprint = fingerprint or f"model:{run_id}"
    outputs = [Entity("model", "model", fingerprint)]
    artifacts = []
    if artifact is not None:
        import hashlib

        outputs.append(Entity("artifact", "plot", "sha256:" + hashlib.sha256(artifact)
                              .hexdigest()))
        artifacts.append((artifact, "image/png"))
    return add_run(store, run_id, name=run_id.lower(), params={"C": 1.0},
                   metrics=[("acc", 0.9, 0, 1.0)], outputs=outputs, artifacts=artifacts,
                   models=[ModelInfo(fingerprint, "M", "m", data, "pickle")])


def last_event(store: Store) -> tuple[str, str, str, dict[str, object]]:
    event = store.events(limit=1)[0]
    return event.actor, event.action, event.subject, event.detail


# -- tags and notes ----------------------------------------------------------------------------
def test_without_an_actor_a_change_is_recorded_as_the_acting_user(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same user runs and promotions record: $JUPYTER_MLOPS_USER when set."""
    add_run(store, "01A")
    monkeypatch.setenv("JUPYTER_MLOPS_USER", "dana")
    store.set_note("01A", "kept")
    assert last_event(store)[:2] == ("dana", "note")


def test_tags_are_set_removed_searched_and_audited(store: Store) -> None:
    add_run(store, "01A", name="lr")
    store.set_tag("lr", "owner", "alice", actor="carol")  # any run reference
    assert store.get_run("01A").tags == {"owner": "alice"}
    assert last_event(store) == ("carol", "tag", "run:01A",
                                 {"set": {"owner": "alice"}, "removed": []})
    assert list(store.runs(search="owner:alice")["run_id"]) == ["01A"]
    store.remove_tag("01A", "owner", actor="carol")
    assert store.get_run("01A").tags == {} and store.runs(search="owner:alice").empty
    assert last_event(store)[1:3] == ("tag", "run:01A")
    seq = store.events(limit=1)[0].seq
    store.remove_tag("01A", "owner")  # nothing to remove: no change, no event
    assert store.events(limit=1)[0].seq == seq


@pytest.mark.parametrize("key, value, message", [
    ("", "x", "invalid tag key"),
    ("1st", "x", "invalid tag key"),
    ("a b", "x", "invalid tag key"),
    ("a:b", "x", "invalid tag key"),
    ("k" * 129, "x", "invalid tag key"),
    ("owner", "v" * 201, "at most 200 characters"),
    ("owner", "two\nlines", "on one line"),
    ("owner", 3, "invalid value"),
    (None, "x", "invalid tag key"),
])
def test_bad_tags_are_refused_before_anything_changes(store: Store, key: object, value: object,
                                                       message: str) -> None:
    add_run(store, "01A")
    with pytest.raises(ValueError, match=message):
        store.set_tag("01A", key, value)  # type: ignore[arg-type]
    assert store.get_run("01A").tags == {} and store.events() == []


def test_a_run_holds_at_most_a_hundred_tags(store: Store) -> None:
    from jupyter_mlops.store.tidy import edit_tags

    add_run(store, "01A")
    edit_tags(store, "01A", {f"k{i}": "v" for i in range(100)})
    with pytest.raises(ValueError, match="at most 100 tags"):
        store.set_tag("01A", "one_more", "v")
    assert len(store.get_run("01A").tags) == 100


def test_notes_are_kept_cleared_bounded_and_audited(store: Store) -> None:
    add_run(store, "01A")
    store.set_note("01A", "tried a smaller C: worse", actor="bob")
    assert store.get_run("01A").note == "tried a smaller C: worse"
    assert last_event(store) == ("bob", "note", "run:01A", {"chars": 24})
    with pytest.raises(ValueError, match="at most 10000"):
        store.set_note("01A", "x" * 10_001)
    with pytest.raises(ValueError, match="a note is text"):
        store.set_note("01A", b"bytes")  # type: ignore[arg-type]
    assert store.get_run("01A").note == "tried a smaller C: worse"
    store.set_note("01A", "")
    assert store.get_run("01A").note is None


@pytest.mark.parametrize("ref, error", [
    ("01ZZZZ-from-another-store", RunNotFoundError),
    ("x" * 201, ValueError),
    ("", RunNotFoundError),
])
def test_unknown_or_hostile_run_references_change_nothing(store: Store, ref: str,
                                                           error: type[Exception]) -> None:
    add_run(store, "01A")
    for change in (lambda: store.set_tag(ref, "k", "v"), lambda: store.set_note(ref, "n"),
                   lambda: store.archive_runs([ref]), lambda: store.delete_runs([ref]),
                   lambda: store.archive_runs(["01A", ref]),
                   lambda: store.delete_runs(["01A", ref])):
        with pytest.raises(error):
            change()
    assert store.events() == [] and len(store.runs()) == 1


# -- archive and restore -----------------------------------------------------------------------
def test_archived_runs_are_hidden_unless_asked_for(store: Store) -> None:
    t = time.time()
    add_run(store, "01A", started=t, metrics=[("acc", 0.9, 0, t)])
    add_run(store, "01B", started=t + 1, metrics=[("rmse", 0.3, 0, t)])
    assert store.archive_runs(["01B"], actor="ann") == ["01B"]
    assert last_event(store)[:3] == ("ann", "archive", "run:01B")
    assert list(store.runs()["run_id"]) == ["01A"]
    assert count_runs(store.conn) == 1 and run_keys(store.conn)["metrics"] == ["acc"]
    both = store.runs(archived="include")
    assert list(both["run_id"]) == ["01B", "01A"]
    assert both["archived_at"].notna().tolist() == [True, False]
    assert list(store.runs(archived="only")["run_id"]) == ["01B"]
    assert count_runs(store.conn, archived="only") == 1
    assert run_keys(store.conn, archived="include")["metrics"] == ["acc", "rmse"]
    assert store.get_run("01B").archived_at is not None  # still reachable by reference
    assert store.archive_runs("01B") == []  # already archived: nothing changes
    assert store.restore_runs(["01B"]) == ["01B"]
    assert last_event(store)[1:3] == ("restore", "run:01B")
    assert list(store.runs()["run_id"]) == ["01B", "01A"] and "archived_at" not in store.runs()
    with pytest.raises(ValueError, match="archived='yes'"):
        store.runs(archived="yes")


# -- delete ------------------------------------------------------------------------------------
def test_delete_removes_the_runs_rows_and_leaves_files_to_doctor_fix(store: Store) -> None:
    model_run(store, "01KEEP", b"kept model")
    model_run(store, "01GONE", b"deleted model", artifact=b"a plot of the deleted run")
    store.set_tag("01GONE", "owner", "alice")
    store.set_note("01GONE", "bad run")
    gone = store.get_run("01GONE")
    files = [store.artifacts.path(sha) for (sha,) in store.conn.execute(
        "SELECT artifact_sha256 FROM models WHERE run_id = '01GONE'")]
    files.append(store.artifacts.path(gone.outputs[1].fingerprint.removeprefix("sha256:")))
    assert store.delete_runs(["01GONE"], actor="ann") == ["01GONE"]
    actor, action, subject, detail = last_event(store)
    assert (actor, action, subject, detail["name"]) == ("ann", "delete-run", "run:01GONE", "01gone")
    assert sorted(detail["released_artifacts"]) == sorted(p.name for p in files)  # type: ignore
    with pytest.raises(RunNotFoundError):
        store.get_run("01GONE")
    for table in ("runs", "run_texts", "params", "tags", "metrics", "latest_metrics", "run_io",
                  "models"):
        assert store.conn.execute(f"SELECT count(*) FROM {table} WHERE run_id = '01GONE'"
                                  ).fetchone()[0] == 0, table
    assert all(path.exists() for path in files)  # deleting never removes a file
    found = diagnose(store)
    assert found.problems == [] and sorted(found.unreferenced) == sorted(files)
    assert collect_garbage(store, found.unreferenced) == []  # too young: a run may commit them
    removed = collect_garbage(store, found.unreferenced, now=time.time() + GRACE_S + 1)
    assert sorted(removed) == sorted(files) and not any(p.exists() for p in files)
    assert store.model_artifact("01KEEP")[0] == b"kept model"  # the other run is untouched
    assert diagnose(store).problems == []


def test_a_model_or_artifact_another_run_shares_is_kept(store: Store) -> None:
    model_run(store, "01FIRST", b"same bytes", fingerprint="model:same", artifact=b"same plot")
    model_run(store, "01AGAIN", b"same bytes", fingerprint="model:same", artifact=b"same plot")
    store.delete_runs("01FIRST")
    assert last_event(store)[3]["released_artifacts"] == []
    assert store.model_artifact("01AGAIN")[0] == b"same bytes"
    assert store.conn.execute("SELECT run_id FROM models").fetchall() == [("01AGAIN",)]
    assert diagnose(store).unreferenced == []


def test_delete_refuses_running_and_registered_runs_and_names(store: Store) -> None:
    model_run(store, "01PROD", b"model")
    register_version(store, name="wine", run_id="01PROD", model_fingerprint="model:01PROD",
                     model_variable="model", actor="t", label="production")
    add_run(store, "01LIVE", status="running")
    add_run(store, "01NAMED", name="lr")
    events = len(store.events())
    with pytest.raises(RunInUseError, match=r"wine/1 \(production\).*delete those versions"):
        store.delete_runs(["01NAMED", "01PROD"])
    with pytest.raises(RunInUseError, match="still running"):
        store.delete_runs(["01LIVE"])
    with pytest.raises(RunInUseError, match="delete takes run ids"):
        store.delete_runs(["lr"])
    with pytest.raises(RunInUseError, match="delete takes run ids"):
        store.delete_runs(["wine@production"])
    assert len(store.runs()) == 3 and len(store.events()) == events  # all or nothing
    assert store.delete_runs(["01named"]) == ["01NAMED"]  # a unique id prefix, any case


def test_a_retrained_run_keeps_its_parent_unless_both_go(store: Store) -> None:
    add_run(store, "01PARENT", name="lr")
    store.start_run("01CHILD", name="lr", experiment="default", source="x = 1",
                    source_hash="h", started_at=time.time(), parent_run_id="01PARENT")
    store.finish_run("01CHILD", RunResult(status="finished", ended_at=time.time()))
    with pytest.raises(RunInUseError, match="was retrained as 01CHILD"):
        store.delete_runs("01PARENT")
    assert store.delete_runs(["01PARENT", "01CHILD"]) == ["01PARENT", "01CHILD"]
    assert store.runs(archived="include").empty


def test_older_store_gains_notes_and_archiving(tmp_path: Path) -> None:
    from sqlite_utils import Database

    from jupyter_mlops.store.schema import migrations

    directory = tmp_path / "old"
    directory.mkdir()
    db = Database(directory / "lineage.db")
    migrations.apply(db, stop_before="m010_run_notes_archive")
    db.conn.close()
    with open_store(directory) as store:
        add_run(store, "01A")
        store.archive_runs("01A")
        assert store.runs().empty and "m010_run_notes_archive" in store.schema_version


def test_hostile_notes_and_tags_stay_data(store: Store) -> None:
    add_run(store, "01A")
    hostile = "'); DROP TABLE runs; --"
    store.set_note("01A", hostile)
    store.set_tag("01A", "_x.y-z", hostile)
    run = store.get_run("01A")
    assert run.note == hostile and run.tags == {"_x.y-z": hostile}
    assert os.path.exists(store.db_path) and len(store.runs()) == 1


# -- %mlops ------------------------------------------------------------------------------------
def test_mlops_magic_tags_notes_archives_and_deletes(shell: Shell) -> None:
    assert shell.run("%%track lr -e demo\nacc = 0.9").result.success
    run_id = shell.store().runs()["run_id"][0]
    cell = shell.run('%mlops tag lr owner=alice "goal=beat the baseline"')
    assert f"run lr ({run_id}): tags goal=beat the baseline, owner=alice" in cell.stdout
    assert len(shell.store().runs(search="owner:alice")) == 1
    assert "note saved" in shell.run('%mlops note lr "C too high"').stdout
    assert shell.store().get_run(run_id).note == "C too high"
    assert "archived 1 run(s)" in shell.run("%mlops archive lr").stdout
    listed = shell.run("runs = %mlops runs --archived only --frame")
    assert listed.result.success and list(shell.ns["runs"]["run_id"]) == [run_id]
    refused = shell.run("%mlops delete lr --yes")  # a name never deletes
    assert "UsageError" in refused.stdout + refused.stderr
    assert "delete takes run ids" in refused.stdout + refused.stderr
    assert "deleted 1 run(s)" in shell.run(f"%mlops delete {run_id[:12]} --yes").stdout
    assert shell.store().runs(archived="include").empty
