"""Thin, authenticated REST handlers over the store; the route table is at the bottom.

Every handler reads its parameters through :class:`MLOpsHandler`, which bounds them all
(lengths, numbers, body size and fields), calls the store (or the promotion API) and returns
JSON. Exceptions become HTTP codes in one place, :meth:`MLOpsHandler.write_error`.
The API is described in ``api.yml`` next to this file.

Who acts is the user the server's ``IdentityProvider`` authenticated (``current_user``):
it is the actor of every change and the one an approval policy judges. Every handler also
asks the server's ``Authorizer`` (jupyter_server's ``@authorized``: action ``read`` for GET,
``write`` for POST, PATCH and DELETE) about one of our resources — :data:`RESOURCE` for the
store and the registry, :data:`APPROVALS` for approving and rejecting — so a deployment's
authorizer can say who may read, tidy, promote or approve.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
from typing import Any

import tornado.web
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from ..errors import (
    GateError,
    MLOpsError,
    NotAllowedError,
    NotFoundError,
    PromotionError,
    RunInUseError,
    StoreError,
)
from ..lifecycle import approvals
from ..lifecycle.champion import parse_champion
from ..lifecycle.gates import MAX_GATE_CHARS, evaluate_gate
from ..lifecycle.promotion import move_version, promote
from ..lifecycle.rollout import parse_rollout
from ..store import Store, open_store
from ..store import approvals as store_approvals
from ..store.lineage import lineage
from ..store.listing import MAX_SEARCH_CHARS, count_runs, run_keys, runs_page
from ..store.registry import MAX_VERSION, versions
from ..store.tidy import MAX_NOTE, MAX_TAGS, check_archived, delete_runs, edit_run

MAX_LIMIT = 1000
MAX_COMPARED = 100  # runs in one comparison
MAX_OFFSET = 10**9
MAX_TEXT = 200  # a name, id, key, filter or stage
MAX_REASON = 2000
MAX_BODY_BYTES = 64 * 1024  # a request body is a few fields
API_PREFIX = "jupyter-mlops/api"
RESOURCE = "mlops"  # runs, models, the registry and the audit log
APPROVALS = "mlops-approvals"  # deciding approval requests


class BadRequest(ValueError):
    """A query parameter or body field is missing or malformed."""


class BodyTooLarge(tornado.web.HTTPError):
    """A request body past :data:`MAX_BODY_BYTES`."""

    def __init__(self) -> None:
        super().__init__(413, f"the request body is larger than {MAX_BODY_BYTES} bytes")


def _status_for(error: BaseException) -> int:
    if isinstance(error, tornado.web.HTTPError):
        return error.status_code
    if isinstance(error, (NotFoundError, LookupError)):
        return 404
    if isinstance(error, NotAllowedError):
        return 403
    if isinstance(error, (PromotionError, RunInUseError)):
        return 409
    if isinstance(error, StoreError):
        return 503
    if isinstance(error, (BadRequest, GateError, ValueError, MLOpsError)):
        return 400
    return 500


@tornado.web.stream_request_body
class MLOpsHandler(APIHandler):
    """Base handler: the shared store, parameter parsing, and errors mapped to HTTP codes.

    Every input is checked here, before a handler sees it: path parts and text parameters
    are at most :data:`MAX_TEXT` characters, numbers are digits within their bounds, and
    the body is streamed and refused (413) past :data:`MAX_BODY_BYTES`.
    """

    auth_resource = RESOURCE
    _chunks: list[bytes]
    _size: int

    async def prepare(self) -> None:  # type: ignore[override]
        self._chunks, self._size = [], 0
        await super().prepare()
        for name, value in self.path_kwargs.items():
            if len(value) > MAX_TEXT:
                raise BadRequest(f"{name} is {len(value)} characters long; at most {MAX_TEXT}")
        declared = self.request.headers.get("Content-Length", "0")
        if not declared.isdigit() or len(declared) > 12 or int(declared) > MAX_BODY_BYTES:
            raise BodyTooLarge()

    def data_received(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size <= MAX_BODY_BYTES:  # past it (chunked): dropped, and refused in body()
            self._chunks.append(chunk)

    @property
    def store(self) -> Store:
        holder = self.settings["jupyter_mlops"]
        return holder.store()

    @property
    def actor(self) -> str:
        """The authenticated user's name: who acts, for the audit log and the policies."""
        return str(self.current_user.username)

    @property
    def actor_groups(self) -> list[str]:
        """The groups the server's identity puts the user in, for policies naming ``@GROUP``:
        a ``groups`` attribute of its user, or JupyterHub's (``hub_user["groups"]``); none
        for jupyter_server's own users."""
        user = self.current_user
        groups = getattr(user, "groups", None)
        if groups is None:
            hub = getattr(user, "hub_user", None)
            groups = hub.get("groups") if isinstance(hub, dict) else None
        if not isinstance(groups, (list, tuple, set, frozenset)):
            return []
        return [g for g in groups if isinstance(g, str) and 0 < len(g) <= 200][:1000]

    def int_argument(self, name: str, default: int, *, low: int = 0,
                     high: int = MAX_OFFSET) -> int:
        """A whole-number query parameter within [low, high]."""
        raw = self.get_argument(name, None)
        if raw is None or raw == "":
            return default
        return bounded_int(name, raw, low, high)

    def text_argument(self, name: str, default: str | None = None, *,
                      max_chars: int = MAX_TEXT) -> str | None:
        """A text query parameter of at most ``max_chars`` characters (empty: ``default``)."""
        raw = self.get_argument(name, None)
        if not raw:
            return default
        return bounded_text(name, raw, max_chars)

    def run_filters(self) -> dict[str, Any]:
        """The filters of a runs listing: experiment, status, q (search) and archived
        (``exclude``, the default, ``include`` or ``only``)."""
        return {"experiment": self.text_argument("experiment"),
                "status": self.text_argument("status"),
                "search": self.text_argument("q", max_chars=MAX_SEARCH_CHARS),
                "archived": check_archived(self.text_argument("archived", "exclude") or "")}

    def body(self) -> dict[str, Any]:
        """The JSON object of the request body (at most :data:`MAX_BODY_BYTES`)."""
        if self._size > MAX_BODY_BYTES:
            raise BodyTooLarge()
        try:
            data = json.loads(b"".join(self._chunks) or b"{}")
        except (ValueError, RecursionError) as exc:
            raise BadRequest(f"the body is not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise BadRequest("the body must be a JSON object")
        return data

    def reply(self, payload: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(payload, default=str))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc_info = kwargs.get("exc_info")
        error = exc_info[1] if exc_info else None
        status = _status_for(error) if error is not None else status_code
        message = (error.log_message if isinstance(error, tornado.web.HTTPError)
                   else str(error)) if error is not None else self._reason
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"message": message or self._reason, "status": status}))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if _status_for(value) >= 500:  # expected 4xx are answers, not server faults
            super().log_exception(typ, value, tb)


