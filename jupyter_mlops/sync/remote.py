"""The MLflow side of a sync: the client (imported on use, with an error naming the extra),
the server's key in the store, batching to ``log_batch``'s limits, and how values map."""

from __future__ import annotations

import functools
import json
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from ..errors import MissingExtraError, MLOpsError, SyncError

T = TypeVar("T")
P = ParamSpec("P")
# log_batch accepts at most 1000 metrics, 100 params and 100 tags, 1000 entities in all
MAX_METRICS, MAX_PARAMS, MAX_TAGS, MAX_ENTITIES = 1000, 100, 100, 1000
MAX_PARAM_VALUE, MAX_TAG_VALUE = 6000, 8000
# our run status -> MLflow's, and back (a kernel that stopped is what MLflow calls KILLED)
STATUS = {"running": "RUNNING", "finished": "FINISHED", "failed": "FAILED",
          "interrupted": "KILLED"}
LOCAL_STATUS = {**{v: k for k, v in STATUS.items()}, "SCHEDULED": "running"}
TAG = "mlops."  # our tags on MLflow runs and model versions
WORKERS = 4  # runs sent or fetched at once (MLflow's client is thread-safe; the server
# overlaps them)

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # shown escaped in a report


@dataclass
class SyncReport:
    """What a push or pull did: counts by kind, and the notes of what it left out."""

    uri: str
    direction: str
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, what: str, n: int = 1) -> None:
        """Count ``n`` more of ``what`` (e.g. ``"runs created"``)."""
        self.counts[what] = self.counts.get(what, 0) + n

    def __str__(self) -> str:
        done = ", ".join(f"{n} {what}" for what, n in self.counts.items() if n) or "nothing new"
        way = "to" if self.direction == "push" else "from"
        # notes quote a server's text: its control characters (terminal escapes) are shown
        return "\n".join(_CONTROL.sub(lambda m: repr(m.group())[1:-1], line) for line in
                         [f"{self.direction} {way} {self.uri}: {done}", *self.notes])


def tracking_uri(uri: str | None) -> str:
    """The server to talk to: ``uri``, else ``$MLFLOW_TRACKING_URI``; a clear error without."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        raise SyncError("no MLflow tracking server given: pass its URI (e.g. "
                        "http://mlflow.example:5000) or set $MLFLOW_TRACKING_URI")
    return uri.rstrip("/")


def client(uri: str, purpose: str) -> Any:
    """An ``MlflowClient`` for ``uri``, after one request checking the server answers (see
    :func:`reachable`); credentials as MLflow reads them (``$MLFLOW_TRACKING_TOKEN``,
    ``$MLFLOW_TRACKING_USERNAME``/``PASSWORD``...)."""
    try:
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise MissingExtraError("mlflow", "mlflow-skinny", purpose) from None
    try:
        mlflow = MlflowClient(tracking_uri=uri, registry_uri=uri)
    except MlflowException as exc:  # a URI MLflow cannot use (a path: its file store)
        raise SyncError(f"cannot use {uri!r} as an MLflow tracking server: "
                        f"{exc.message}") from None
    reachable(mlflow, uri)
    return mlflow


PROBE_TIMEOUT_S = 10.0


def reachable(mlflow: Any, uri: str) -> None:
    """One request to an HTTP server without MLflow's retries (seven, with backoff: four
    minutes before a server that is down raises): a server that cannot be reached, or that
    refuses the credentials, is a :class:`SyncError` at once, before anything is sent."""
    get_creds = getattr(getattr(getattr(mlflow, "_tracking_client", None), "store", None),
                        "get_host_creds", None)
    if not uri.startswith(("http://", "https://")) or get_creds is None:
        return
    from mlflow.utils.rest_utils import http_request

    outer = sys.exc_info()[1]  # one the caller is handling, not this request's: the chain ends
    try:
        response = http_request(get_creds(), "/api/2.0/mlflow/experiments/search", "POST",
                                max_retries=0, timeout=PROBE_TIMEOUT_S, raise_on_status=False,
                                json={"max_results": 1})
    except Exception as exc:
        raise SyncError(f"cannot reach the MLflow tracking server at {uri} "
                        f"({_deepest(exc, outer)}): check the URI and that the server runs; "
                        "nothing was sent") from None
    status = response.status_code
    if status in (401, 403):
        raise SyncError(f"{uri} refused the request (HTTP {status}): set or check "
                        "$MLFLOW_TRACKING_TOKEN, or $MLFLOW_TRACKING_USERNAME and "
                        "$MLFLOW_TRACKING_PASSWORD; nothing was sent")
    if status == 404:
        raise SyncError(f"{uri} answered HTTP 404 to MLflow's API: check that it is an "
                        "MLflow tracking server and the URI's path; nothing was sent")
    if status >= 500:  # MLflow would retry it for minutes
        raise SyncError(f"the MLflow tracking server at {uri} failed (HTTP {status}): try "
                        "again later, or ask who runs it; nothing was sent")


def _cause(exc: BaseException) -> BaseException | None:
    """What ``exc`` was raised from or while handling (MLflow raises without ``from``),
    unless it was raised ``from None``."""
    return exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)


def _deepest(exc: BaseException, outer: BaseException | None = None) -> BaseException:
    """The first cause of ``exc`` (the socket's own reason, at the end of MLflow's chain),
    not going past ``outer``."""
    while (deeper := _cause(exc)) not in (None, outer):
        exc = deeper  # type: ignore[assignment]
    return exc


def _first(exc: BaseException, types: tuple[type[BaseException], ...],
           outer: BaseException | None) -> BaseException | None:
    """The first error of ``types`` in ``exc``'s chain, not past ``outer``."""
    seen: BaseException | None = exc
    while seen is not None and seen is not outer:
        if isinstance(seen, types):
            return seen
        seen = _cause(seen)
    return None


