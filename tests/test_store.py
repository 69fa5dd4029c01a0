"""The store on real SQLite files: schema, migrations, reading, faults."""

from __future__ import annotations

import gc
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlite_utils import Database

from jupyter_mlops import Store, open_store
from jupyter_mlops.entities import Entity
from jupyter_mlops.errors import (
    ArtifactError,
    CorruptStoreError,
    RunNotFoundError,
    StoreError,
    StoreVersionError,
)
from jupyter_mlops.store import RunResult
from jupyter_mlops.store.listing import runs_frame
from jupyter_mlops.store.schema import known_migrations, migrations


def add_run(store: Store, run_id: str, *, name: str = "r", experiment: str = "default",
            started: float | None = None, **result: object) -> None:
    started = time.time() if started is None else started
    store.start_run(run_id, name=name, experiment=experiment, source="x = 1",
                    source_hash="h", started_at=started)
    store.finish_run(run_id, RunResult(status="finished", ended_at=started + 1,
                                       **result))  # type: ignore[arg-type]


def test_new_store_is_wal_with_busy_timeout_and_full_schema(store: Store) -> None:
    assert store.db_path.name == "lineage.db" and store.db_path.exists()
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 10_000
    assert store.schema_version == known_migrations()
    tables = set(store.db.table_names())
    assert {"experiments", "runs", "params", "metrics", "latest_metrics", "tags", "datasets",
            "models", "artifacts", "run_io", "environments"} <= tables


def test_older_store_is_upgraded_on_open(tmp_path: Path) -> None:
    db = Database(tmp_path / "lineage.db")
    migrations.apply(db, stop_before=known_migrations()[-1])
    db.conn.close()
    with open_store(tmp_path) as store:
        assert store.schema_version == known_migrations()
        assert any(ix.name.endswith("started_at") for ix in store.db["runs"].indexes)


def test_upgrade_moves_run_texts_out_of_runs_and_keeps_them(tmp_path: Path) -> None:
    db = Database(tmp_path / "lineage.db")
    migrations.apply(db, stop_before="m006_run_texts")
    db["experiments"].insert({"id": 1, "name": "default", "created_at": 0.0})
    db["runs"].insert({
        "run_id": "01OLD", "experiment_id": 1, "name": "fit", "status": "failed",
        "started_at": 1.0, "ended_at": 2.0, "duration_s": 1.0, "source": "model.fit(X)",
        "code_slice": '[{"execution_count": 3, "source": "X = 1", "cell_id": null}]',
        "warnings": '["stale X"]', "git": '{"commit": "abc"}', "stdout": "epoch 1\n",
        "stderr": "careful\n", "error": "ValueError: bad", "traceback": "Traceback ...",
        "params_json": '{"C": 1.0}', "metrics_json": "{}", "updated_at": 2.0,
    })
    db.conn.close()
    with open_store(tmp_path) as store:
        assert store.schema_version == known_migrations()
        assert not {"source", "stdout", "code_slice"} & set(store.db["runs"].columns_dict)
        assert {ix.name for ix in store.db["runs"].indexes} >= {
            "idx_runs_started_at_run_id", "idx_runs_experiment_id_started_at",
            "idx_runs_updated_at"}
        run = store.get_run("01OLD")
        assert (run.source, run.stdout, run.stderr, run.traceback, run.error) == (
            "model.fit(X)", "epoch 1\n", "careful\n", "Traceback ...", "ValueError: bad")
        assert [c.source for c in run.code_slice] == ["X = 1"]
        assert (run.warnings, run.git, run.params) == (["stale X"], {"commit": "abc"}, {})
        assert store.runs()["params.C"].tolist() == [1.0]


