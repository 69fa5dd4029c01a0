"""``push``: mirror the store's runs and registry to an MLflow tracking server.

Idempotent and incremental: each run and version is created once (its remote id is kept in
the store, and found again on the server by its ``mlops.run_id``/``mlops.version`` tag if a
push stopped between creating it and recording it); only runs changed since the store's
change cursor are looked at; metrics are sent past the last one sent, so an interrupted push
resumes; every call stays within ``log_batch``'s limits.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BundleError, SyncError
from ..store import Store, open_store
from ..store.registry import ModelVersion, versions
from . import ids
from .ids import CREATING
from .records import lineage_document, run_document, write_run_files
from .remote import (
    MAX_PARAM_VALUE,
    MAX_TAGS,
    STATUS,
    TAG,
    WORKERS,
    SyncReport,
    batches,
    client,
    is_conflict,
    millis,
    param_text,
    said_when_the_server_stops,
    tag_text,
    terminate,
    tracking_uri,
    upload,
)

EXCLUSIVE = ("staging", "production")  # our stages an MLflow alias holds
LOG_INPUTS_TRIES = 5  # tries of log_inputs when another push adds its dataset at once


def _since(since: float | str | dt.datetime | None) -> float:
    """``since`` as epoch seconds: a datetime, an ISO date/time text, or seconds."""
    if since is None:
        return 0.0
    if isinstance(since, dt.datetime):
        return since.timestamp()
    if isinstance(since, int | float):
        return float(since)
    try:
        return dt.datetime.fromisoformat(since).timestamp()
    except (TypeError, ValueError):
        raise ValueError(f"since must be a datetime, epoch seconds or an ISO date such as "
                         f"2026-11-30, got {str(since)[:40]!r}") from None


@dataclass
class _RunJob:
    """One run's part of a push: read from the store in the calling thread, sent by a
    worker (``send`` touches only MLflow and this object), recorded back in the calling
    thread from ``remote_id`` and ``state`` (also after a failure: an interrupted push
    resumes from there)."""

    run_id: str
    updated_at: float
    experiment_id: str
    remote_id: str | None  # None: create it (after looking for it when ``look_up``)
    look_up: bool
    state: dict[str, Any]
    create: dict[str, Any]  # create_run's arguments (the tags ride along)
    metrics: list[Any]
    rowids: list[int]
    params: list[Any]
    tags: list[Any]
    datasets: list[Any] = field(default_factory=list)
    folder: Path | None = None  # the artifacts to upload
    bundle_error: str | None = None
    terminate: tuple[str, int] | None = None  # (status, end time) of a finished run

    def send(self, mlflow: Any, uri: str) -> None:
        tags = self.tags
        if self.remote_id is None and self.look_up:
            found = mlflow.search_runs([self.experiment_id], f"tags.`{TAG}run_id` = "
                                       f"'{_quoted(self.run_id)}'", max_results=1)
            if found:
                self.remote_id = found[0].info.run_id
                self.state["artifact_uri"] = found[0].info.artifact_uri
        if self.remote_id is None:
            info = mlflow.create_run(self.experiment_id, tags={
                t.key: t.value for t in tags[:MAX_TAGS]}, **self.create).info
            self.remote_id, self.state["artifact_uri"] = info.run_id, info.artifact_uri
            tags = tags[MAX_TAGS:]
        sent = 0
        for m, p, t in batches(self.metrics, self.params, tags):
            mlflow.log_batch(self.remote_id, metrics=m, params=p, tags=t)
            sent += len(m)
            if m:  # resumable: the last metric point sent
                self.state["metric_rowid"] = self.rowids[sent - 1]
        self.state["params"] = self.state.get("params") or bool(self.terminate)
        if self.terminate is not None:
            self._finish(mlflow, uri)
        self.state["updated_at"] = self.updated_at

    def _finish(self, mlflow: Any, uri: str) -> None:
        assert self.remote_id is not None and self.terminate is not None
        if self.datasets:
            _log_inputs(mlflow, self.remote_id, self.datasets)
        if self.bundle_error:
            mlflow.set_tag(self.remote_id, f"{TAG}bundle", tag_text(self.bundle_error))
        if self.folder is not None:  # the run's artifact store, known since create_run
            if "artifact_uri" not in self.state:  # a run found on the server, or pushed
                # before the store kept it
                self.state["artifact_uri"] = mlflow.get_run(self.remote_id).info.artifact_uri
            upload(self.state["artifact_uri"], uri, self.folder)
        terminate(mlflow, self.remote_id, *self.terminate)
        self.state["final"] = True


def _log_inputs(mlflow: Any, run_id: str, datasets: list[Any]) -> None:
    """``log_inputs``, tried again when another push added one of these datasets meanwhile:
    MLflow's server adds a dataset new to an experiment with a check then an insert, so runs
    reading the same data, pushed at once (by this push's workers or a teammate's push), may
    meet its unique constraint. The next try finds the dataset; nothing is logged twice."""
    for attempt in range(1, LOG_INPUTS_TRIES + 1):
        try:
            mlflow.log_inputs(run_id, datasets=datasets)
            return
        except Exception as exc:
            if attempt == LOG_INPUTS_TRIES or not is_conflict(exc):
                raise
            time.sleep(0.05 * attempt)


def _param(key: str, value: Any) -> Any:
    from mlflow.entities import Param

    return Param(key, param_text(value))


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def _submit(pool: ThreadPoolExecutor, fn: Callable[..., None], *args: Any) -> Future[None]:
    """``pool.submit``, or once the interpreter is exiting (executors then take no new work:
    the last auto-push an exiting kernel waits for) the call itself, as a finished future."""
    try:
        return pool.submit(fn, *args)
    except RuntimeError as exc:
        if "interpreter shutdown" not in str(exc):
            raise
    future: Future[None] = Future()
    try:
        fn(*args)
        future.set_result(None)
    except Exception as exc:
        future.set_exception(exc)
    return future


class _Pusher:
    def __init__(self, store: Store, uri: str, report: SyncReport, workers: int) -> None:
        self.store, self.uri, self.report = store, uri, report
        self.mlflow = client(uri, "pushing to an MLflow tracking server")
        self.experiments: dict[str, str] = {}
        self.found: dict[str, dict[str, str]] = {}  # experiment → mlops.run_id → remote run
        self.workers = workers

    # -- runs ------------------------------------------------------------------------------
    def experiment(self, name: str) -> str:
        if name not in self.experiments:
            known = ids.remote_of(self.store, self.uri, "experiment", name)
            if known is None:
                remote_id, created = self._find_or_create_experiment(name)
                # one this push created holds no run of ours; one found may (pushed from
                # another copy of this store, perhaps): look first
                self.found[remote_id] = {} if created else self._search(remote_id)
                ids.record(self.store, self.uri, "experiment", name, remote_id, direction="push")
                known = (remote_id, {})
            self.experiments[name] = known[0]
        return self.experiments[name]

    def _find_or_create_experiment(self, name: str) -> tuple[str, bool]:
        """The experiment's id on the server, and whether this push created it (a teammate's
        push may create it between this push's look and its create)."""
        remote = self.mlflow.get_experiment_by_name(name)
        if remote is None:
            try:
                return self.mlflow.create_experiment(name), True
            except Exception as exc:
                if not is_conflict(exc):
                    raise
                remote = self.mlflow.get_experiment_by_name(name)
                if remote is None:  # not the conflict it looked like
                    raise
        return remote.experiment_id, False

    def _search(self, experiment_id: str) -> dict[str, str]:
        """Runs of ours already in an experiment this store never pushed to."""
        found: dict[str, str] = {}
        token = None
        while True:
            page = self.mlflow.search_runs([experiment_id], f"tags.`{TAG}run_id` LIKE '%'",
                                           max_results=1000, page_token=token)
            found.update({r.data.tags[f"{TAG}run_id"]: r.info.run_id for r in page})
            token = page.token
            if not token:
                return found

    def runs(self, rows: list[tuple[str, float]], folder: Path) -> None:
        """Push these runs (oldest first), ``workers`` at a time; a run waits for the runs
        its tags and lineage name (its parent, the runs upstream) to be on the server."""
        pending: dict[Future[None], _RunJob] = {}
        failures: list[BaseException] = []

        def settle(done: set[Future[None]]) -> None:
            for future in done:
                job = pending.pop(future)
                if future.exception() is not None:
                    failures.append(future.exception())  # type: ignore[arg-type]
                if job.remote_id is not None:
                    ids.record(self.store, self.uri, "run", job.run_id, job.remote_id,
                               direction="push", state=job.state)
                if job.folder is not None:
                    shutil.rmtree(job.folder, ignore_errors=True)

        with ThreadPoolExecutor(self.workers, thread_name_prefix="mlops-push") as pool:
            try:
                for run_id, updated_at in rows:
                    if failures:
                        break
                    in_flight = {job.run_id: f for f, job in pending.items()}
                    needs = [in_flight[r] for r in self._named(run_id) if r in in_flight]
                    if needs or len(pending) >= 2 * self.workers:
                        settle(wait(needs or pending, return_when=ALL_COMPLETED if needs
                                    else FIRST_COMPLETED).done)
                    job = self._job(run_id, updated_at, folder / run_id)
                    if job is not None:
                        pending[_submit(pool, job.send, self.mlflow, self.uri)] = job
            finally:  # what was sent is recorded, whatever stopped the loop
                while pending:
                    settle(wait(pending, return_when=FIRST_COMPLETED).done)
        if failures:
            raise failures[0]

    def _named(self, run_id: str) -> list[str]:
        parent = self.store.conn.execute("SELECT parent_run_id FROM runs WHERE run_id = ?",
                                         [run_id]).fetchone()
        return [*([parent[0]] if parent and parent[0] else []), *self.store.upstream(run_id)]

    def _job(self, run_id: str, updated_at: float, folder: Path) -> _RunJob | None:
        store = self.store
        known = ids.remote_of(store, self.uri, "run", run_id)
        creating = known is not None and known[0].startswith(CREATING)
        if known is not None and not creating and \
                known[1].get("updated_at", -1.0) >= updated_at:
            return None
        run = store.get_run(run_id)
        experiment_id = self.experiment(run.experiment)
        remote_id = None if known is None or creating else known[0]
        state: dict[str, Any] = {} if remote_id is None else known[1]  # type: ignore[index]
        if remote_id is None:
            remote_id = self.found.get(experiment_id, {}).get(run_id)
        if remote_id is None:  # a crash between creating and recording it is found again
            ids.record(store, self.uri, "run", run_id, f"{CREATING}{run_id}",
                       direction="push", state={})
        self.report.add("runs created" if known is None or creating else "runs updated")
        final = run.status != "running"
        job = _RunJob(run_id, updated_at, experiment_id, remote_id, creating, state,
                      {"start_time": millis(run.started_at), "run_name": run.name},
                      *self._metrics(run_id, state), params=[], tags=self._tags(run))
        if final and not state.get("params"):
            job.params = [_param(k, v) for k, v in run.params.items()]
            cut = sorted(k for k, v in run.params.items()
                         if len(param_text(v, None)) > MAX_PARAM_VALUE)
            if cut:
                self.report.notes.append(
                    f"run {run.name} ({run_id}): param(s) {', '.join(cut)} cut to MLflow's "
                    f"{MAX_PARAM_VALUE:,} characters; mlops/run.json holds the whole values "
                    "(a pull restores them)")
        if final and not state.get("final"):
            job.terminate = (STATUS[run.status], millis(run.ended_at or run.started_at))
            job.datasets = self._datasets(run)
            job.folder, job.bundle_error = self._artifacts(run, folder)
        return job

    def _metrics(self, run_id: str, state: dict[str, Any]) -> tuple[list[Any], list[int]]:
        """The run's metric points past the last one sent, and their rowids."""
        from mlflow.entities import Metric

        rows = self.store.conn.execute(
            "SELECT rowid, key, value, step, timestamp FROM metrics WHERE run_id = ? "
            "AND rowid > ? ORDER BY rowid", [run_id, state.get("metric_rowid", 0)]).fetchall()
        if rows:
            self.report.add("metric points", len(rows))
        return ([Metric(key, float("nan") if value is None else value, millis(at), step)
                 for _, key, value, step, at in rows], [r[0] for r in rows])

    def _tags(self, run: Any) -> list[Any]:
        from mlflow.entities import RunTag

        parent = run.parent_run_id and ids.pushed_run(self.store, self.uri,
                                                      run.parent_run_id)
        key = f"{TAG}run_id"  # first, so create_run sends it: a crashed push finds it by it
        tags = {
            key: run.run_id, **{k: v for k, v in run.tags.items() if k != key},
            f"{TAG}source_hash": run.source_hash,
            f"{TAG}notebook": run.notebook, f"{TAG}cell_id": run.cell_id,
            f"{TAG}host": run.host, f"{TAG}error": run.error,
            f"{TAG}parent_run_id": run.parent_run_id,
            f"{TAG}upstream": ",".join(self.store.upstream(run.run_id)),
            "mlflow.user": run.user, "mlflow.source.name": run.notebook,
            "mlflow.source.type": "NOTEBOOK" if run.notebook else None,
            "mlflow.source.git.commit": run.git.get("commit"),
            "mlflow.parentRunId": parent or None,
        }
        return [RunTag(k, tag_text(v)) for k, v in tags.items() if v not in (None, "")]

    def _datasets(self, run: Any) -> list[Any]:
        from mlflow.entities import Dataset, DatasetInput, InputTag

        inputs = []
        for entity in run.inputs:
            if entity.kind != "dataset" or not self.store.has_dataset(entity.fingerprint):
                continue
            data = self.store.get_dataset(entity.fingerprint)
            source = {"fingerprint": entity.fingerprint, "kind": data["kind"],
                      "shape": data["shape"], "variable": entity.name}
            dataset = Dataset(name=entity.name,
                              digest=entity.fingerprint.rpartition(":")[2][:36],
                              source_type="jupyter-mlops", source=json.dumps(source),
                              schema=json.dumps(data["schema"]),
                              profile=json.dumps(data["profile"]))
            context = "training" if entity.detail.get("fit_of") else "input"
            inputs.append(DatasetInput(dataset, [InputTag("mlflow.data.context", context)]))
        return inputs

    def _artifacts(self, run: Any, folder: Path) -> tuple[Path, str | None]:
        """The cell, its code slice, the run record, lineage, the models (as stored) and the
        first model as an MLflow model (our deployment bundle) at ``model/``, written into
        ``folder``; and why the bundle could not be exported, if so."""
        document = run_document(self.store, run)
        lineage = lineage_document(self.store, run, lambda r: ids.pushed_run(
            self.store, self.uri, r))
        write_run_files(self.store, run, document, lineage, folder / "mlops")
        if run.models and run.status == "finished":
            from ..bundle import export_bundle

            try:
                export_bundle(run.run_id, folder / "model", store=self.store)
            except BundleError as exc:
                return folder, f"not exported: {exc}"
        return folder, None

    # -- registry --------------------------------------------------------------------------
    def registry(self, scope: set[str] | None) -> None:
        """Each version whose run is on the server: created once, then its stage, aliases
        and audit events whenever new events about it were recorded."""
        by_model: dict[str, list[ModelVersion]] = {}
        for version in versions(self.store):
            if scope is None or version.run_id in scope:
                by_model.setdefault(version.name, []).append(version)
        for name, held in by_model.items():
            self._model(name, held)

    def _model(self, name: str, held: list[ModelVersion]) -> None:
        mlflow, store = self.mlflow, self.store
        pending = []
        for version in held:
            if ids.remote_of(store, self.uri, "version", version.ref, "pull"):
                continue  # a copy pulled from the server
            remote_run = ids.pushed_run(store, self.uri, version.run_id)
            if remote_run is None:
                self.report.notes.append(f"{version.ref}: its run {version.run_id} is not on "
                                         "the server (push it first)")
                continue
            seq = max((e.seq for e in store.events(version.ref)
                       if e.subject == version.ref), default=0)
            known = ids.remote_of(store, self.uri, "version", version.ref)
            if known is None or known[1].get("event_seq", -1) < seq:
                pending.append((version, remote_run, known, seq))
        if not pending:
            return
        try:
            mlflow.create_registered_model(name, tags={f"{TAG}model": name})
        except Exception as exc:
            if not is_conflict(exc):
                raise
        # a version pushed by a copy of this store (a teammate's own version 1 of the same
        # name is another version: its run differs)
        existing = {(v.tags.get(f"{TAG}version"), v.tags.get(f"{TAG}run_id")): str(v.version)
                    for v in mlflow.search_model_versions(f"name = '{name}'")}
        foreign = ids.foreign_aliases(store, self.uri, name,
                                      mlflow.get_registered_model(name).aliases)
        sent_before: dict[str, list[str] | None] = {}  # None: pushed before labels were kept
        for version, remote_run, known, seq in sorted(pending, key=lambda p: p[0].version):
            number = known[0].rpartition("/")[2] if known else existing.get(
                (str(version.version), version.run_id))
            created = number is None
            if number is None:
                number = self._create_version(version, remote_run)
            self._version_state(version, number, remote_run, foreign,
                                known[1].get("event_seq", -1) if known else -1)
            self.report.add("model versions created" if created else "model versions updated")
            sent_before[version.ref] = known[1].get("labels") if known else []
            ids.record(store, self.uri, "version", version.ref, f"{name}/{number}",
                       direction="push", state={"event_seq": seq, "labels": _labels(version)})
        self._drop_stale_aliases(name, sent_before)

    def _create_version(self, version: ModelVersion, remote_run: str) -> str:
        run = self.mlflow.get_run(remote_run)
        first = self.store.get_run(version.run_id).models[0].name
        listed = {a.path for a in self.mlflow.list_artifacts(remote_run)}
        path = "model" if version.model_variable == first and "model" in listed else \
            f"mlops/models/{version.model_variable}"
        tags = {f"{TAG}version": str(version.version), f"{TAG}run_id": version.run_id,
                f"{TAG}model_fingerprint": version.model_fingerprint,
                f"{TAG}model_variable": version.model_variable,
                f"{TAG}created_by": version.created_by, f"{TAG}created_at": version.created_at,
                f"{TAG}reason": version.reason}
        created = self.mlflow.create_model_version(
            version.name, f"{run.info.artifact_uri}/{path}", run_id=remote_run,
            tags={k: tag_text(v) for k, v in tags.items() if v is not None},
            description=version.reason, await_creation_for=0)
        return str(created.version)

    def _version_state(self, version: ModelVersion, number: str, remote_run: str,
                       foreign: dict[str, str], pushed_seq: int) -> None:
        """The version's stage tag, its labels given since the last push (``pushed_seq``:
        a label pushed before that a teammate moved since stays theirs), its audit events."""
        mlflow = self.mlflow
        mine = [e for e in reversed(self.store.events(version.ref)) if e.subject == version.ref]
        given = {e.detail.get("to") if e.action == "transition" else e.detail.get("alias"):
                 e.seq for e in mine if e.action in ("transition", "alias")}
        mlflow.set_model_version_tag(version.name, number, f"{TAG}stage", version.stage or "")
        for label in _labels(version):
            if given.get(label, pushed_seq + 1) <= pushed_seq:
                continue  # pushed before: where it is on the server now is the team's doing
            if foreign.get(label, number) != number:
                self.report.notes.append(
                    f"{version.name}: alias {label!r} moved to version {number} (this store's "
                    f"{version.ref}) from version {foreign.pop(label)}, which another store "
                    "pushed")
            mlflow.set_registered_model_alias(version.name, label, number)
        events = [{"seq": e.seq, "at": e.at, "actor": e.actor, "action": e.action,
                   "subject": e.subject, "detail": e.detail, "reason": e.reason,
                   "hash": e.hash} for e in mine]
        mlflow.log_text(remote_run, json.dumps(events, indent=1, default=str),
                        f"mlops/audit/{version.name}/v{version.version}.json")

    def _drop_stale_aliases(self, name: str, sent_before: dict[str, list[str] | None]
                            ) -> None:
        """Remove the aliases the server gives to a version of this push that it held when
        last pushed and no longer holds here (staging promoted to production, say); an alias
        a teammate put on a version of ours since stays theirs."""
        ours = ids.pushed_versions(self.store, self.uri)
        now = {v.ref: _labels(v) for v in versions(self.store, name)}
        for alias, number in self.mlflow.get_registered_model(name).aliases.items():
            local = ours.get(f"{name}/{number}")
            if local not in sent_before or alias in now.get(local, []):
                continue
            before = sent_before[local]
            if before is None or alias in before:
                self.mlflow.delete_registered_model_alias(name, alias)