def bounded_int(name: str, raw: str, low: int, high: int) -> int:
    """``raw`` as a whole number in [low, high], or :class:`BadRequest` saying so."""
    text = raw.strip()
    digits = text[1:] if text.startswith("-") else text
    if not digits.isdigit() or not digits.isascii():
        raise BadRequest(f"{name} must be an integer, got {raw[:40]!r}")
    if len(digits) > len(str(max(abs(low), abs(high)))) or not low <= int(text) <= high:
        raise BadRequest(f"{name} must be between {low} and {high}, got {raw[:40]}")
    return int(text)


def bounded_text(name: str, value: Any, max_chars: int = MAX_TEXT) -> str:
    """``value`` as text of at most ``max_chars`` characters, or :class:`BadRequest`."""
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a string, got {type(value).__name__}")
    if len(value) > max_chars:
        raise BadRequest(f"{name} is {len(value)} characters long; at most {max_chars}")
    return value


def body_fields(body: dict[str, Any], **kinds: tuple[type, int]) -> dict[str, Any]:
    """The body's fields named in ``kinds`` (``field=(str, max_chars)``, ``(bool, 0)``, or
    ``(dict, max_items)`` / ``(list, max_items)`` of strings of at most :data:`MAX_TEXT`
    characters), checked; absent or null fields are None. Unknown fields are refused."""
    unknown = sorted(set(body) - set(kinds))
    if unknown:
        raise BadRequest(f"unknown field(s) {', '.join(map(repr, unknown))[:200]}; the body "
                         f"takes {', '.join(kinds)}")
    fields: dict[str, Any] = {}
    for name, (kind, max_chars) in kinds.items():
        value = body.get(name)
        if value is None or (kind is str and value == ""):
            fields[name] = None
        elif kind is bool:
            if not isinstance(value, bool):
                raise BadRequest(f"{name} must be true or false, got {str(value)[:40]!r}")
            fields[name] = value
        elif kind in (dict, list):
            fields[name] = _strings(name, value, kind, max_chars)
        else:
            fields[name] = bounded_text(name, value, max_chars)
    return fields


