"""``pull``: bring a team's runs and registered models from an MLflow tracking server into
the store, as read-only copies marked with their origin (tag ``mlops.origin``, and
``sync_ids`` rows with direction ``pull``: ``push`` never sends them back).

A run pushed by jupyter-mlops comes back exactly (its ``mlops/run.json``: params as logged,
inputs and outputs, so lineage links it to the runs around it, datasets' schema and profile,
models); any other MLflow run comes with its params, metric histories and tags.
"""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
import tempfile
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, as_completed, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..entities import CodeCell, Entity
from ..errors import SyncError
from ..store import DatasetInfo, EnvironmentInfo, ModelInfo, RunResult, Store, open_store
from ..store.registry import EXCLUSIVE_STAGES, check_name, copy_version, transition, versions
from ..store.tidy import MAX_TAG_VALUE, MAX_TAGS, check_tag
from . import ids
from .records import CELL_FILE, MODELS_DIR, RUN_FILE
from .remote import (
    LOCAL_STATUS,
    TAG,
    WORKERS,
    SyncReport,
    artifact_repository,
    client,
    download,
    from_the_server,
    is_missing,
    said_when_the_server_stops,
    tracking_uri,
)

ORIGIN = f"{TAG}origin"
MAX_RECORD_BYTES = 64 * 1024**2  # a run's mlops/run.json (it holds the cell's output)
MAX_MODEL_BYTES = 4 * 1024**3  # a pulled model file (as bundle/trust.py bounds one unpacked)
# the fields of a run record read here, by the type they must have (None allowed for some)
_FIELDS: dict[str, tuple[type, ...]] = {
    "params": (dict,), "tags": (dict,), "datasets": (dict,), "inputs": (list,),
    "outputs": (list,), "models": (list,), "code_slice": (list,), "warnings": (list,),
    "environment": (dict, type(None)), "source": (str,), "source_hash": (str,),
    "notebook": (str, type(None)), "cell_id": (str, type(None)), "user": (str, type(None)),
    "host": (str, type(None)), "parent_run_id": (str, type(None)),
    "execution_count": (int, type(None))}


class _BadRecord(Exception):
    """A run's ``mlops/run.json`` this pull cannot take: the run is left out, with a note."""


def _pages(call: Any, *args: Any, **kwargs: Any) -> list[Any]:
    """Every item of a paged MLflow search."""
    items, token = [], None
    while True:
        page = call(*args, page_token=token, **kwargs)
        items.extend(page)
        token = page.token
        if not token:
            return items


