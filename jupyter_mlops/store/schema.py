"""The store's schema, created and upgraded only by these versioned migrations.

Never edit an applied migration: add a new one at the end. A store whose applied
migrations include names unknown here was written by a newer jupyter-mlops and is refused.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

MIGRATION_SET = "jupyter_mlops"
migrations = Migrations(MIGRATION_SET)


@migrations()
def m001_runs(db: Database) -> None:
    """Experiments, runs and what they log: params, metrics with steps, tags, environments."""
    db.table("experiments").create(
        {"id": int, "name": str, "created_at": float}, pk="id", not_null={"name"}
    )
    db.table("experiments").create_index(["name"], unique=True)
    db.table("environments").create(
        {"env_hash": str, "python": str, "platform": str, "packages": str, "created_at": float},
        pk="env_hash",
    )
    db.table("runs").create(
        {
            "run_id": str,
            "experiment_id": int,
            "name": str,
            "status": str,
            "started_at": float,
            "ended_at": float,
            "duration_s": float,
            "source": str,
            "source_hash": str,
            "notebook": str,
            "cell_id": str,
            "execution_count": int,
            "code_slice": str,
            "warnings": str,
            "env_hash": str,
            "git": str,
            "user": str,
            "host": str,
            "pid": int,
            "stdout": str,
            "stderr": str,
            "error": str,
            "traceback": str,
            "parent_run_id": str,
            "params_json": str,
            "metrics_json": str,
            "updated_at": float,
        },
        pk="run_id",
        foreign_keys=[("experiment_id", "experiments", "id"), ("env_hash", "environments")],
    )
    db.table("params").create(
        {"run_id": str, "key": str, "value": str}, pk=("run_id", "key"),
        foreign_keys=[("run_id", "runs")],
    )
    db.table("tags").create(
        {"run_id": str, "key": str, "value": str}, pk=("run_id", "key"),
        foreign_keys=[("run_id", "runs")],
    )
    db.table("metrics").create(
        {"run_id": str, "key": str, "step": int, "value": float, "timestamp": float},
        foreign_keys=[("run_id", "runs")],
    )
    db.table("metrics").create_index(["run_id", "key", "step"])
    db.table("latest_metrics").create(
        {"run_id": str, "key": str, "value": float, "step": int}, pk=("run_id", "key"),
        foreign_keys=[("run_id", "runs")],
    )


@migrations()
def m002_lineage(db: Database) -> None:
    """Datasets, models, content-addressed artifacts and the run input/output edges."""
    db.table("datasets").create(
        {"fingerprint": str, "kind": str, "shape": str, "schema": str, "profile": str,
         "created_at": float},
        pk="fingerprint",
    )
    db.table("artifacts").create(
        {"sha256": str, "size": int, "media_type": str, "created_at": float}, pk="sha256"
    )
    db.table("models").create(
        {"fingerprint": str, "class_name": str, "module": str, "artifact_sha256": str,
         "format": str, "trusted_types": str, "run_id": str, "created_at": float},
        pk="fingerprint",
        foreign_keys=[("artifact_sha256", "artifacts", "sha256")],
    )
    db.table("run_io").create(
        {"run_id": str, "direction": str, "kind": str, "name": str, "fingerprint": str,
         "detail": str},
        pk=("run_id", "direction", "name"),
        foreign_keys=[("run_id", "runs")],
    )
    db.table("run_io").create_index(["fingerprint", "direction"])


@migrations()
def m003_listing_indexes(db: Database) -> None:
    """Indexes that keep listing, filtering and sorting 100k runs interactive."""
    db.table("runs").create_index(["started_at"])
    db.table("runs").create_index(["experiment_id", "started_at"])
    db.table("runs").create_index(["status", "started_at"])
    db.table("runs").create_index(["updated_at"])
    db.table("runs").create_index(["name", "started_at"])
    db.table("latest_metrics").create_index(["key", "value"])


@migrations()
def m004_registry(db: Database) -> None:
    """Registered models, versions, stages and aliases, and the append-only audit log."""
    db.table("registered_models").create(
        {"name": str, "created_at": float, "created_by": str}, pk="name"
    )
    db.table("model_versions").create(
        {"name": str, "version": int, "run_id": str, "model_fingerprint": str,
         "model_variable": str, "stage": str, "created_at": float, "created_by": str,
         "reason": str, "gate": str},
        pk=("name", "version"),
        foreign_keys=[("name", "registered_models"), ("run_id", "runs")],
    )
    # At most one version of a model is in `staging` or `production` at a time.
    db.execute(
        "CREATE UNIQUE INDEX model_versions_one_per_stage ON model_versions (name, stage) "
        "WHERE stage IN ('staging', 'production')"
    )
    db.table("model_aliases").create(
        {"name": str, "alias": str, "version": int, "updated_at": float},
        pk=("name", "alias"),
    )
    db.table("events").create(
        {"seq": int, "at": float, "actor": str, "action": str, "subject": str,
         "detail": str, "reason": str, "prev_hash": str, "hash": str},
        pk="seq",
    )
    db.table("events").create_index(["subject", "seq"])
    for operation in ("UPDATE", "DELETE"):
        db.execute(
            f"CREATE TRIGGER events_no_{operation.lower()} BEFORE {operation} ON events "
            "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
        )


@migrations()
def m005_monitoring(db: Database) -> None:
    """Monitoring batches (new data checked against a model) and their per-column drift."""
    db.table("monitor_batches").create(
        {"id": int, "at": float, "model": str, "run_id": str, "rows": int, "drifted": int,
         "share_drifted": float, "performance": str, "alerts": str},
        pk="id",
    )
    db.table("monitor_batches").create_index(["model", "at"])
    db.table("monitor_columns").create(
        {"batch_id": int, "column_name": str, "test": str, "statistic": float,
         "p_value": float, "threshold": float, "drifted": int},
        foreign_keys=[("batch_id", "monitor_batches", "id")],
    )
    db.table("monitor_columns").create_index(["batch_id"])


# The text a run carries for its detail view only: read by `get_run`, never by listings.
RUN_TEXT_COLUMNS = ("source", "code_slice", "warnings", "git", "stdout", "stderr", "traceback")


@migrations()
def m006_run_texts(db: Database) -> None:
    """Move each run's long text (source, code slice, output, traceback...) out of `runs` into
    `run_texts`, so listing and sorting runs reads narrow rows (a cell printing a few KB made
    every `runs` row spill into overflow pages and doubled the time to list 100k runs), and
    index runs by (started_at, run_id), the order every listing asks for."""
    db.table("run_texts").create(
        {"run_id": str, **{column: str for column in RUN_TEXT_COLUMNS}}, pk="run_id",
        foreign_keys=[("run_id", "runs")],
    )
    columns = ", ".join(RUN_TEXT_COLUMNS)
    db.execute(f"INSERT INTO run_texts (run_id, {columns}) SELECT run_id, {columns} FROM runs")
    db.table("runs").transform(drop=set(RUN_TEXT_COLUMNS))
    # Listings sort by (started_at, run_id): with both in the index SQLite reads the rows in
    # order instead of sorting them.
    db.execute("DROP INDEX idx_runs_started_at")
    db.table("runs").create_index(["started_at", "run_id"])



@migrations()
def m007_param_sort_index(db: Database) -> None:
    """Index params by (key, decoded value), so a page of runs sorted by a param reads only
    that page (0.5 s -> under 1 ms over 100k runs), as metric-sorted pages already do."""
    db.execute("CREATE INDEX idx_params_key_value ON params (key, json_extract(value, '$'))")

# The triggers that keep the audit log append-only, by name: `doctor` checks each exists with
# exactly this SQL. UPDATE and DELETE are refused; an INSERT must extend the chain (seq max+1,
# prev_hash the newest hash), which also refuses INSERT OR REPLACE / upsert onto an existing
# event (the BEFORE INSERT trigger runs before the conflict is resolved, and REPLACE would
# otherwise delete the old row without firing the DELETE trigger).
AUDIT_TRIGGERS = {
    "events_no_update": "CREATE TRIGGER events_no_update BEFORE UPDATE ON events "
                        "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    "events_no_delete": "CREATE TRIGGER events_no_delete BEFORE DELETE ON events "
                        "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    "events_append_only": (
        "CREATE TRIGGER events_append_only BEFORE INSERT ON events "
        "WHEN NEW.seq IS NOT (SELECT coalesce(max(seq), 0) + 1 FROM events) "
        "OR NEW.prev_hash IS NOT coalesce((SELECT hash FROM events ORDER BY seq DESC LIMIT 1), "
        f"'{'0' * 64}') "
        "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: a new event must extend the "
        "chain'); END"
    ),
}


@migrations()
def m008_audit_anchors(db: Database) -> None:
    """Close the audit log's rewrite paths and anchor its chain: an INSERT must extend the
    chain (no REPLACE or upsert onto an event), events say whether they are signed with the
    audit key, and each model version records the last event about it (seq and hash)."""
    db.execute(AUDIT_TRIGGERS["events_append_only"])
    db.execute("ALTER TABLE events ADD COLUMN keyed INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE model_versions ADD COLUMN audit_seq INTEGER")
    db.execute("ALTER TABLE model_versions ADD COLUMN audit_hash TEXT")
    db.execute(
        "UPDATE model_versions SET audit_seq = (SELECT max(seq) FROM events "
        "WHERE subject = model_versions.name || '/' || model_versions.version)")
    db.execute("UPDATE model_versions SET audit_hash = (SELECT hash FROM events "
               "WHERE seq = model_versions.audit_seq)")


@migrations()
def m009_audit_keyed_versions(db: Database) -> None:
    """Each model version records, one-way, whether an event about it was signed with the
    audit key: a log re-written later without the key contradicts the row."""
    db.execute("ALTER TABLE model_versions ADD COLUMN audit_keyed INTEGER NOT NULL DEFAULT 0")
    db.execute("UPDATE model_versions SET audit_keyed = 1 WHERE EXISTS (SELECT 1 FROM events "
               "WHERE keyed AND subject = model_versions.name || '/' || model_versions.version)")


@migrations()
def m010_run_notes_archive(db: Database) -> None:
    """A note on each run (kept with the run's other long text in `run_texts`, so listing
    rows stay narrow) and when it was archived (archived runs are hidden from listings
    unless asked for; indexed so the default listing and its count skip them cheaply)."""
    db.execute("ALTER TABLE run_texts ADD COLUMN note TEXT")
    db.execute("ALTER TABLE runs ADD COLUMN archived_at REAL")
    db.execute("CREATE INDEX idx_runs_archived_at ON runs (archived_at, started_at, run_id)")


@migrations()
def m011_sync_mlflow_ids(db: Database) -> None:
    """What this store exchanged with MLflow tracking servers (``jupyter_mlops.sync``): for
    each server, the local and remote id of each experiment, run and model version, which way
    it went (``push`` or ``pull``: a pulled run is a read-only copy) and what of it was sent
    (``state``, JSON), so a second push updates instead of duplicating and resumes where an
    interrupted one stopped; and each server's change cursor (``sync_cursors``)."""
    db.table("sync_ids").create(
        {"remote": str, "kind": str, "local_id": str, "remote_id": str, "direction": str,
         "state": str, "at": float},
        pk=("remote", "kind", "local_id"), not_null={"remote_id", "direction"},
    )
    db.table("sync_ids").create_index(["remote", "kind", "remote_id"], unique=True)
    db.table("sync_cursors").create(
        {"remote": str, "updated_at": float, "event_seq": int, "at": float}, pk="remote"
    )