def _strings(name: str, value: Any, kind: type, max_items: int) -> Any:
    """A JSON object of strings to strings, or an array of strings, bounded."""
    if not isinstance(value, (dict, list)) or type(value) is not kind:
        raise BadRequest(f"{name} must be a JSON {'object' if kind is dict else 'array'}, got "
                         f"{type(value).__name__}")
    if len(value) > max_items:
        raise BadRequest(f"{name} has {len(value)} items; at most {max_items}")
    items = [*value, *value.values()] if isinstance(value, dict) else value
    for item in items:
        bounded_text(f"an item of {name}", item)
    return value


class ExperimentsHandler(MLOpsHandler):
    @tornado.web.authenticated
    @authorized
    def get(self) -> None:
        rows = self.store.conn.execute(
            "SELECT e.name, sum(r.run_id IS NOT NULL AND r.archived_at IS NULL), "
            "sum(r.archived_at IS NOT NULL), "
            "max(CASE WHEN r.archived_at IS NULL THEN r.started_at END) FROM experiments e "
            "LEFT JOIN runs r ON r.experiment_id = e.id GROUP BY e.id ORDER BY e.name"
        ).fetchall()
        self.reply({"experiments": [{"name": n, "runs": c, "archived": a,
                                     "last_started_at": last} for n, c, a, last in rows]})


class RunsHandler(MLOpsHandler):
    @tornado.web.authenticated
    @authorized
    def get(self) -> None:
        order = self.text_argument("order", "desc")
        if order not in ("asc", "desc"):
            raise BadRequest(f"order must be asc or desc, got {order!r}")
        filters = self.run_filters()
        limit = self.int_argument("limit", 50, low=1, high=MAX_LIMIT)
        offset = self.int_argument("offset", 0)
        runs = runs_page(self.store.conn, **filters,
                         sort=self.text_argument("sort", "started_at") or "started_at",
                         descending=order == "desc", limit=limit, offset=offset)
        self.reply({"runs": runs, "total": count_runs(self.store.conn, **filters),
                    "offset": offset, "limit": limit})


class KeysHandler(MLOpsHandler):
    """The metric and param keys of every run the filters match: the column chooser's menu."""

    @tornado.web.authenticated
    @authorized
    def get(self) -> None:
        self.reply(run_keys(self.store.conn, **self.run_filters()))


class CompareHandler(MLOpsHandler):
    """Runs side by side: params, metrics, curves and parallel coordinates (plotly JSON)."""

    @tornado.web.authenticated
    @authorized
    def get(self) -> None:
        from ..charts import comparison  # plotly loads on the first comparison only

        refs = [ref for ref in (self.text_argument("runs", "", max_chars=MAX_COMPARED * 40)
                                or "").split(",") if ref]
        if len(refs) > MAX_COMPARED:
            raise BadRequest(f"at most {MAX_COMPARED} runs can be compared, got {len(refs)}")
        theme = self.text_argument("theme", "light")
        if theme not in ("light", "dark"):
            raise BadRequest(f"theme must be light or dark, got {theme!r}")
        self.reply(comparison(self.store, refs, dark=theme == "dark"))