def test_newer_store_is_refused_and_left_untouched(tmp_path: Path) -> None:
    with open_store(tmp_path):
        pass
    db = Database(tmp_path / "lineage.db")
    db["_sqlite_migrations"].insert({"migration_set": "jupyter_mlops", "name": "m999_future",
                                     "applied_at": "2030"})
    db.conn.close()
    before = (tmp_path / "lineage.db").read_bytes()
    with pytest.raises(StoreVersionError, match="newer jupyter-mlops.*m999_future.*pip install"):
        open_store(tmp_path)
    assert (tmp_path / "lineage.db").read_bytes() == before


@pytest.mark.parametrize("content", [
    b"this is not sqlite at all" * 100, b"SQLite format 3\x00" + b"\xff" * 5000,
])
def test_corrupt_db_is_a_clear_error_and_never_overwritten(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "lineage.db").write_bytes(content)
    with pytest.raises(CorruptStoreError, match=r"lineage\.db is not a readable"):
        open_store(tmp_path)
    assert (tmp_path / "lineage.db").read_bytes() == content


def test_foreign_sqlite_db_is_refused(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "lineage.db")
    conn.execute("CREATE TABLE customers (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(CorruptStoreError, match="customers"):
        open_store(tmp_path)


def test_unwritable_location_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="JUPYTER_MLOPS_STORE"):
        open_store(tmp_path / "file" / "store")