def _labels(version: ModelVersion) -> list[str]:
    """What the server's aliases hold of a version: its stage when exclusive, its aliases."""
    return [*([version.stage] if version.stage in EXCLUSIVE else []), *version.aliases]


@said_when_the_server_stops("push")
def push(to: str | None = None, experiment: str | None = None,
         since: float | str | dt.datetime | None = None, *, store: Store | None = None
         ) -> SyncReport:
    """Mirror runs and registered models to an MLflow tracking server.

    Parameters
    ----------
    to : the tracking server's URI (``http://host:5000``); default ``$MLFLOW_TRACKING_URI``.
        Credentials as MLflow reads them (``$MLFLOW_TRACKING_TOKEN``, ...).
    experiment : push only this experiment's runs (and the versions of their models)
    since : push only runs started at or after this time (datetime, ISO text, epoch seconds)
    store : the store to push (default: the current one)

    Each run becomes one MLflow run (a second push updates it): params, metrics with their
    steps and times, tags, status, start and end, the cell and its code slice, the run record
    and lineage (``mlops/``), its input datasets (``log_input``, our fingerprint as digest),
    its models (``mlops/models/``) and its first model as an MLflow model (``model/``). Each
    registered version becomes a model version; ``staging``/``production`` and free aliases
    become MLflow aliases; its audit events go to ``mlops/audit/NAME/vN.json`` in its run.
    Runs pulled from a server are not pushed. Returns a :class:`SyncReport`.
    """
    uri = tracking_uri(to)
    start = _since(since)
    store = store or open_store(create=False)
    if experiment is not None and experiment not in store.experiments():
        raise SyncError(f"no experiment {experiment!r} in this store (experiments: "
                        f"{', '.join(store.experiments()) or 'none'})")
    report = SyncReport(uri, "push")
    pusher = _Pusher(store, uri, report, WORKERS)  # its probe says a server down at once
    with ids.exclusive(store, uri):
        full = experiment is None and since is None
        now = ids.current_cursor(store)
        updated_after, _ = ids.cursor(store, uri)
        rows = store.conn.execute(
            "SELECT r.run_id, r.updated_at, e.name FROM runs r JOIN experiments e "
            "ON e.id = r.experiment_id WHERE r.updated_at > ? AND r.started_at >= ? "
            "ORDER BY r.started_at, r.run_id", [updated_after, start]).fetchall()
        pulled = ids.pulled_runs(store)
        with tempfile.TemporaryDirectory(prefix="mlops-push-") as tmp:
            pusher.runs([(run_id, updated_at) for run_id, updated_at, name in rows
                         if run_id not in pulled and experiment in (None, name)], Path(tmp))
        scope = None if full else {r for (r,) in store.conn.execute(
            "SELECT r.run_id FROM runs r JOIN experiments e ON e.id = r.experiment_id "
            "WHERE r.started_at >= ? AND coalesce(?, e.name) = e.name", [start, experiment])}
        pusher.registry(scope)
        if full:
            ids.advance(store, uri, now)
    return report