def run_payload(store: Store, run_id: str) -> dict[str, Any]:
    """Everything recorded about a run, as JSON."""
    run = store.get_run(run_id)
    payload = {f.name: getattr(run, f.name) for f in dataclasses.fields(run)
               if not f.name.startswith("_")}
    payload["inputs"] = [dataclasses.asdict(e) for e in run.inputs]
    payload["outputs"] = [dataclasses.asdict(e) for e in run.outputs]
    payload["code_slice"] = [dataclasses.asdict(c) for c in run.code_slice]
    return payload


class RunHandler(MLOpsHandler):
    """A run's detail (GET); tidying it: tags, note, archived (PATCH); deleting it (DELETE)."""

    @tornado.web.authenticated
    @authorized
    def get(self, run_id: str) -> None:
        self.reply(run_payload(self.store, run_id))

    @tornado.web.authenticated
    @authorized
    async def patch(self, run_id: str) -> None:
        raw = self.body()
        body = body_fields(raw, tags=(dict, MAX_TAGS), remove_tags=(list, MAX_TAGS),
                           note=(str, MAX_NOTE), archived=(bool, 0))
        changed = await _in_worker(
            edit_run, store_path=self.store.directory, ref=run_id, set_tags=body["tags"],
            remove_tags=body["remove_tags"] or (),
            note="" if "note" in raw and body["note"] is None else body["note"],
            archived=body["archived"], actor=self.actor)
        self.reply(run_payload(self.store, changed))

    @tornado.web.authenticated
    @authorized
    async def delete(self, run_id: str) -> None:
        deleted = await _in_worker(delete_runs, store_path=self.store.directory, refs=[run_id],
                                   actor=self.actor)
        self.reply({"deleted": deleted})


class LineageHandler(MLOpsHandler):
    @tornado.web.authenticated
    @authorized
    def get(self, run_id: str) -> None:
        self.reply(lineage(self.store, run_id).as_dict())


class GateHandler(MLOpsHandler):
    """A gate over a run's metrics, evaluated without promoting: the promote dialog shows its
    conditions while the user types, and after a refusal (the same function decides both)."""

    @tornado.web.authenticated
    @authorized
    def get(self, run_id: str) -> None:
        expression = (self.text_argument("expression", "", max_chars=MAX_GATE_CHARS)
                      or "").strip()
        if not expression:
            raise BadRequest("expression is required: a gate such as accuracy>=0.9")
        if parse_champion(expression) is not None:
            raise BadRequest("the champion gate scores both models on evaluation data: it runs "
                             "when the model is promoted")
        if parse_rollout(expression) is not None:
            raise BadRequest("the rollout gate reads the served rollout's log and its labels: "
                             "it runs when the model is promoted (jupyter-mlops promote --gate "
                             "rollout --labels FILE)")
        self.reply(evaluate_gate(expression, self.store.get_run(run_id).metrics).as_dict())


class MetricHandler(MLOpsHandler):
    @tornado.web.authenticated
    @authorized
    def get(self, run_id: str, key: str) -> None:
        run_id = self.store.resolve_run_id(run_id)
        points = self.store.metric_history(run_id, key)
        if not points:
            raise NotFoundError(f"run {run_id} logged no metric {key!r}")
        self.reply({"run_id": run_id, "key": key, "points": [
            {"step": p.step, "value": p.value, "timestamp": p.timestamp} for p in points]})