def network_error(exc: BaseException, outer: BaseException | None = None
                  ) -> BaseException | None:
    """The first cause of an error that came from the network (the server stopped
    answering, or timed out), else None; the chain is not followed past ``outer`` (an
    error the caller was handling when it began)."""
    try:
        import requests  # MLflow's HTTP client: an error without it came from elsewhere
    except ImportError:
        return None
    failures = (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                requests.exceptions.RetryError, requests.exceptions.ChunkedEncodingError)
    # not an HTTPError: the server answered (404...)
    return None if _first(exc, failures, outer) is None else _deepest(exc, outer)


def from_the_server(exc: BaseException, outer: BaseException | None = None
                    ) -> BaseException | None:
    """The error in ``exc``'s chain that MLflow's client raised for the server's answer or
    its absence (an HTTP error, an MLflow REST error), else None; not past ``outer``."""
    try:
        import requests
        from mlflow.exceptions import MlflowException
    except ImportError:
        return None
    return _first(exc, (requests.exceptions.RequestException, MlflowException), outer)


def said_when_the_server_stops(what: str) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Decorate ``push``/``pull``: a server that stops answering midway (after MLflow's own
    retries) is a :class:`SyncError` saying so and what to do, not MLflow's traceback. What
    was sent or fetched before is recorded, so the next one goes on from there."""

    def decorate(function: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(function)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            outer = sys.exc_info()[1]  # one the caller handles (load_model's NotFoundError)
            try:
                return function(*args, **kwargs)
            except MLOpsError:
                raise
            except Exception as exc:
                reason = network_error(exc, outer)
                if reason is not None:
                    raise SyncError(f"the MLflow tracking server stopped answering during the "
                                    f"{what} ({reason}); what was done is recorded: {what} "
                                    "again to go on from there") from exc
                refusal = from_the_server(exc, outer)
                if refusal is None:
                    raise
                raise SyncError(f"the MLflow tracking server refused a request of the {what} "
                                f"({str(refusal)[:300]}); what was done before is recorded"
                                ) from exc
        return wrapper

    return decorate


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``items`` in consecutive slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def batches(metrics: Sequence[T], params: Sequence[Any], tags: Sequence[Any]
            ) -> Iterator[tuple[Sequence[T], Sequence[Any], Sequence[Any]]]:
    """``(metrics, params, tags)`` per ``log_batch`` call, each within its limits: params and
    tags go in the first calls, metrics fill the room left."""
    while metrics or params or tags:
        p, params = params[:MAX_PARAMS], params[MAX_PARAMS:]
        t, tags = tags[:MAX_TAGS], tags[MAX_TAGS:]
        room = min(MAX_METRICS, MAX_ENTITIES - len(p) - len(t))
        m, metrics = metrics[:room], metrics[room:]
        yield m, p, t


def param_text(value: Any, limit: int | None = MAX_PARAM_VALUE) -> str:
    """A param as MLflow shows it: strings as they are, anything else as JSON; cut to
    ``limit`` characters (None: whole)."""
    text = value if isinstance(value, str) else json.dumps(value, default=repr)
    return text[:limit]


def tag_text(value: Any) -> str:
    """A tag value within MLflow's limit."""
    return str(value)[:MAX_TAG_VALUE]


