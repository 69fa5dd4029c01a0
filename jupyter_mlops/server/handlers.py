"""Thin, authenticated REST handlers over the store; the route table is at the bottom.

Every handler parses its parameters, calls the store (or the promotion API) and returns
JSON. Exceptions become HTTP codes in one place, :meth:`MLOpsHandler.write_error`.
The API is described in ``api.yml`` next to this file.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from ..champion import parse_champion
from ..errors import (
    GateError,
    MLOpsError,
    NotFoundError,
    PromotionError,
    StoreError,
)
from ..gates import evaluate_gate
from ..lineage import lineage
from ..promotion import promote, transition
from ..store import Store, open_store
from ..store.listing import count_runs, run_keys, runs_page
from ..store.registry import versions

MAX_LIMIT = 1000
API_PREFIX = "jupyter-mlops/api"


class BadRequest(ValueError):
    """A query parameter or body field is missing or malformed."""


def _status_for(error: BaseException) -> int:
    if isinstance(error, tornado.web.HTTPError):
        return error.status_code
    if isinstance(error, (NotFoundError, LookupError)):
        return 404
    if isinstance(error, PromotionError):
        return 409
    if isinstance(error, StoreError):
        return 503
    if isinstance(error, (BadRequest, GateError, ValueError, MLOpsError)):
        return 400
    return 500


class MLOpsHandler(APIHandler):
    """Base handler: the shared store, parameter parsing, and errors mapped to HTTP codes."""

    @property
    def store(self) -> Store:
        holder = self.settings["jupyter_mlops"]
        return holder.store()

    def int_argument(self, name: str, default: int, *, low: int = 0,
                     high: int | None = None) -> int:
        raw = self.get_argument(name, None)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise BadRequest(f"{name} must be an integer, got {raw!r}") from None
        if value < low or (high is not None and value > high):
            raise BadRequest(f"{name} must be between {low} and {high}, got {value}")
        return value

    def body(self) -> dict[str, Any]:
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError as exc:
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


class ExperimentsHandler(MLOpsHandler):
    @tornado.web.authenticated
    def get(self) -> None:
        rows = self.store.conn.execute(
            "SELECT e.name, count(r.run_id), max(r.started_at) FROM experiments e "
            "LEFT JOIN runs r ON r.experiment_id = e.id GROUP BY e.id ORDER BY e.name"
        ).fetchall()
        self.reply({"experiments": [{"name": n, "runs": c, "last_started_at": last}
                                    for n, c, last in rows]})


class RunsHandler(MLOpsHandler):
    @tornado.web.authenticated
    def get(self) -> None:
        order = self.get_argument("order", "desc")
        if order not in ("asc", "desc"):
            raise BadRequest(f"order must be asc or desc, got {order!r}")
        filters = {"experiment": self.get_argument("experiment", None) or None,
                   "status": self.get_argument("status", None) or None,
                   "search": self.get_argument("q", None) or None}
        limit = self.int_argument("limit", 50, low=1, high=MAX_LIMIT)
        offset = self.int_argument("offset", 0)
        runs = runs_page(self.store.conn, **filters, sort=self.get_argument("sort", "started_at"),
                         descending=order == "desc", limit=limit, offset=offset)
        self.reply({"runs": runs, "total": count_runs(self.store.conn, **filters),
                    "offset": offset, "limit": limit})


class KeysHandler(MLOpsHandler):
    """The metric and param keys of every run the filters match: the column chooser's menu."""

    @tornado.web.authenticated
    def get(self) -> None:
        self.reply(run_keys(self.store.conn,
                            experiment=self.get_argument("experiment", None) or None,
                            status=self.get_argument("status", None) or None,
                            search=self.get_argument("q", None) or None))


class CompareHandler(MLOpsHandler):
    """Runs side by side: params, metrics, curves and parallel coordinates (plotly JSON)."""

    @tornado.web.authenticated
    def get(self) -> None:
        from ..charts import comparison  # plotly loads on the first comparison only

        refs = [ref for ref in self.get_argument("runs", "").split(",") if ref]
        theme = self.get_argument("theme", "light")
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
    @tornado.web.authenticated
    def get(self, run_id: str) -> None:
        self.reply(run_payload(self.store, run_id))