def model_payload(store: Store, name: str | None = None) -> list[dict[str, Any]]:
    """Registered models with their versions (newest first)."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for version in map(dataclasses.asdict, versions(store, name)):
        grouped.setdefault(version["name"], []).append(version)
    return [{"name": n, "versions": v, "latest_version": v[0]["version"]}
            for n, v in grouped.items()]


class ModelsHandler(MLOpsHandler):
    @tornado.web.authenticated
    @authorized
    def get(self) -> None:
        self.reply({"models": model_payload(self.store)})


class ModelHandler(MLOpsHandler):
    @tornado.web.authenticated
    @authorized
    def get(self, name: str) -> None:
        found = model_payload(self.store, name)
        if not found:
            raise NotFoundError(f"no registered model {name!r}")
        self.reply(found[0])


async def _in_worker(function: Any, **kwargs: Any) -> Any:
    """Run a write (promotion may verify a bundle for minutes) off the event loop, on a
    store connection of its own."""

    def work() -> Any:
        with open_store(kwargs.pop("store_path")) as store:
            return function(store=store, **kwargs)

    return await asyncio.get_running_loop().run_in_executor(None, work)


class VersionsHandler(MLOpsHandler):
    @tornado.web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        body = body_fields(self.body(), run_id=(str, MAX_TEXT), stage=(str, MAX_TEXT),
                           gate=(str, MAX_GATE_CHARS), reason=(str, MAX_REASON),
                           force=(bool, 0), verify=(bool, 0))
        if body["run_id"] is None:
            raise BadRequest("the body needs run_id: the run whose model to promote")
        version = await _in_worker(
            promote, store_path=self.store.directory, run_or_model=body["run_id"], name=name,
            stage=body["stage"], gate=body["gate"], reason=body["reason"],
            force=bool(body["force"]), verify=body["verify"], actor=self.actor)
        self.reply(dataclasses.asdict(version), 202 if version.pending else 201)


class StageHandler(MLOpsHandler):
    """Move a version to a stage or alias; production takes promote's checks
    (:func:`~jupyter_mlops.promotion.move_version`), and the answer says which ran."""

    @tornado.web.authenticated
    @authorized
    async def post(self, name: str, version: str) -> None:
        body = body_fields(self.body(), stage=(str, MAX_TEXT), reason=(str, MAX_REASON),
                           gate=(str, MAX_GATE_CHARS), force=(bool, 0), verify=(bool, 0))
        if body["stage"] is None:
            raise BadRequest("the body needs stage: staging, production, archived or an alias")
        moved = await _in_worker(
            move_version, store_path=self.store.directory, name=name,
            version=bounded_int("version", version, 1, MAX_VERSION), stage=body["stage"],
            reason=body["reason"], gate=body["gate"], force=bool(body["force"]),
            verify=body["verify"], actor=self.actor)
        if moved.pending is not None:
            self.reply({**dataclasses.asdict(moved.version),
                        "request": moved.pending.as_dict()}, 202)
            return
        self.reply({**dataclasses.asdict(moved.version),
                    "checks": {"gate": moved.checks.get("gate"),
                               "forced": bool(moved.checks.get("forced")),
                               "verification": moved.checks.get("verification")}})


class ApprovalsHandler(MLOpsHandler):
    """The requests waiting for approval (of one model with ``name``), and the policies.
    Requests past their expiry are closed first: a write, so off the event loop."""

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        name = self.text_argument("name")
        waiting = await _in_worker(approvals.pending, store_path=self.store.directory,
                                   name=name, actor=self.actor)
        stuck = [r for r in approvals.stuck(self.store) if name in (None, r.name)]
        member_of = set(self.actor_groups) | store_approvals.groups_of(self.store, self.actor)
        self.reply({"requests": [{**r.as_dict(), "refusal": r.policy.refusal(
                        self.actor, r.requested_by, member_of)} for r in waiting],
                    "stuck": [r.as_dict() for r in stuck],
                    "policies": [dataclasses.asdict(p) for p in approvals.policies(self.store)],
                    "user": self.actor, "groups": sorted(member_of)})


class DecisionHandler(MLOpsHandler):
    """Approve or reject a request as the authenticated user; an approval that meets the
    policy moves the version (its checks may take minutes: off the event loop)."""

    auth_resource = APPROVALS

    @tornado.web.authenticated
    @authorized
    async def post(self, request: str, decision: str) -> None:
        body = body_fields(self.body(), reason=(str, MAX_REASON))
        decide = approvals.approve if decision == "approve" else approvals.reject
        outcome = await _in_worker(decide, store_path=self.store.directory,
                                   request_id=bounded_int("request", request, 1, MAX_VERSION),
                                   reason=body["reason"], actor=self.actor,
                                   groups=self.actor_groups)
        moved = outcome.move.version if outcome.move else None
        self.reply({"request": outcome.request.as_dict(),
                    "version": dataclasses.asdict(moved) if moved else None})


class EventsHandler(MLOpsHandler):
    @tornado.web.authenticated
    @authorized
    def get(self) -> None:
        limit = self.int_argument("limit", 100, low=1, high=MAX_LIMIT)
        events = self.store.events(self.text_argument("subject"), limit)
        self.reply({"events": [dataclasses.asdict(e) for e in events]})


def _cursor(store: Store) -> str:
    updated, runs = store.conn.execute("SELECT max(updated_at), count(*) FROM runs").fetchone()
    seq = store.conn.execute("SELECT max(seq) FROM events").fetchone()[0]
    return f"{updated or 0!r}:{runs}:{seq or 0}"


def _parse_cursor(since: str) -> tuple[float, int]:
    """(updated_at, event seq) of a cursor ``UPDATED:RUNS:SEQ`` made by :func:`_cursor`."""
    parts = since.split(":")
    try:
        if len(parts) != 3:
            raise ValueError
        updated = float(parts[0])
        if not math.isfinite(updated):
            raise ValueError
        bounded_int("since", parts[1], 0, 2**63 - 1)
        return updated, bounded_int("since", parts[2], 0, 2**63 - 1)
    except ValueError:
        raise BadRequest(f"since must be a cursor returned by this endpoint, got "
                         f"{since[:40]!r}") from None


class ChangesHandler(MLOpsHandler):
    """A cheap poll: has anything changed since the client's cursor, and which runs."""

    @tornado.web.authenticated
    @authorized
    def get(self) -> None:
        since = self.text_argument("since") or ""
        cursor = _cursor(self.store)
        if since == cursor:
            self.reply({"cursor": cursor, "changed": False, "runs": [], "events": False})
            return
        updated, seq = _parse_cursor(since) if since else (0.0, 0)
        rows = self.store.conn.execute(
            "SELECT run_id FROM runs WHERE updated_at > ? ORDER BY updated_at DESC LIMIT 200",
            [updated]).fetchall()
        events = bool(self.store.conn.execute("SELECT 1 FROM events WHERE seq > ? LIMIT 1",
                                              [seq]).fetchone())
        self.reply({"cursor": cursor, "changed": True, "runs": [r for (r,) in rows],
                    "events": events})


