"""The SQLite lineage store: one `lineage.db` (WAL) and a content-addressed `artifacts/`.

Kernels write and the Jupyter server reads the same file concurrently. Every write is one
short ``BEGIN IMMEDIATE`` transaction, so a writer waits (busy timeout) instead of failing
with "database is locked" the way a deferred transaction that upgrades from read to write does.
sqlite-utils (and its schema migrations) load when a store is opened, not when this is imported.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import sqlite3
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..entities import (
    CodeCell,
    Entity,
    LineageGraph,
    MetricPoint,
    Predictions,
    Run,
    RunSet,
)
from ..errors import (
    CorruptStoreError,
    EmptyStoreError,
    NotFoundError,
    RunNotFoundError,
    StoreError,
    StoreVersionError,
)
from . import audit
from .anchors import Head, audit_key, write_head
from .artifacts import ArtifactFiles
from .discovery import DB_FILENAME, ENV_VAR, check_store_dir, find_store_dir
from .records import RunResult

if TYPE_CHECKING:
    from sqlite_utils import Database

BUSY_TIMEOUT_S = 60.0
HOST = socket.gethostname()


def to_json(value: Any) -> str:
    """JSON text for a value; anything JSON cannot hold is kept as its repr."""
    return json.dumps(value, default=repr, allow_nan=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _metric(value: float | None) -> float:
    """A stored metric value: SQLite keeps a logged NaN as NULL."""
    return math.nan if value is None else value


def _create_database(path: Path) -> None:
    """Create ``path`` as an empty WAL database unless it exists; refuse a 0-byte one.

    The new file is made under a temporary name and hard-linked into place, so another
    process never sees a 0-byte ``lineage.db`` that is being created: a 0-byte one was
    truncated, and initialising it would hide that the runs it held are lost.
    """
    if path.exists():
        if path.stat().st_size == 0:
            raise EmptyStoreError(path)
        return
    fd, temporary = tempfile.mkstemp(prefix=".lineage-", suffix=".db", dir=path.parent)
    os.close(fd)
    try:
        with contextlib.closing(sqlite3.connect(temporary)) as conn:
            conn.execute("PRAGMA journal_mode = WAL")
        try:
            os.link(temporary, path)
        except OSError:
            pass  # another process created it first (use theirs), or no hard links here
            # (some network filesystems): then sqlite creates it on connecting
    finally:
        os.unlink(temporary)


class Store:
    """A lineage store directory. Open one with :func:`open_store`."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        from sqlite_utils import Database

        self.directory = Path(directory)
        self.db_path = self.directory / DB_FILENAME
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            _create_database(self.db_path)
            conn = sqlite3.connect(
                self.db_path, timeout=BUSY_TIMEOUT_S, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(
                f"cannot open the store at {self.directory}: {exc}. Check the directory is "
                "writable, or set JUPYTER_MLOPS_STORE to another directory."
            ) from exc
        self.conn = conn
        self.db: Database = Database(conn, execute_plugins=False)
        self.artifacts = ArtifactFiles(self.directory / "artifacts")
        self._anchored_seq = -1  # the newest audit event this process wrote to the head file
        try:
            self._prepare()
        except sqlite3.OperationalError as exc:
            conn.close()
            raise StoreError(
                f"cannot open the store at {self.db_path}: {exc}. If another process holds it "
                "locked, try again; if the directory is read-only, set JUPYTER_MLOPS_STORE."
            ) from exc
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise CorruptStoreError(self.db_path, str(exc)) from exc
        except BaseException:
            conn.close()
            raise

    # -- opening ---------------------------------------------------------------------------
    def _prepare(self) -> None:
        from .schema import known_migrations, migrations

        self.conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        self.conn.execute("PRAGMA foreign_keys = OFF")
        tables = set(self.db.table_names())
        if tables and "_sqlite_migrations" not in tables:
            raise CorruptStoreError(
                self.db_path, f"it holds other tables ({', '.join(sorted(tables)[:5])})"
            )
        applied = [m.name for m in migrations.applied(self.db)]
        known = set(known_migrations())
        unknown = [name for name in applied if name not in known]
        if unknown:
            raise StoreVersionError(self.db_path, unknown)
        if self.conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            self.db.enable_wal()
        self.conn.execute("PRAGMA synchronous = NORMAL")
        # A REPLACE then fires DELETE triggers too (a second guard beside events_append_only).
        self.conn.execute("PRAGMA recursive_triggers = ON")
        audit_key(self.directory)  # a misplaced or unreadable key file is an error now
        # The head file is written when a commit appends events, and once when the schema
        # was just created or upgraded (an upgraded store is anchored from then on); never
        # merely on opening, which would re-anchor a truncated log.
        if migrations.pending(self.db):
            with self.transaction():
                # Re-check inside the write lock: another process may have just migrated.
                if migrations.pending(self.db):
                    migrations.apply(self.db)
        else:
            self._anchored_seq = audit.head(self.conn).seq
        self._mark_orphaned_runs()

    @property
    def schema_version(self) -> list[str]:
        """Names of the migrations applied to this store, oldest first."""
        from .schema import migrations

        return [m.name for m in migrations.applied(self.db)]

    def _mark_orphaned_runs(self) -> None:
        """Runs left `running` by a kernel of this host that no longer exists → interrupted."""
        rows = self.conn.execute(
            "SELECT DISTINCT pid FROM runs WHERE status = 'running' AND host = ?", [HOST]
        ).fetchall()
        dead = [pid for (pid,) in rows if pid is not None and not _pid_alive(pid)]
        if not dead:
            return
        with self.transaction():
            self.conn.execute(
                f"UPDATE runs SET status = 'interrupted', updated_at = ?, error = "
                f"coalesce(error, 'the kernel stopped while the cell was running') "
                f"WHERE status = 'running' AND host = ? AND pid IN ({','.join('?' * len(dead))})",
                [time.time(), HOST, *dead],
            )

    def mark_interrupted(self, run_id: str, reason: str) -> None:
        """Close a `running` run whose end could not be recorded."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE runs SET status = 'interrupted', error = ?, updated_at = ? "
                "WHERE run_id = ? AND status = 'running'", [reason, time.time(), run_id])

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``); nested calls join the outer one."""
        if self.conn.in_transaction:  # nested: join the outer transaction
            yield self.conn
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
            head = audit.head(self.conn)  # read in the transaction's snapshot: cheap
        except BaseException:
            self.conn.rollback()
            raise
        self.conn.commit()
        self._write_head(head)

    def _write_head(self, current: Head) -> None:
        """Anchor the audit chain's head in the head file when events were appended (after
        the commit: the file may lag the table after a crash, never lead it)."""
        if current.seq <= self._anchored_seq:
            return
        try:
            write_head(self.directory, current, audit_key())
        except OSError as exc:
            warnings.warn(f"the audit head file in {self.directory} could not be written "
                          f"({exc}); `jupyter-mlops doctor` will report it", stacklevel=3)
            return
        self._anchored_seq = current.seq

    def close(self) -> None:
        """Close the database connection."""
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Store {self.directory}>"

    # -- writing ---------------------------------------------------------------------------
    def _experiment_id(self, name: str) -> int:
        self.conn.execute(
            "INSERT OR IGNORE INTO experiments (name, created_at) VALUES (?, ?)",
            [name, time.time()],
        )
        return int(
            self.conn.execute("SELECT id FROM experiments WHERE name = ?", [name]).fetchone()[0]
        )

    def start_run(
        self,
        run_id: str,
        *,
        name: str,
        experiment: str,
        source: str,
        source_hash: str,
        started_at: float,
        notebook: str | None = None,
        cell_id: str | None = None,
        execution_count: int | None = None,
        user: str | None = None,
        parent_run_id: str | None = None,
    ) -> None:
        """Record a run as `running` (visible to readers at once)."""
        with self.transaction() as conn:
            experiment_id = self._experiment_id(experiment)
            conn.execute(
                "INSERT INTO runs (run_id, experiment_id, name, status, started_at, "
                "source_hash, notebook, cell_id, execution_count, user, host, pid, parent_run_id, "
                "updated_at) VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [run_id, experiment_id, name, started_at, source_hash, notebook, cell_id,
                 execution_count, user, HOST, os.getpid(), parent_run_id, time.time()],
            )
            conn.execute("INSERT INTO run_texts (run_id, source) VALUES (?, ?)", [run_id, source])

    def log_metrics(
        self, run_id: str, points: Sequence[tuple[str, float, int, float]]
    ) -> None:
        """Append metric points ``(key, value, step, timestamp)`` to a run."""
        if not points:
            return
        with self.transaction():
            self._insert_metrics(run_id, points)

    def _insert_metrics(
        self, run_id: str, points: Sequence[tuple[str, float, int, float]]
    ) -> None:
        conn = self.conn
        conn.executemany(
            "INSERT INTO metrics (run_id, key, value, step, timestamp) VALUES (?, ?, ?, ?, ?)",
            [(run_id, k, v, s, t) for k, v, s, t in points],
        )
        latest: dict[str, tuple[float, int]] = {}
        for key, value, step, _ in points:
            if key not in latest or step >= latest[key][1]:
                latest[key] = (value, step)
        conn.executemany(
            "INSERT INTO latest_metrics (run_id, key, value, step) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, step = excluded.step "
            "WHERE excluded.step >= latest_metrics.step",
            [(run_id, k, v, s) for k, (v, s) in latest.items()],
        )
        summary = dict(
            conn.execute("SELECT key, value FROM latest_metrics WHERE run_id = ?", [run_id])
        )
        conn.execute(
            "UPDATE runs SET metrics_json = ?, updated_at = ? WHERE run_id = ?",
            [to_json(summary), time.time(), run_id],
        )

    def record_tag(self, run_id: str, key: str, value: str) -> None:
        """Record what became of a run after it finished (retraining writes its promotion
        outcome here): part of the run's own record, written by our code, so neither audited
        as a user's edit nor held to the limits of :meth:`set_tag`."""
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO tags VALUES (?, ?, ?)", [run_id, key, value])
            conn.execute("UPDATE runs SET updated_at = ? WHERE run_id = ?", [time.time(), run_id])

    # -- tidying (audited: see :mod:`jupyter_mlops.store.tidy`) ---------------------------
    def set_tag(self, ref: str, key: str, value: str, *, actor: str | None = None) -> None:
        """Set one tag of a run (any run reference); audited. A key starts with a letter or
        ``_`` then letters, digits, ``_.-`` (what ``key:value`` search finds), at most 128
        characters; a value is one line of at most 200. ``actor``: who (default: the OS user).
        """
        from .tidy import edit_tags

        edit_tags(self, ref, {key: value}, actor=actor)

    def remove_tag(self, ref: str, key: str, *, actor: str | None = None) -> None:
        """Remove one tag of a run (nothing happens when it has no such tag); audited."""
        from .tidy import edit_tags

        edit_tags(self, ref, remove=[key], actor=actor)

    def set_note(self, ref: str, note: str | None, *, actor: str | None = None) -> None:
        """Replace a run's free-text note (at most 10,000 characters; ``None`` or ``""``
        clears it), shown in the run's detail as ``Run.note``; audited."""
        from .tidy import set_note

        set_note(self, ref, note, actor=actor)

    def archive_runs(self, refs: Sequence[str] | str, *, actor: str | None = None
                     ) -> list[str]:
        """Archive runs: hidden from :meth:`runs`, the sidebar and the REST listing unless
        ``archived="include"`` or ``"only"`` is asked for; nothing else changes. Audited;
        returns the ids that were not archived already."""
        from .tidy import set_archived

        return set_archived(self, refs, True, actor=actor)

    def restore_runs(self, refs: Sequence[str] | str, *, actor: str | None = None
                     ) -> list[str]:
        """Undo :meth:`archive_runs`; returns the ids that were archived."""
        from .tidy import set_archived

        return set_archived(self, refs, False, actor=actor)

    def delete_runs(self, refs: Sequence[str] | str, *, actor: str | None = None
                    ) -> list[str]:
        """Delete runs by id (or unique id prefix; never by name), with their params, metrics,
        tags, note and lineage edges; audited. All or nothing: a running run, or one whose
        model is a registered version, refuses the call
        (:class:`~jupyter_mlops.errors.RunInUseError`). Files are never removed here:
        ``jupyter-mlops doctor --fix`` removes artifacts no longer referenced."""
        from .tidy import delete_runs

        return delete_runs(self, refs, actor=actor)

    def put_artifact(self, data: bytes, media_type: str = "application/octet-stream") -> str:
        """Store bytes as a content-addressed artifact; returns its sha256."""
        sha = self.artifacts.put(data)
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO artifacts (sha256, size, media_type, created_at) "
                "VALUES (?, ?, ?, ?)",
                [sha, len(data), media_type, time.time()],
            )
        return sha

    def finish_run(self, run_id: str, result: RunResult) -> None:
        """Record everything a finished (or failed) run produced, in one transaction."""
        blobs = [(self.artifacts.put(m.data), len(m.data), "application/x-" + m.format, m)
                 for m in result.models]
        extra = [(self.artifacts.put(data), len(data), media) for data, media in result.artifacts]
        now = time.time()
        with self.transaction() as conn:
            started = conn.execute("SELECT started_at FROM runs WHERE run_id = ?", [run_id])
            row = started.fetchone()
            if row is None:
                raise RunNotFoundError(run_id)
            env_hash = None
            if result.environment is not None:
                env = result.environment
                env_hash = env.env_hash
                conn.execute(
                    "INSERT OR IGNORE INTO environments VALUES (?, ?, ?, ?, ?)",
                    [env.env_hash, env.python, env.platform, to_json(env.packages), now],
                )
            conn.executemany(
                "INSERT OR IGNORE INTO artifacts (sha256, size, media_type, created_at) "
                "VALUES (?, ?, ?, ?)",
                [(sha, size, media, now) for sha, size, media, *_ in [*blobs, *extra]],
            )
            conn.executemany(
                "INSERT OR IGNORE INTO models VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(m.fingerprint, m.class_name, m.module, sha, m.format, to_json(m.trusted_types),
                  run_id, now) for sha, _, _, m in blobs],
            )
            conn.executemany(
                "INSERT OR IGNORE INTO datasets VALUES (?, ?, ?, ?, ?, ?)",
                [(d.fingerprint, d.kind, to_json(d.shape), to_json(d.schema), to_json(d.profile),
                  now) for d in result.datasets],
            )
            conn.executemany(
                "INSERT OR REPLACE INTO run_io VALUES (?, ?, ?, ?, ?, ?)",
                [(run_id, direction, e.kind, e.name, e.fingerprint, to_json(e.detail))
                 for direction, entities in (("input", result.inputs), ("output", result.outputs))
                 for e in entities],
            )
            conn.executemany(
                "INSERT OR REPLACE INTO params VALUES (?, ?, ?)",
                [(run_id, k, to_json(v)) for k, v in result.params.items()],
            )
            conn.executemany(
                "INSERT OR REPLACE INTO tags VALUES (?, ?, ?)",
                [(run_id, k, str(v)) for k, v in result.tags.items()],
            )
            if result.metrics:
                self._insert_metrics(run_id, result.metrics)
            conn.execute(
                "UPDATE runs SET status = ?, ended_at = ?, duration_s = ?, env_hash = ?, "
                "error = ?, params_json = ?, updated_at = ? WHERE run_id = ?",
                [result.status, result.ended_at, result.ended_at - row[0], env_hash,
                 result.error, to_json(result.params), now, run_id],
            )
            conn.execute(
                "UPDATE run_texts SET git = ?, stdout = ?, stderr = ?, traceback = ?, "
                "code_slice = ?, warnings = ? WHERE run_id = ?",
                [to_json(result.git), result.stdout, result.stderr, result.traceback,
                 to_json([c.__dict__ for c in result.code_slice]), to_json(result.warnings),
                 run_id],
            )

    # -- reading ---------------------------------------------------------------------------
    def resolve_run_id(self, ref: str) -> str:
        """A run id from a run reference: a full id, a unique id prefix, a model reference
        (``name@production``, ``name/3``) or a run name (its latest tracked run); see
        :mod:`jupyter_mlops.store.names`."""
        return self.resolve_run(ref).run_id

    def resolve_run(self, ref: str) -> Any:
        """Like :meth:`resolve_run_id`, with a note saying which run a name picked when it
        has several: a :class:`~jupyter_mlops.store.names.Resolution`."""
        from .names import resolve

        return resolve(self, ref)

    def get_run(self, ref: str) -> Run:
        """Everything recorded about a run (by any run reference, see :meth:`resolve_run_id`)."""
        run_id = self.resolve_run_id(ref)
        conn = self.conn
        conn.row_factory = sqlite3.Row
        try:
            r = conn.execute(
                "SELECT r.*, t.*, e.name AS experiment FROM runs r "
                "JOIN experiments e ON e.id = r.experiment_id "
                "LEFT JOIN run_texts t ON t.run_id = r.run_id WHERE r.run_id = ?", [run_id]
            ).fetchone()
            env = None
            if r["env_hash"]:
                env = conn.execute(
                    "SELECT * FROM environments WHERE env_hash = ?", [r["env_hash"]]
                ).fetchone()
            io_rows = conn.execute(
                "SELECT * FROM run_io WHERE run_id = ? ORDER BY rowid", [run_id]
            ).fetchall()
            params = {row["key"]: json.loads(row["value"]) for row in conn.execute(
                "SELECT key, value FROM params WHERE run_id = ?", [run_id])}
            tags = {row["key"]: row["value"] for row in conn.execute(
                "SELECT key, value FROM tags WHERE run_id = ?", [run_id])}
            metrics = {row["key"]: _metric(row["value"]) for row in conn.execute(
                "SELECT key, value FROM latest_metrics WHERE run_id = ?", [run_id])}
        finally:
            conn.row_factory = None

        def entities(direction: str) -> list[Entity]:
            return [Entity(row["kind"], row["name"], row["fingerprint"], json.loads(row["detail"]))
                    for row in io_rows if row["direction"] == direction]

        environment: dict[str, Any] = {}
        if env is not None:
            environment = {"python": env["python"], "platform": env["platform"],
                           "packages": json.loads(env["packages"]), "env_hash": env["env_hash"]}
        return Run(
            run_id=run_id, name=r["name"], experiment=r["experiment"], status=r["status"],
            started_at=r["started_at"], ended_at=r["ended_at"], duration_s=r["duration_s"],
            source=r["source"], source_hash=r["source_hash"], params=params, metrics=metrics,
            tags=tags, inputs=entities("input"), outputs=entities("output"), error=r["error"],
            traceback=r["traceback"], stdout=r["stdout"] or "", stderr=r["stderr"] or "",
            notebook=r["notebook"], cell_id=r["cell_id"], execution_count=r["execution_count"],
            code_slice=[CodeCell(**c) for c in json.loads(r["code_slice"] or "[]")],
            warnings=json.loads(r["warnings"] or "[]"), environment=environment,
            git=json.loads(r["git"] or "{}"), user=r["user"], host=r["host"],
            parent_run_id=r["parent_run_id"], note=r["note"], archived_at=r["archived_at"],
            _history=lambda key: self.metric_history(run_id, key),
        )

    def metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        """Every logged value of one metric of a run, ordered by step then time."""
        rows = self.conn.execute(
            "SELECT key, value, step, timestamp FROM metrics WHERE run_id = ? AND key = ? "
            "ORDER BY step, timestamp, rowid", [run_id, key]
        ).fetchall()
        return [MetricPoint(key, _metric(value), step, at) for key, value, step, at in rows]

    def run_set(self, run_refs: Sequence[str] | str) -> RunSet:
        """Runs side by side (each once, in order) with their latest metrics, params and
        curve keys: what the run charts draw. See :func:`.chartdata.run_set`."""
        from .chartdata import run_set

        return run_set(self, run_refs)

    def eval_predictions(self, run_ref: str) -> Predictions:
        """The predictions a ``%%track --eval`` run kept (for the diagnostics charts)."""
        from .chartdata import eval_predictions

        return eval_predictions(self, run_ref)

    def lineage(self, run_ref: str) -> LineageGraph:
        """The lineage graph around a run: the runs upstream and downstream of it, and the
        datasets, models and artifacts they read and produced."""
        from .lineage import lineage

        return lineage(self, run_ref)

    def has_dataset(self, fingerprint: str) -> bool:
        """Whether the store already holds this dataset's schema and profile."""
        query = "SELECT 1 FROM datasets WHERE fingerprint = ?"
        return self.conn.execute(query, [fingerprint]).fetchone() is not None

    def get_dataset(self, fingerprint: str) -> dict[str, Any]:
        """The recorded schema and reference profile of a dataset, by fingerprint."""
        row = self.conn.execute(
            "SELECT kind, shape, schema, profile FROM datasets WHERE fingerprint = ?",
            [fingerprint]).fetchone()
        if row is None:
            raise NotFoundError(f"no dataset {fingerprint} in this store")
        return {"fingerprint": fingerprint, "kind": row[0], "shape": json.loads(row[1]),
                "schema": json.loads(row[2]), "profile": json.loads(row[3])}

    def count_runs(self) -> int:
        """How many runs the store holds."""
        return int(self.conn.execute("SELECT count(*) FROM runs").fetchone()[0])

    def experiments(self) -> list[str]:
        """Names of all experiments, oldest first."""
        return [row[0] for row in self.conn.execute("SELECT name FROM experiments ORDER BY id")]

    def _walk(self, run_id: str, upstream: bool) -> list[str]:
        # Upstream: runs that produced (before this one started) content this run read.
        mine, theirs = ("input", "output") if upstream else ("output", "input")
        time_order = "<=" if upstream else ">="
        rows = self.conn.execute(
            f"""
            WITH RECURSIVE walk(run_id, started_at) AS (
                SELECT run_id, started_at FROM runs WHERE run_id = :run
                UNION
                SELECT other.run_id, other.started_at FROM walk
                JOIN run_io mine ON mine.run_id = walk.run_id AND mine.direction = '{mine}'
                JOIN run_io theirs ON theirs.fingerprint = mine.fingerprint
                    AND theirs.direction = '{theirs}' AND theirs.run_id != walk.run_id
                JOIN runs other ON other.run_id = theirs.run_id
                    AND other.started_at {time_order} walk.started_at
            )
            SELECT run_id FROM walk WHERE run_id != :run ORDER BY started_at
            """,
            {"run": run_id},
        ).fetchall()
        return [row[0] for row in rows]

    def upstream(self, ref: str) -> list[str]:
        """Ids of the runs whose outputs this run consumed, transitively (oldest first)."""
        return self._walk(self.resolve_run_id(ref), upstream=True)

    def downstream(self, ref: str) -> list[str]:
        """Ids of the runs that consumed this run's outputs, transitively (oldest first)."""
        return self._walk(self.resolve_run_id(ref), upstream=False)

    def retrains(self, run_id: str) -> list[str]:
        """Ids of the runs retrained from this one (its children), oldest first."""
        return [row[0] for row in self.conn.execute(
            "SELECT run_id FROM runs WHERE parent_run_id = ? ORDER BY started_at", [run_id])]

    def load_model(self, ref: str, name: str | None = None) -> Any:
        """A fitted model: ``"name@production"``, ``"name/3"``, or the model a run produced
        (``name``: its variable, when the run made several)."""
        from ..frameworks.serialize import load_model

        return load_model(*self.model_artifact(ref, name))

    def model_artifact(self, ref: str, name: str | None = None) -> tuple[bytes, str, list[str]]:
        """The stored form of a model (see :meth:`load_model`): ``(bytes, format, types)``."""
        from .registry import get_version, is_model_ref

        if is_model_ref(ref):
            version = get_version(self, ref)
            ref, name = version.run_id, version.model_variable
        run_id = self.resolve_run_id(ref)
        rows = self.conn.execute(
            "SELECT io.name, m.artifact_sha256, m.format, m.trusted_types FROM run_io io "
            "JOIN models m ON m.fingerprint = io.fingerprint "
            "WHERE io.run_id = ? AND io.direction = 'output' AND io.kind = 'model' "
            "ORDER BY io.rowid", [run_id]
        ).fetchall()
        if name is not None:
            rows = [row for row in rows if row[0] == name]
        if not rows:
            what = f"a model named {name!r}" if name else "a model"
            raise NotFoundError(f"run {run_id} did not produce {what}")
        _, sha, fmt, trusted = rows[0]
        return self.artifacts.get(sha), fmt, json.loads(trusted)

    def runs(self, experiment: str | None = None, *, params: str = "differing",
             **query: Any) -> Any:
        """One row per run, newest first: ``run_id, experiment, name, status, started_at,
        duration_s``, then ``params.<key>`` and ``metrics.<key>`` (latest value).

        Keyword filters: ``status``, ``name``, ``search``, ``sort`` (a column, ``params.K`` or
        ``metrics.K``; a key no run logged is a ``ValueError`` naming the known keys),
        ``descending``, ``limit``, ``offset``, ``archived``: ``"exclude"`` archived runs (the
        default, see :meth:`archive_runs`), ``"include"`` them or list ``"only"`` them (both
        add an ``archived_at`` column, NaT for runs not archived).
        ``params="differing"`` (default) keeps the param columns whose value differs between
        the listed runs (at least two different values; all of them when one run is listed;
        the sort key always), as a comparison view does; ``params="all"`` keeps every param
        of every listed run. Returns a :class:`pandas.DataFrame`.
        """
        from .listing import runs_frame

        return runs_frame(self.conn, experiment=experiment, params=params, **query)

    def models(self) -> Any:
        """Registered model versions, one row each (newest first per model), as a DataFrame:
        ``name, version, stage, aliases, run_id, run_name, created_at, created_by, reason``."""
        import pandas as pd

        from .registry import versions

        rows = [{"name": v.name, "version": v.version, "stage": v.stage,
                 "aliases": ",".join(v.aliases), "run_id": v.run_id, "run_name": v.run_name,
                 "created_at": pd.to_datetime(v.created_at, unit="s", utc=True),
                 "created_by": v.created_by, "reason": v.reason} for v in versions(self)]
        return pd.DataFrame(rows, columns=["name", "version", "stage", "aliases", "run_id",
                                           "run_name", "created_at", "created_by", "reason"])

    def events(self, subject: str | None = None, limit: int | None = None) -> list[Any]:
        """Audit events, newest first (of one model or version when ``subject`` is given)."""
        from .audit import events

        return events(self.conn, subject, limit)

    def check(self) -> list[str]:
        """Integrity problems of this store (empty when healthy); ``doctor`` also shows
        warnings (see :func:`jupyter_mlops.store.doctor.diagnose`)."""
        from .doctor import diagnose

        return diagnose(self).problems


def open_store(path: str | os.PathLike[str] | None = None, *, create: bool = True) -> Store:
    """Open (creating if needed) the lineage store.

    Parameters
    ----------
    path : a store directory (holding ``lineage.db``), or ``None`` to discover it:
        ``$JUPYTER_MLOPS_STORE``, else the nearest ``.mlops/`` upwards, else a new
        ``.mlops/`` at the git root or in the working directory.
    create : when False, only open an existing store: raise
        :class:`~jupyter_mlops.errors.StoreNotFoundError` (a ``StoreError``) rather
        than create the directory and ``lineage.db``.
    """
    if path is not None:
        directory, origin = Path(path), "path"
    else:
        directory = find_store_dir()
        origin = "env" if os.environ.get(ENV_VAR) else (
            "found" if directory.exists() else "discovered")
    if directory.name == DB_FILENAME:
        directory = directory.parent
    check_store_dir(directory, origin=origin, create=create)
    return Store(directory)


__all__ = ["Store", "open_store"]