def _checked(data: bytes) -> dict[str, Any]:
    """A run record as read from the server, its fields of the types this pull reads; its
    models only those a loader checks (never a pickle), each file under ``models/``."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise _BadRecord(f"its mlops/{RUN_FILE} is not JSON this pull reads "
                         f"({type(exc).__name__})") from None
    if not isinstance(doc, dict):
        raise _BadRecord(f"its mlops/{RUN_FILE} is not a JSON object")
    wrong = sorted(k for k, types in _FIELDS.items() if k in doc
                   and not isinstance(doc[k], types))
    if wrong or not all(isinstance(v, str) for v in doc.get("tags", {}).values()):
        raise _BadRecord(f"its mlops/{RUN_FILE} has fields of the wrong type: "
                         f"{', '.join(wrong or ['tags'])}")
    for model in doc.get("models", []):
        file = model.get("file") if isinstance(model, dict) else None
        name = file[len(f"{MODELS_DIR}/"):] if isinstance(file, str) else ""
        if not (isinstance(file, str) and file.startswith(f"{MODELS_DIR}/") and name
                and not name.startswith(".") and "/" not in name and "\\" not in name):
            raise _BadRecord(f"its mlops/{RUN_FILE} names a model file {file!r} outside "
                             f"mlops/{MODELS_DIR}/")
    return doc


def _sizes(repo: Any, folder: str) -> dict[str, int | None]:
    """The files of a run's artifact folder and their sizes, as its artifact store lists them
    (it measures what a writer uploaded)."""
    return {f.path: f.file_size for f in repo.list_artifacts(folder) if not f.is_dir}


def _download_within(repo: Any, sizes: dict[str, int | None], path: str, limit: int,
                     folder: Path) -> Path:
    """Download ``path`` into ``folder`` if listed at most ``limit`` bytes; a file not listed
    or larger leaves the run out (it is not downloaded)."""
    if path not in sizes:
        raise _BadRecord(f"its record names {path}, which is not there")
    size = sizes[path]
    if size is not None and size > limit:
        raise _BadRecord(f"its {path} is {size} bytes, more than the {limit} it may hold")
    local = download(repo, path, folder)
    if local.stat().st_size > limit:  # a store that does not list sizes
        raise _BadRecord(f"its {path} is {local.stat().st_size} bytes, more than the {limit} "
                         "it may hold")
    return local


def _document(uri: str, remote: Any, folder: Path) -> dict[str, Any]:
    """The run's record (``mlops/run.json``) and the files it names (its cell, its models),
    downloaded into ``folder`` once their listed sizes are within bounds; empty for a run
    jupyter-mlops did not push."""
    if f"{TAG}run_id" not in remote.data.tags:
        return {}
    repo = artifact_repository(remote.info.artifact_uri, uri)
    try:
        sizes = _sizes(repo, "mlops")
        if f"mlops/{RUN_FILE}" not in sizes:  # pushed while running: no record yet
            return {}
        doc = _checked(_download_within(repo, sizes, f"mlops/{RUN_FILE}", MAX_RECORD_BYTES,
                                        folder).read_bytes())
        if "source" not in doc:  # the cell is in the record since session 5
            _download_within(repo, sizes, f"mlops/{CELL_FILE}", MAX_RECORD_BYTES, folder)
        if doc["models"]:
            sizes.update(_sizes(repo, f"mlops/{MODELS_DIR}"))
        for model in doc["models"]:
            _download_within(repo, sizes, f"mlops/{model['file']}", MAX_MODEL_BYTES, folder)
        return doc
    finally:
        repo.thread_pool.shutdown()


@dataclass
class _Fetched:
    """A remote run as the store will hold it: read by a worker, written by the caller."""

    remote: Any
    experiment: str
    doc: dict[str, Any]
    source: str
    result: RunResult
    notes: list[str]


def _fetch(mlflow: Any, uri: str, remote: Any, experiment: str) -> _Fetched:
    info = remote.info
    origin = f"{uri}/#/experiments/{info.experiment_id}/runs/{info.run_id}"
    try:
        return _fetched(mlflow, uri, remote, experiment, origin)
    except _BadRecord as exc:
        raise _BadRecord(f"{origin} was not pulled: {exc}") from None


# what a run record a server writer controls can make reading it raise (a field missing or
# of another type, a file it names that is not there)
_RECORD_ERRORS = (LookupError, TypeError, ValueError, AttributeError, FileNotFoundError,
                  sqlite3.InterfaceError, sqlite3.IntegrityError)


def _caused_by_the_record(exc: Exception) -> bool:
    """Whether ``exc`` comes from what the server holds (a run record, a model's aliases)
    rather than from the server's answers, the store, or a bug."""
    if from_the_server(exc) is not None and not is_missing(exc):
        return False  # the network, or an answer that is no record (a proxy's page)
    if isinstance(exc, sqlite3.ProgrammingError):
        return "binding" in str(exc)  # a value of a type SQLite takes not; not a closed db
    return isinstance(exc, _RECORD_ERRORS) or is_missing(exc)


def _fetched(mlflow: Any, uri: str, remote: Any, experiment: str, origin: str) -> _Fetched:
    with tempfile.TemporaryDirectory(prefix="mlops-pull-") as tmp:
        notes: list[str] = []
        doc: dict[str, Any] = {}
        try:
            doc = _document(uri, remote, Path(tmp))
            files = Path(tmp) / "mlops"
            result = _result(mlflow, remote, doc, files, origin, notes)
            source = doc["source"] if "source" in doc else (
                (files / CELL_FILE).read_text(encoding="utf-8") if doc else "")
        except _BadRecord:
            raise
        except Exception as exc:
            if not _caused_by_the_record(exc):
                raise
            what = f"its mlops/{RUN_FILE} is not a run record this pull reads" if doc else \
                "it could not be read"
            raise _BadRecord(f"{what} ({type(exc).__name__}: {str(exc)[:200]})") from None
    return _Fetched(remote, experiment, doc, source, result, notes)


def _models(doc: dict[str, Any], files: Path, origin: str, notes: list[str]
            ) -> list[ModelInfo]:
    """The run's models as the store will load them, trusted by this loader, never by the
    record: a pickle is left out (loading one runs its code), a skops file keeps only the
    types the loader's allowlist allows (the record's ``trusted_types`` is not read)."""
    from ..bundle.trust import ModelRefused, audit
    from ..frameworks.registry import BY_NAME
    from ..frameworks.serialize import PICKLE, SKOPS

    models = []
    for m in doc["models"]:
        data, fmt = (files / m["file"]).read_bytes(), m["format"]
        trusted: list[str] = []
        if fmt == SKOPS:
            try:
                trusted = audit(data, f"model {m['variable']!r} of {origin}")
            except ModelRefused as exc:
                notes.append(f"{origin}: its model {m['variable']!r} was not pulled: {exc}")
                continue
        elif fmt not in BY_NAME:
            why = "a pickle (loading one runs any code in it)" if fmt == PICKLE else \
                f"of a format this version does not load ({str(fmt)[:40]!r})"
            notes.append(f"{origin}: its model {m['variable']!r} was not pulled: {why}")
            continue
        models.append(ModelInfo(m["fingerprint"], m["class_name"], m["module"], data, fmt,
                                trusted))
    return models


def _storable(tags: dict[str, str], origin: str, notes: list[str]) -> dict[str, str]:
    """The tags this store holds by its rules (a key of letters, digits, ``_ . -``; a value
    of one line of at most 200 characters; at most 100 a run), with the run's origin; a
    note names the others (a server's tags are free text: newlines, terminal escapes)."""
    kept: dict[str, str] = {}
    left: list[str] = []
    for key, value in tags.items():
        try:
            check_tag(key, value)
        except ValueError:
            left.append(key)
            continue
        if len(kept) < MAX_TAGS - 1:  # the origin is one more
            kept[key] = value
        else:
            left.append(key)
    if left:
        named = ", ".join(repr(key[:40]) for key in left[:5]) + (", …" if len(left) > 5 else "")
        notes.append(f"{origin}: {len(left)} tag(s) left out ({named}): a tag here has a key "
                     f"of letters, digits, '_', '.' or '-' and a value of one line of at most "
                     f"{MAX_TAG_VALUE} characters, at most {MAX_TAGS} a run")
    return {**kept, ORIGIN: origin}


def _result(mlflow: Any, remote: Any, doc: dict[str, Any], files: Path, origin: str,
            notes: list[str]) -> RunResult:
    info, data = remote.info, remote.data
    metrics = [(m.key, m.value, m.step, m.timestamp / 1000) for key in data.metrics
               for m in mlflow.get_metric_history(info.run_id, key)]
    # the run's own tags as the server has them now (set after the push too), without
    # MLflow's and the ones push adds
    recorded = doc.get("tags", {})
    tags = _storable({**recorded, **{k: v for k, v in data.tags.items()
                                     if not k.startswith("mlflow.")
                                     and (not k.startswith(TAG) or k in recorded)}},
                     origin, notes)
    status = LOCAL_STATUS.get(info.status, "finished")
    ended = (info.end_time or info.start_time) / 1000
    if not doc:
        return RunResult(status=status, ended_at=ended, params=dict(data.params),
                         metrics=metrics, tags=tags)
    env = doc["environment"]
    return RunResult(
        status=status, ended_at=ended, params=doc["params"], metrics=metrics, tags=tags,
        inputs=[Entity(**e) for e in doc["inputs"]],
        outputs=[Entity(**e) for e in doc["outputs"]],
        datasets=[DatasetInfo(fp, d["kind"], tuple(d["shape"]), d["schema"], d["profile"])
                  for fp, d in doc["datasets"].items()],
        models=_models(doc, files, origin, notes),
        environment=EnvironmentInfo(env["env_hash"], env["python"], env["platform"],
                                    env["packages"]) if env else None,
        git=doc["git"], stdout=doc["stdout"], stderr=doc["stderr"], error=doc["error"],
        traceback=doc["traceback"], code_slice=[CodeCell(**c) for c in doc["code_slice"]],
        warnings=doc["warnings"])


def _seen(remote: Any) -> str:
    """What a pull compares to know a run changed on the server since it was pulled: its
    status, end, name, tags and latest metric values (a point appended with the same latest
    value goes unnoticed)."""
    info, data = remote.info, remote.data
    return hashlib.sha256(json.dumps(
        [info.status, info.end_time, info.run_name, sorted(data.tags.items()),
         sorted(data.metrics.items())], default=str).encode()).hexdigest()


def _to_fetch(store: Store, uri: str, remote: Any) -> bool:
    """Whether to fetch a remote run: new here, or a pulled copy that changed since."""
    known = ids.local_of(store, uri, "run", remote.info.run_id)
    if known is None:
        local_id = remote.data.tags.get(f"{TAG}run_id") or remote.info.run_id
        if not store.conn.execute("SELECT 1 FROM runs WHERE run_id = ?", [local_id]
                                  ).fetchone():
            return True
        # our own run (pushed under another spelling of the server's URI), unless this
        # store already knows which run on the server it is: another run that claims its id
        # (a tag anyone writing to the server can set) must not take its place
        mapped = ids.remote_of(store, uri, "run", local_id)
        if mapped is None or mapped[0].startswith(ids.CREATING):
            ids.record(store, uri, "run", local_id, remote.info.run_id, direction="push")
        return False
    if known[1] != "pull":
        return False  # pushed from here
    state = (ids.remote_of(store, uri, "run", known[0], "pull") or ("", {}))[1]
    return bool(state.get("seen") != _seen(remote))


def _store_run(store: Store, uri: str, fetched: _Fetched, report: SyncReport) -> None:
    """Write a fetched run: a new copy, or the refreshed copy of one pulled before."""
    remote, doc, result = fetched.remote, fetched.doc, fetched.result
    info = remote.info
    local_id = remote.data.tags.get(f"{TAG}run_id") or info.run_id
    state = {"origin": result.tags[ORIGIN], "seen": _seen(remote)}
    refreshed = ids.local_of(store, uri, "run", info.run_id) is not None
    with store.transaction() as conn:
        if refreshed:
            for table in ("metrics", "latest_metrics", "tags"):
                conn.execute(f"DELETE FROM {table} WHERE run_id = ?", [local_id])
        else:
            store.start_run(
                local_id, name=info.run_name or info.run_id, experiment=fetched.experiment,
                source=fetched.source, source_hash=doc.get("source_hash", ""),
                started_at=info.start_time / 1000, notebook=doc.get("notebook"),
                cell_id=doc.get("cell_id"), execution_count=doc.get("execution_count"),
                user=doc.get("user") or remote.data.tags.get("mlflow.user"),
                parent_run_id=doc.get("parent_run_id"))
        store.finish_run(local_id, result)
        conn.execute("UPDATE runs SET name = ?, host = ?, pid = NULL WHERE run_id = ?",
                     [info.run_name or info.run_id, doc.get("host"), local_id])
        ids.record(store, uri, "run", local_id, info.run_id, direction="pull", state=state)
    report.add("runs refreshed" if refreshed else "runs pulled")
    report.notes.extend(fetched.notes)


def _pull_runs(store: Store, mlflow: Any, uri: str,
               remotes: Iterable[tuple[Any, str]], report: SyncReport) -> None:
    """Fetch the runs new or changed on the server, ``WORKERS`` at a time, and store each
    in this thread (one thread writes the store). A run whose record this pull cannot take
    is left out with a note; the others come."""
    with ThreadPoolExecutor(WORKERS, thread_name_prefix="mlops-pull") as pool:
        pending: set[Future[_Fetched]] = set()
        for remote, experiment in remotes:
            if _to_fetch(store, uri, remote):
                pending.add(pool.submit(_fetch, mlflow, uri, remote, experiment))
            if len(pending) >= 2 * WORKERS:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    _take(store, uri, future, report)
        for future in as_completed(pending):
            _take(store, uri, future, report)


def _take(store: Store, uri: str, future: Future[_Fetched], report: SyncReport) -> None:
    """Store a fetched run, or note why it was left out (its transaction rolled back)."""
    try:
        fetched = future.result()
    except _BadRecord as exc:
        report.notes.append(str(exc))
        return
    try:
        _store_run(store, uri, fetched, report)
    except Exception as exc:
        if not _caused_by_the_record(exc):
            raise
        again = ids.local_of(store, uri, "run", fetched.remote.info.run_id) is not None
        report.notes.append(f"{fetched.result.tags[ORIGIN]} was not "
                            f"{'refreshed (the copy pulled before stays)' if again else 'pulled'}"
                            f": its record does not fit the store ({type(exc).__name__}: "
                            f"{str(exc)[:200]})")


def _seconds(text: str | None, default: float) -> float:
    """A time a version's tag gives in epoch seconds, else ``default`` (the tag is free text
    on the server)."""
    try:
        value = float(text or default)
    except ValueError:
        return default
    return value if math.isfinite(value) else default


def _labels(remote_version: Any, aliases: dict[str, str]) -> list[str]:
    """Our stage and aliases of a version from its MLflow aliases and ``mlops.stage`` tag."""
    held = sorted(a for a, v in aliases.items() if str(v) == str(remote_version.version))
    stage = remote_version.tags.get(f"{TAG}stage")
    return [*([stage] if stage == "archived" and not (set(held) & set(EXCLUSIVE_STAGES))
              else []), *held]


def _held_elsewhere(store: Store, uri: str, name: str, aliases: dict[str, Any]) -> str:
    """The end of a note naming the model's stages on the server that a version this store
    did not push holds (its own ``load_model("NAME@production")`` loads another model)."""
    theirs = [f"{stage} is its version {number}" for stage, number in
              sorted(ids.foreign_aliases(store, uri, name, aliases).items())
              if stage in EXCLUSIVE_STAGES]
    return f"; on the server, {' and '.join(theirs)}, which another store pushed" \
        if theirs else ""


def _pull_model_or_note(store: Store, mlflow: Any, uri: str, model: Any,
                        report: SyncReport) -> None:
    """:func:`_pull_model`, or a note when the server's model does not fit this registry
    (an alias MLflow accepts that is no stage or alias name here, say); what was pulled of
    it stays, and the next model comes."""
    try:
        _pull_model(store, mlflow, uri, model, report)
    except Exception as exc:
        if not _caused_by_the_record(exc):
            raise
        report.notes.append(f"model {model.name!r}: not all of it was pulled "
                            f"({type(exc).__name__}: {str(exc)[:200]})")


def _pull_model(store: Store, mlflow: Any, uri: str, model: Any, report: SyncReport) -> None:
    name = model.name
    try:
        check_name(name)  # a name on the server is free text, here it is a model reference
    except ValueError as exc:
        report.notes.append(f"model {name!r} was not pulled: {exc}")
        return
    pulled = {local for (local,) in store.conn.execute(
        "SELECT local_id FROM sync_ids WHERE remote = ? AND kind = 'version' "
        "AND direction = 'pull'", [uri])}
    own = [v.ref for v in versions(store, name) if v.ref not in pulled]
    remote_versions = sorted(_pages(mlflow.search_model_versions, f"name = '{name}'"),
                             key=lambda v: int(v.version))
    actor = f"pull from {uri}"
    for remote in remote_versions:
        ref = f"{name}/{remote.version}"
        known = ids.local_of(store, uri, "version", ref)
        if known and known[1] == "push":
            continue  # a version of ours
        run = ids.local_of(store, uri, "run", remote.run_id) if remote.run_id else None
        if run is None:
            report.notes.append(f"{ref}: its run {remote.run_id} was not pulled (still running, "
                                "or outside the experiment pulled)")
            continue
        if known is None:
            if own:
                report.notes.append(f"model {name!r}: kept this store's own versions "
                                    f"({', '.join(own)}); the server's were not pulled"
                                    f"{_held_elsewhere(store, uri, name, model.aliases)}")
                return
            tags = remote.tags
            copy_version(store, name=name, version=int(remote.version), run_id=run[0],
                         model_fingerprint=tags.get(f"{TAG}model_fingerprint", ""),
                         model_variable=tags.get(f"{TAG}model_variable", "model"),
                         created_at=_seconds(tags.get(f"{TAG}created_at"),
                                             remote.creation_timestamp / 1000),
                         created_by=tags.get(f"{TAG}created_by") or remote.user_id,
                         reason=tags.get(f"{TAG}reason") or remote.description or None,
                         actor=actor, origin=uri)
            ids.record(store, uri, "version", ref, ref, direction="pull")
            report.add("model versions pulled")
        local = next((v for v in versions(store, name) if v.ref == ref), None)
        if local is None:
            report.notes.append(f"{ref}: pulled before and deleted here since: not pulled "
                                "again")
            continue
        for label in _labels(remote, model.aliases):
            if label == local.stage or label in local.aliases:
                continue
            try:
                check_name(label)  # MLflow takes aliases this registry does not ("_wip")
            except ValueError as exc:
                report.notes.append(f"{ref}: its alias {label[:40]!r} was left out: {exc}")
                continue
            transition(store, name, int(remote.version), label, actor=actor,
                       reason=f"as on {uri}")


@said_when_the_server_stops("pull")
def pull(from_: str | None = None, experiment: str | None = None, *,
         store: Store | None = None) -> SyncReport:
    """Bring runs and registered models from an MLflow tracking server into the store.

    Parameters
    ----------
    from_ : the tracking server's URI; default ``$MLFLOW_TRACKING_URI``
    experiment : pull only this experiment
    store : the store to pull into (default: the current one, created if needed)

    Finished runs come as read-only copies (tag ``mlops.origin`` links the original), with
    their lineage when jupyter-mlops pushed them, so ``%mlops runs``, compare charts,
    lineage and the sidebar show them; registered versions of those runs come with their
    stage and aliases, so ``load_model("name@production")`` loads the team's model. Running
    runs wait for the next pull. Returns a :class:`~jupyter_mlops.sync.SyncReport`.
    """
    uri = tracking_uri(from_)
    store = store or open_store()
    mlflow = client(uri, "pulling from an MLflow tracking server")
    report = SyncReport(uri, "pull")
    if experiment is None:
        found = _pages(mlflow.search_experiments)
    else:
        found = [e for e in [mlflow.get_experiment_by_name(experiment)] if e is not None]
        if not found:
            raise SyncError(f"no experiment {experiment!r} on {uri}")
    with ids.exclusive(store, uri):
        _pull_runs(store, mlflow, uri, ((remote, exp.name) for exp in found for remote in
                                        _pages(mlflow.search_runs, [exp.experiment_id],
                                               "attributes.status != 'RUNNING'",
                                               max_results=1000)), report)
        for model in _pages(mlflow.search_registered_models):
            _pull_model_or_note(store, mlflow, uri, model, report)
    return report


@said_when_the_server_stops("pull")
def pull_model(name: str, from_: str | None = None, *, store: Store | None = None
               ) -> SyncReport:
    """Bring one registered model from an MLflow tracking server: the runs of its versions,
    then the versions with their stages and aliases (as :func:`pull` does for all)."""
    uri = tracking_uri(from_)
    store = store or open_store()
    mlflow = client(uri, "pulling from an MLflow tracking server")
    report = SyncReport(uri, "pull")
    try:
        model = mlflow.get_registered_model(name)
    except Exception as exc:
        if is_missing(exc):
            raise SyncError(f"no registered model {name!r} on {uri}") from None
        raise
    experiments: dict[str, str] = {}

    def experiment(experiment_id: str) -> str:
        if experiment_id not in experiments:
            experiments[experiment_id] = mlflow.get_experiment(experiment_id).name
        return experiments[experiment_id]

    runs = {v.run_id for v in _pages(mlflow.search_model_versions, f"name = '{check_name(name)}'")
            if v.run_id}
    remotes = [mlflow.get_run(run_id) for run_id in sorted(runs)]
    with ids.exclusive(store, uri):
        _pull_runs(store, mlflow, uri, [(r, experiment(r.info.experiment_id)) for r in remotes
                                        if r.info.status != "RUNNING"], report)
        _pull_model_or_note(store, mlflow, uri, model, report)
    return report


def load_model(ref: str, name: str | None = None, *, store: Store | None = None) -> Any:
    """A fitted model, as :meth:`Store.load_model <jupyter_mlops.Store.load_model>` gives it
    (``"fraud@production"``, ``"fraud/3"``, a run), resolved through the team's MLflow
    tracking server when this store does not have it: with the store setting ``sync.uri``
    (``jupyter-mlops config sync.uri URI``), a model reference this store cannot resolve
    pulls that registered model from the server first."""
    from ..errors import NotFoundError
    from ..store.registry import is_model_ref, parse_model_ref
    from ..store.settings import get

    store = store or open_store()
    try:
        return store.load_model(ref, name)
    except NotFoundError:
        uri = get(store, "sync.uri")
        if uri is None or not is_model_ref(ref):
            raise
        report = pull_model(parse_model_ref(ref)[0], uri, store=store)
        try:
            return store.load_model(ref, name)
        except NotFoundError as exc:
            if not report.notes:
                raise
            raise NotFoundError("\n".join([str(exc), str(report)])) from None