class NotFoundHandler(MLOpsHandler):
    @tornado.web.authenticated
    @authorized
    def get(self, path: str) -> None:
        raise tornado.web.HTTPError(404, f"no such endpoint: {path}")


RUN = r"(?P<run_id>[^/]+)"


def setup_handlers(web_app: Any) -> None:
    """Register the REST routes under ``{base_url}jupyter-mlops/api/``."""
    base = url_path_join(web_app.settings["base_url"], API_PREFIX)
    routes = [
        ("experiments", ExperimentsHandler),
        ("runs", RunsHandler),
        ("keys", KeysHandler),
        ("compare", CompareHandler),
        (f"runs/{RUN}", RunHandler),
        (f"runs/{RUN}/lineage", LineageHandler),
        (f"runs/{RUN}/gate", GateHandler),
        (f"runs/{RUN}/metrics/(?P<key>[^/]+)", MetricHandler),
        ("models", ModelsHandler),
        ("models/(?P<name>[^/]+)", ModelHandler),
        ("models/(?P<name>[^/]+)/versions", VersionsHandler),
        (r"models/(?P<name>[^/]+)/versions/(?P<version>\d+)/stage", StageHandler),
        ("approvals", ApprovalsHandler),
        (r"approvals/(?P<request>\d+)/(?P<decision>approve|reject)", DecisionHandler),
        ("events", EventsHandler),
        ("changes", ChangesHandler),
        ("(?P<path>.*)", NotFoundHandler),
    ]
    web_app.add_handlers(".*$", [(url_path_join(base, path), handler)
                                 for path, handler in routes])