class LineageHandler(MLOpsHandler):
    @tornado.web.authenticated
    def get(self, run_id: str) -> None:
        self.reply(lineage(self.store, run_id).as_dict())


class GateHandler(MLOpsHandler):
    """A gate over a run's metrics, evaluated without promoting: the promote dialog shows its
    conditions while the user types, and after a refusal (the same function decides both)."""

    @tornado.web.authenticated
    def get(self, run_id: str) -> None:
        expression = self.get_argument("expression", "").strip()
        if not expression:
            raise BadRequest("expression is required: a gate such as accuracy>=0.9")
        if parse_champion(expression) is not None:
            raise BadRequest("the champion gate scores both models on evaluation data: it runs "
                             "when the model is promoted")
        self.reply(evaluate_gate(expression, self.store.get_run(run_id).metrics).as_dict())


class MetricHandler(MLOpsHandler):
    @tornado.web.authenticated
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
    def get(self) -> None:
        self.reply({"models": model_payload(self.store)})


class ModelHandler(MLOpsHandler):
    @tornado.web.authenticated
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
    async def post(self, name: str) -> None:
        body = self.body()
        run = body.get("run_id")
        if not isinstance(run, str) or not run:
            raise BadRequest("the body needs run_id: the run whose model to promote")
        version = await _in_worker(
            promote, store_path=self.store.directory, run_or_model=run, name=name,
            stage=body.get("stage") or None, gate=body.get("gate") or None,
            reason=body.get("reason") or None, force=bool(body.get("force", False)),
            verify=body.get("verify"))
        self.reply(dataclasses.asdict(version), 201)


class StageHandler(MLOpsHandler):
    @tornado.web.authenticated
    async def post(self, name: str, version: str) -> None:
        body = self.body()
        stage = body.get("stage")
        if not isinstance(stage, str) or not stage:
            raise BadRequest("the body needs stage: staging, production, archived or an alias")
        moved = await _in_worker(transition, store_path=self.store.directory, name=name,
                                 version=int(version), stage=stage,
                                 reason=body.get("reason") or None)
        self.reply(dataclasses.asdict(moved))


class EventsHandler(MLOpsHandler):
    @tornado.web.authenticated
    def get(self) -> None:
        limit = self.int_argument("limit", 100, low=1, high=MAX_LIMIT)
        events = self.store.events(self.get_argument("subject", None) or None, limit)
        self.reply({"events": [dataclasses.asdict(e) for e in events]})


def _cursor(store: Store) -> str:
    updated, runs = store.conn.execute("SELECT max(updated_at), count(*) FROM runs").fetchone()
    seq = store.conn.execute("SELECT max(seq) FROM events").fetchone()[0]
    return f"{updated or 0!r}:{runs}:{seq or 0}"


class ChangesHandler(MLOpsHandler):
    """A cheap poll: has anything changed since the client's cursor, and which runs."""

    @tornado.web.authenticated
    def get(self) -> None:
        since = self.get_argument("since", "") or ""
        cursor = _cursor(self.store)
        if since and since.count(":") != 2:
            raise BadRequest(f"since must be a cursor returned by this endpoint, got {since!r}")
        if since == cursor:
            self.reply({"cursor": cursor, "changed": False, "runs": [], "events": False})
            return
        updated = float(since.split(":")[0]) if since else 0.0
        seq = int(since.split(":")[2]) if since else 0
        rows = self.store.conn.execute(
            "SELECT run_id FROM runs WHERE updated_at > ? ORDER BY updated_at DESC LIMIT 200",
            [updated]).fetchall()
        events = bool(self.store.conn.execute("SELECT 1 FROM events WHERE seq > ? LIMIT 1",
                                              [seq]).fetchone())
        self.reply({"cursor": cursor, "changed": True, "runs": [r for (r,) in rows],
                    "events": events})


class NotFoundHandler(MLOpsHandler):
    @tornado.web.authenticated
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
        ("events", EventsHandler),
        ("changes", ChangesHandler),
        ("(?P<path>.*)", NotFoundHandler),
    ]
    web_app.add_handlers(".*$", [(url_path_join(base, path), handler)
                                 for path, handler in routes])