@migrations()
def m012_approvals(db: Database) -> None:
    """Approval policies (which stages need how many approvers, and who), the requests to move
    a version that wait for them, and each approver's decision."""
    db.table("approval_policies").create(
        {"stage": str, "approvers": int, "requester_may_approve": int, "allowed": str,
         "expires_after": float, "updated_at": float, "updated_by": str},
        pk="stage", not_null={"approvers", "requester_may_approve", "allowed", "expires_after"},
    )
    db.table("approval_requests").create(
        {"id": int, "name": str, "version": int, "stage": str, "requested_by": str,
         "requested_at": float, "expires_at": float, "reason": str, "options": str,
         "policy": str, "status": str, "closed_at": float, "closed_by": str, "outcome": str},
        pk="id", not_null={"name", "version", "stage", "requested_by", "status", "policy"},
    )
    db.table("approval_requests").create_index(["status", "expires_at"])
    db.table("approval_requests").create_index(["name", "version", "status"])
    db.table("approval_votes").create(
        {"request_id": int, "actor": str, "decision": str, "at": float, "reason": str},
        pk=("request_id", "actor"), foreign_keys=[("request_id", "approval_requests", "id")],
    )


@migrations()
def m013_approval_groups(db: Database) -> None:
    """Named groups of users an approval policy may name as approvers (``@NAME``)."""
    db.table("approval_groups").create(
        {"name": str, "members": str, "updated_at": float, "updated_by": str},
        pk="name", not_null={"members"},
    )


def known_migrations() -> list[str]:
    """Names of every migration this version knows, in order."""
    # without sqlite-utils' plugins: loading them reads every installed distribution's entry
    # points (30 ms on the first tracked cell), and none changes the list
    return [m.name for m in migrations.pending(Database(memory=True, execute_plugins=False))]