def millis(seconds: float) -> int:
    """Epoch seconds as MLflow's epoch milliseconds."""
    return int(round(seconds * 1000))


# what a database says when an insert meets a row a concurrent request inserted first
_UNIQUE_VIOLATION = re.compile(
    r"UNIQUE constraint failed"  # SQLite
    r"|duplicate key value violates unique constraint"  # PostgreSQL
    r"|Duplicate entry .* for key"  # MySQL
    r"|Violation of UNIQUE KEY constraint|Cannot insert duplicate key")  # SQL Server


def is_conflict(exc: Exception) -> bool:
    """Whether an MLflow error says the thing already exists: MLflow's own code for it, or
    the database's unique constraint, which a teammate's request met first."""
    return getattr(exc, "error_code", "") == "RESOURCE_ALREADY_EXISTS" or (
        getattr(exc, "error_code", "") in ("BAD_REQUEST", "INTERNAL_ERROR")
        and bool(_UNIQUE_VIOLATION.search(str(exc))))


def terminate(mlflow: Any, run_id: str, status: str, end_millis: int) -> None:
    """End a run on the server: ``set_terminated`` without what it adds for a notebook user
    (a ``get_run`` per run, to print a link to ``sys.stdout``, which threads cannot share)."""
    from mlflow.entities import RunStatus

    store = getattr(getattr(mlflow, "_tracking_client", None), "store", None)
    if store is None:  # a client without the store it has had since MLflow 1
        mlflow.set_terminated(run_id, status, end_millis)
        return
    store.update_run_info(run_id, RunStatus.from_string(status), end_millis, None)


def artifact_repository(artifact_uri: str, uri: str) -> Any:
    """The artifact store of one run (no ``get_run`` per download, as the client's
    ``download_artifacts`` makes)."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    return get_artifact_repository(artifact_uri, tracking_uri=uri)


def upload(artifact_uri: str, uri: str, folder: Path) -> None:
    """Upload the files under ``folder`` to a run's artifact store (``log_artifacts`` without
    the ``get_run`` the client makes to find that store)."""
    repo = artifact_repository(artifact_uri, uri)
    try:
        repo.log_artifacts(str(folder))
    finally:
        repo.thread_pool.shutdown()


def download(repo: Any, path: str, folder: Path) -> Path:
    """Download the artifact file ``path`` to the same path under ``folder`` as
    ``download_artifacts`` does (its check that the path stays inside ``folder``, then the
    ``_download_file`` every artifact store implements), without the listing it makes first
    to tell a file from a folder."""
    local = repo._create_download_destination(src_artifact_path=path,
                                              dst_local_dir_path=str(folder))
    repo._download_file(remote_file_path=path, local_path=local)
    return Path(local)


def is_missing(exc: Exception) -> bool:
    """Whether an MLflow error says the thing (or the file) does not exist."""
    return isinstance(exc, FileNotFoundError) or \
        getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST" or \
        getattr(getattr(exc, "response", None), "status_code", None) == 404