def test_run_left_running_by_a_dead_process_is_marked_interrupted(tmp_path: Path) -> None:
    code = (
        "import os, time, sys\n"
        "from jupyter_mlops import open_store\n"
        f"s = open_store({str(tmp_path)!r})\n"
        "s.start_run('01DEAD', name='x', experiment='e', source='', source_hash='', "
        "started_at=time.time())\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    with open_store(tmp_path) as store:
        run = store.get_run("01DEAD")
        assert run.status == "interrupted"
        assert "kernel stopped" in (run.error or "")


def test_runs_frame_columns_order_filters_and_sorting(store: Store) -> None:
    t = time.time()
    add_run(store, "01A", name="a", experiment="e1", started=t, params={"C": 0.1, "k": "x"},
            metrics=[("acc", 0.7, 0, t), ("acc", 0.8, 1, t)])
    add_run(store, "01B", name="b", experiment="e1", started=t + 1, params={"C": 1.0},
            metrics=[("acc", 0.9, 0, t)])
    add_run(store, "01C", name="c", experiment="e2", started=t + 2, metrics=[("loss", 2.0, 0, t)])
    frame = store.runs()
    assert list(frame.columns[:6]) == ["run_id", "experiment", "name", "status", "started_at",
                                       "duration_s"]
    assert list(frame["run_id"]) == ["01C", "01B", "01A"]
    assert isinstance(frame["started_at"].dtype, pd.DatetimeTZDtype)
    assert frame.set_index("run_id").loc["01A", "metrics.acc"] == 0.8  # latest step wins
    assert "params.k" not in frame  # one value: it does not differ between the runs
    assert store.runs(params="all").set_index("run_id").loc["01A", "params.k"] == "x"
    assert list(store.runs("e1")["run_id"]) == ["01B", "01A"]
    assert list(store.runs(sort="metrics.acc")["run_id"]) == ["01B", "01A", "01C"]
    assert list(store.runs(sort="params.C", descending=False)["run_id"]) == ["01A", "01B", "01C"]
    assert list(store.runs(limit=1, offset=1)["run_id"]) == ["01B"]
    assert list(store.runs(search="X")["run_id"]) == ["01A"]  # a param value, any case
    assert list(store.runs(search="01c")["run_id"]) == ["01C"]  # the start of a run id
    assert store.runs(status="failed").empty
    with pytest.raises(ValueError, match="cannot sort runs by 'size'"):
        store.runs(sort="size")
    with pytest.raises(ValueError, match="unknown status"):
        store.runs(status="done")


def test_runs_frame_reads_nan_metrics_and_runs_without_summaries(store: Store) -> None:
    t = time.time()
    add_run(store, "01N", started=t, params={"C": 1.0},
            metrics=[("loss", float("nan"), 0, t), ("acc", float("inf"), 0, t)])
    store.start_run("01S", name="s", experiment="default", source="", source_hash="",
                     started_at=t + 1)  # still running: no params or metrics summary yet
    frame = store.runs(params="all").set_index("run_id")
    assert pd.isna(frame.loc["01N", "metrics.loss"]) and frame.loc["01N", "metrics.acc"] > 1e308
    assert frame.loc["01N", "params.C"] == 1.0 and pd.isna(frame.loc["01S", "params.C"])


@pytest.mark.parametrize("enabled", [True, False])
def test_listing_leaves_the_garbage_collector_as_it_found_it(store: Store,
                                                             enabled: bool) -> None:
    add_run(store, "01G")
    (gc.enable if enabled else gc.disable)()
    try:
        store.runs()
        assert gc.isenabled() is enabled
    finally:
        gc.enable()


def test_get_run_by_prefix_and_name(store: Store) -> None:
    add_run(store, "01ABCDEF", name="first")
    add_run(store, "01ABXYZ", name="second")
    assert store.get_run("01ABC").name == "first"
    assert store.get_run("second").run_id == "01ABXYZ"
    with pytest.raises(RunNotFoundError, match=r"^ambiguous: '01AB' matches 2 runs "
                                               r"\(01ABCDEF, 01ABXYZ\); give more characters"):
        store.get_run("01AB")
    with pytest.raises(RunNotFoundError, match="no run 'zzz'"):
        store.get_run("zzz")


def test_lineage_walk_is_transitive_and_time_ordered(store: Store) -> None:
    t = time.time()
    add_run(store, "01P", started=t, outputs=[Entity("dataset", "raw", "data:1")])
    add_run(store, "01Q", started=t + 1, inputs=[Entity("dataset", "raw", "data:1")],
            outputs=[Entity("dataset", "clean", "data:2")])
    add_run(store, "01R", started=t + 2, inputs=[Entity("dataset", "clean", "data:2")],
            outputs=[Entity("model", "m", "model:3")])
    add_run(store, "01S", started=t + 3, inputs=[Entity("model", "m", "model:3")])
    add_run(store, "01Z", started=t + 4, outputs=[Entity("dataset", "raw", "data:1")])
    assert store.upstream("01S") == ["01P", "01Q", "01R"]
    assert store.downstream("01P") == ["01Q", "01R", "01S"]
    assert store.upstream("01P") == []


def test_artifacts_are_content_addressed_and_verified(store: Store) -> None:
    sha = store.put_artifact(b"hello")
    assert store.put_artifact(b"hello") == sha
    assert store.artifacts.path(sha).read_bytes() == b"hello"
    assert store.check() == []
    store.artifacts.path(sha).write_bytes(b"tampered")
    with pytest.raises(ArtifactError, match="no longer matches"):
        store.artifacts.get(sha)
    assert any("no longer matches" in p for p in store.check())
    store.artifacts.path(sha).unlink()
    assert any("missing" in p for p in store.check())


def test_metric_history_and_live_summary(store: Store) -> None:
    store.start_run("01M", name="m", experiment="e", source="", source_hash="",
                    started_at=time.time())
    store.log_metrics("01M", [("loss", 1.0, 0, 1.0), ("loss", 0.5, 1, 2.0)])
    assert store.runs()["metrics.loss"][0] == 0.5  # visible while running
    assert [p.value for p in store.get_run("01M").metric_history("loss")] == [1.0, 0.5]


@pytest.mark.parametrize("kind", ["metrics", "params"])
@pytest.mark.parametrize("offset, limit", [(0, 3), (2, 3), (3, 2), (4, 10), (0, None)])
def test_sorted_pages_put_runs_without_the_key_last(
    store: Store, kind: str, offset: int, limit: int | None
) -> None:
    t = time.time()
    for i, value in enumerate([0.5, None, 0.9, 0.1, None]):
        recorded = {} if value is None else {"auc": value}
        add_run(store, f"01R{i}", started=t + i, params=recorded,
                metrics=[(k, v, 0, t) for k, v in recorded.items()])
    expected = ["01R2", "01R0", "01R3", "01R4", "01R1"]  # by auc, then newest first
    end = None if limit is None else offset + limit
    page = store.runs(sort=f"{kind}.auc", offset=offset, limit=limit)
    assert list(page["run_id"]) == expected[offset:end]
    ascending = store.runs(sort=f"{kind}.auc", descending=False)
    assert list(ascending["run_id"]) == ["01R3", "01R0", "01R2", "01R4", "01R1"]


@pytest.mark.parametrize("sort, index", [("metrics.auc", "idx_latest_metrics_key_value"),
                                         ("params.C", "idx_params_key_value")])
def test_sorted_pages_read_the_key_value_index(store: Store, sort: str, index: str) -> None:
    plans: list[str] = []

    class Explained:
        """The store's connection, noting the plan of every query."""

        def execute(self, sql: str, args: Any = ()) -> Any:
            plans.extend(row[3] for row in store.conn.execute(f"EXPLAIN QUERY PLAN {sql}", args))
            return store.conn.execute(sql, args)

    runs_frame(Explained(), sort=sort, limit=10)  # type: ignore[arg-type]
    assert f"SEARCH sk USING INDEX {index} (key=?)" in plans
    assert not any("TEMP B-TREE" in plan for plan in plans)  # no sort of all the rows


def test_runs_show_the_params_that_differ_unless_all_are_asked_for(store: Store) -> None:
    # Given runs of two kinds of model, each with many params of which few were varied
    lr = {"C": 0.1, "penalty": "l2", "tol": 1e-4, "max_iter": 100, "classes": [0, 1]}
    forest = {"max_depth": 3, "n_estimators": 100, "criterion": "gini", "classes": [0, 1]}
    add_run(store, "01P1", params=lr)
    add_run(store, "01P2", params={**lr, "C": 1.0})
    add_run(store, "01P3", params=forest)
    add_run(store, "01P4", params={**forest, "max_depth": 5})
    # When they are listed, then only the params whose value differs are columns
    assert {c for c in store.runs() if c.startswith("params.")} == {"params.C",
                                                                     "params.max_depth"}
    assert len([c for c in store.runs(params="all") if c.startswith("params.")]) == 8
    assert "params.tol" in store.runs(sort="params.tol")  # the sort key always stays
    assert "params.criterion" in store.runs(limit=1)  # one run: nothing to compare, all shown
    with pytest.raises(ValueError, match="params='some': use 'differing'"):
        store.runs(params="some")


def test_sorting_by_a_key_no_run_logged_names_the_keys(store: Store) -> None:
    add_run(store, "01K1", params={"C": 1.0}, metrics=[("acc", 0.9, 0, 1.0)])
    with pytest.raises(ValueError) as refused:
        store.runs(sort="metrics.nope")
    assert str(refused.value).splitlines() == [
        "cannot sort runs by 'metrics.nope': no run logged a metric 'nope'",
        "  columns: run_id, name, status, experiment, started_at, duration_s, updated_at",
        "  metrics: acc", "  params:  C"]
    with pytest.raises(ValueError, match="no run logged a param 'acc'"):
        store.runs(sort="params.acc")


def test_runs_are_found_by_tag_as_key_colon_value(store: Store) -> None:
    t = time.time()
    for run_id, owner in (("01A", "alice"), ("01B", "bob"), ("01C", None)):
        add_run(store, run_id, started=t, params={"owner": "alice"})
        if owner:
            store.set_tag(run_id, "owner", owner)
    # owner:alice is the tag, not the param value "alice" or a name
    assert list(store.runs(search="owner:alice")["run_id"]) == ["01A"]
    assert store.runs(search="owner:carol").empty
    assert len(store.runs(search="alice")) == 3  # plain text still searches params
    from jupyter_mlops.store.listing import count_runs

    assert count_runs(store.conn, search="owner:bob") == 1
