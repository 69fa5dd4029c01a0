"""Serve a rollout bundle: a champion and a challenger behind one endpoint, by a policy.

    python serve.py [--host 127.0.0.1] [--port 8080] [--log-requests FILE.jsonl]

A rollout bundle holds two complete bundles (``champion/``, ``challenger/``), each verified
against its own manifest and loaded through the same trust path as any bundle (``serve.py``'s
``Model``: the loader's allowlist plus ``--trust``), and ``policy.json``:

- ``shadow``: the champion answers; the challenger scores the same rows in a process of its
  own (so it never holds this one's interpreter lock), which logs them itself. The request
  thread copies each request into a shared-memory ring of 16 MiB (no thread is woken in this
  process): when the ring is full the shadow copy is dropped and counted, never waited for.
  The shadow process scores what came in the last 50 ms as one batch: the challenger's
  ``_latency_ms`` is that batch's scoring time;
- ``canary``: a ``share`` of the rows is answered by the challenger, chosen by a hash of the
  ``sticky_key`` column (the same key always lands on the same arm, and raising the share only
  moves keys to the challenger) or, for rows without one, per request at random;
- ``ab``: as canary; the log's ``_share`` lets the report weight each arm by its assignment.

Every answer names its arm (``X-MLOps-Arm`` header, ``arm`` in the body) and its request id
(``X-MLOps-Request-Id``, the client's own ``X-Request-Id`` when it sends a plain one). A
challenger that raises or refuses the rows never breaks the answer: the champion answers
them, and the failure is logged. The request log (``--log-requests``) holds one line per row
and arm scored: the features (answer lines only), ``_request_id``, ``_row``, ``_arm``,
``_mode``, ``_answered``, ``_share``, ``_prediction``, ``_latency_ms`` and ``_error``.

The share changes at runtime with ``POST /admin/share {"share": 0.2}`` and the header
``Authorization: Bearer TOKEN``, where TOKEN is ``$JUPYTER_MLOPS_ROLLOUT_TOKEN`` or the content
of ``--admin-token-file`` (at least 16 characters; without one the endpoint is off).
``GET /rollout`` shows the policy and the counts.

Like ``serve.py``, this module imports only the standard library, the bundle's serving code
(``code/mlops_serve.py``) and the model's libraries.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import itertools
import json
import multiprocessing
import os
import pickle
import queue
import random
import re
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

HERE = Path(__file__).resolve().parent
try:  # imported as jupyter_mlops.bundle.rollout
    from . import serve, trust
except ImportError:  # run as a rollout bundle's serve.py: the bundle carries both in code/
    sys.dont_write_bytecode = True
    sys.path.insert(0, str(HERE / "code"))
    import mlops_serve as serve  # type: ignore[import-not-found,no-redef]
    import mlops_trust as trust  # type: ignore[import-not-found,no-redef]

KIND = "rollout"
ARMS = ("champion", "challenger")
MODES = ("shadow", "canary", "ab")
DEFAULT_SHARE = {"shadow": 1.0, "canary": 0.1, "ab": 0.5}
POLICY_FILE = "policy.json"
REQUIRED = (POLICY_FILE, "champion/MANIFEST.json", "challenger/MANIFEST.json")
TOKEN_VARIABLE = "JUPYTER_MLOPS_ROLLOUT_TOKEN"
MIN_TOKEN_CHARS = 16
MAX_ADMIN_BYTES = 1024
SHADOW_BYTES = 16 * 2**20  # requests the shadow process has yet to score, at most
SHADOW_SECONDS = 0.05  # the shadow process scores what came in this time as one batch
SHADOW_ROWS = 1000  # of at most this many rows
START_SECONDS = 300  # for the shadow process to load the challenger
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


@dataclass
class Policy:
    """How requests are split: ``mode`` (shadow, canary, ab), the challenger's ``share`` of
    rows (canary, ab), the ``sticky_key`` column whose hash assigns a row, and the ``salt``
    mixed into that hash (so two rollouts do not pick the same keys)."""

    mode: str
    share: float
    sticky_key: str | None = None
    salt: str = ""

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown rollout mode {self.mode!r}: use one of {', '.join(MODES)}")
        check_share(self.share)
        if self.sticky_key is not None and not (
                isinstance(self.sticky_key, str) and 0 < len(self.sticky_key) <= 200):
            raise ValueError("the sticky key must be a column name of 1 to 200 characters")

    @classmethod
    def of(cls, mode: str, share: float | None = None, sticky_key: str | None = None,
           salt: str | None = None) -> Policy:
        """A policy with the mode's default share (canary 0.1, ab 0.5) and a fresh salt."""
        if mode not in MODES:
            raise ValueError(f"unknown rollout mode {mode!r}: use one of {', '.join(MODES)}")
        return cls(mode, DEFAULT_SHARE[mode] if share is None else share, sticky_key,
                   uuid.uuid4().hex if salt is None else salt)

    @classmethod
    def from_dict(cls, data: Any) -> Policy:
        """The policy of a ``policy.json`` document; ValueError when it is not one."""
        fields = {"mode", "share", "sticky_key", "salt"}
        if not isinstance(data, dict) or not {"mode", "share"} <= set(data) <= fields:
            raise ValueError(f"{POLICY_FILE} must hold mode and share (and optionally "
                             "sticky_key, salt)")
        return cls(**data)


def check_share(share: Any) -> float:
    """``share`` as a float in [0, 1]; ValueError otherwise."""
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
        raise ValueError(f"the share must be a number from 0 to 1, got {share!r}")
    return float(share)


def bucket(key: str, salt: str = "") -> float:
    """Where ``key`` falls in [0, 1): the first 8 bytes of sha256(salt:key)."""
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign(key: str, share: float, salt: str = "") -> str:
    """The arm that answers ``key``: the challenger below ``share``, else the champion.
    Deterministic, and monotonic in ``share``: a key moves to the challenger only."""
    return ARMS[1] if bucket(key, salt) < share else ARMS[0]


def is_rollout(root: Path) -> bool:
    """Whether ``root`` is a rollout bundle (its manifest says so; verified when loaded)."""
    try:
        manifest = json.loads((root / "MANIFEST.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("kind") == KIND


@dataclass
class Outcome:
    """One arm's scoring of some rows: predictions or an error, and how long it took."""

    predictions: list[Any] | None
    latency_ms: float
    error: str | None = None
    status: int = 200


def score(model: Any, rows: Any, sticky_key: str | None = None) -> Outcome:
    """Score ``rows`` with one arm's model (without the sticky key column when the model does
    not take it); any exception becomes the outcome's error."""
    start = time.perf_counter()
    try:
        if sticky_key is not None and sticky_key in rows.columns and \
                sticky_key not in model.columns:
            rows = rows.drop(columns=[sticky_key])
        frame = model.frame(rows)
        predictions = serve.to_json_list(
            model.predictor(frame.to_numpy() if model.as_array else frame))
        return Outcome(predictions, (time.perf_counter() - start) * 1000)
    except Exception as exc:  # noqa: BLE001 -- an arm must never break the server
        took = (time.perf_counter() - start) * 1000
        if isinstance(exc, serve.RequestError):
            return Outcome(None, took, str(exc), exc.status)
        return Outcome(None, took, f"{type(exc).__name__}: {exc}", 500)


class Feed:
    """A one-way, byte-bounded channel from the server to its shadow process: the request
    thread copies each frame into shared memory itself (no feeder thread to wake, so nothing
    competes with the next request for this interpreter's lock) and never waits: a frame that
    does not fit is refused. The shadow process reads the frames in order, when it looks."""

    def __init__(self, context: Any, capacity: int) -> None:
        self.capacity = capacity
        self.ring: Any = context.RawArray("B", capacity)
        self.ends: Any = context.RawArray("Q", 2)  # bytes written, bytes read (ever)
        self.lock: Any = context.Lock()  # the ends

    def _copy(self, at: int, data: bytes | memoryview) -> None:
        view, start = memoryview(self.ring).cast("B"), at % self.capacity
        first = min(len(data), self.capacity - start)
        view[start:start + first] = data[:first]
        view[:len(data) - first] = data[first:]

    def _read(self, at: int, size: int) -> bytes:
        view, start = memoryview(self.ring).cast("B"), at % self.capacity
        first = min(size, self.capacity - start)
        return bytes(view[start:start + first]) + bytes(view[:size - first])

    def put(self, data: bytes) -> bool:
        """Write one frame; False when the unread frames leave no room for it, or when the
        reader holds the ends for more than 10 ms (as only a reader killed while holding
        them would: then every frame is refused, and the server goes on)."""
        size = 8 + len(data)
        if not self.lock.acquire(timeout=0.01):  # also keeps two writing threads apart
            return False
        try:
            written, read = self.ends
            if written - read + size > self.capacity:
                return False
            self._copy(written, len(data).to_bytes(8, "little") + data)  # unread bytes kept
            self.ends[0] = written + size
        finally:
            self.lock.release()
        return True

    def get(self) -> bytes | None:
        """The next frame, None when there is none (the shadow process's side: it never
        waits for one)."""
        with self.lock:
            written, read = self.ends
        if read == written:
            return None
        size = int.from_bytes(self._read(read, 8), "little")
        data = self._read(read + 8, size)
        with self.lock:
            self.ends[1] = read + 8 + size
        return data


def log_lines(request_id: str, rows: Any, positions: list[int], arm: str, mode: str,
              outcome: Outcome, share: float, *, answered: bool) -> str:
    """The request log's lines of the rows an arm scored: with their features (``rows``, a
    frame) on the answer's lines, without (None) on the others."""
    predictions = outcome.predictions or [None] * len(positions)
    fields = {"_ts": time.time(), "_request_id": request_id, "_arm": arm, "_mode": mode,
              "_answered": answered, "_share": share,
              "_latency_ms": round(outcome.latency_ms, 3), "_error": outcome.error}
    return serve.json_lines(rows if answered else None, fields, [
        {"_row": position, "_prediction": prediction}
        for position, prediction in zip(positions, predictions, strict=True)])


def _shadow_main(root: str, trusted: list[str], trust_code: bool, sticky_key: str | None,
                 log: str | None, feed: Feed, counts: Any, started: Any) -> None:
    """The shadow process: load the challenger, score what arrives, log the outcomes itself
    and count them in ``counts`` (rows, errors: memory shared with the server), so that
    nothing comes back to the server's process; it stops on an empty frame, or when the
    server is gone (killed, it sends none). It wakes every ``SHADOW_SECONDS`` and scores the
    requests that came as one batch (:func:`score_together`), not one request at a time: a
    request wakes nothing, and a batch costs the machine far less than its requests alone.
    It runs at the lowest priority, so that on a busy machine the champion's answers come
    first (a backlog fills the feed, and later rows are dropped, not waited for)."""
    if hasattr(os, "SCHED_IDLE"):  # Linux: runs only on a core nothing else wants
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    elif hasattr(os, "nice"):
        os.nice(10)
    try:
        model = serve.Model(Path(root), trusted=trusted, trust_code=trust_code)
    except Exception as exc:  # noqa: BLE001 -- reported to the server, which stops
        started.put(f"{type(exc).__name__}: {exc}")
        return
    started.put("ready")
    server = multiprocessing.parent_process()
    full = False
    while True:
        if not full:  # woken SHADOW_SECONDS after the last batch, never by a request
            time.sleep(SHADOW_SECONDS)
        requests, stop = _take(feed, SHADOW_ROWS)
        full = sum(len(rows) for _, rows, _ in requests) >= SHADOW_ROWS
        outcomes = score_together(model, [rows for _, rows, _ in requests], sticky_key)
        for (_, rows, _), outcome in zip(requests, outcomes, strict=True):
            counts[0] += len(rows)
            counts[1] += len(rows) if outcome.error else 0
        if log is not None and requests:  # appended only: the server alone rotates the log
            serve.append_lines(Path(log), "".join(
                log_lines(request_id, None, list(range(len(rows))), ARMS[1], "shadow",
                          outcome, share, answered=False)
                for (request_id, rows, share), outcome in zip(requests, outcomes, strict=True)))
        if stop or (not requests and server is not None and not server.is_alive()):
            return  # the server stopped it, or is gone (killed, it sends no stop frame)


def _take(feed: Feed, limit: int) -> tuple[list[tuple[str, Any, float]], bool]:
    """The requests waiting in ``feed`` (id, rows as the server read them, share), until they
    hold ``limit`` rows; and whether the stop frame came."""
    requests: list[tuple[str, Any, float]] = []
    taken = 0
    while taken < limit and (frame := feed.get()) is not None:
        if not frame:
            return requests, True
        request_id, payload, columns, share = pickle.loads(frame)
        rows = serve.frame_from_payload(payload, columns)
        requests.append((request_id, rows, share))
        taken += len(rows)
    return requests, False


def score_together(model: Any, requests: list[Any], sticky_key: str | None = None
                   ) -> list[Outcome]:
    """Each request's outcome (``requests``: their rows), scored as one batch when they have
    the same columns: each gets its rows' predictions, and the batch's scoring time as its
    latency. When the batch fails, each request is scored alone, so that one a model refuses
    fails alone."""
    if len(requests) > 1 and all(list(rows.columns) == list(requests[0].columns)
                                 for rows in requests):
        batch = score(model, pd.concat(requests, ignore_index=True), sticky_key)
        if batch.predictions is not None:
            ends = list(itertools.accumulate(len(rows) for rows in requests))
            return [Outcome(batch.predictions[end - len(rows):end], batch.latency_ms)
                    for rows, end in zip(requests, ends, strict=True)]
    return [score(model, rows, sticky_key) for rows in requests]


class Shadow:
    """The challenger of a shadow rollout in its own process: it scores every answered row off
    the request path and logs its outcomes there."""

    def __init__(self, root: Path, trusted: list[str] | tuple[str, ...], trust_code: bool,
                 sticky_key: str | None, log: Path | None, capacity: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.feed = Feed(context, capacity)
        self.counts: Any = context.RawArray("q", 2)  # rows scored, rows failed
        started: Any = context.Queue()
        self.process = context.Process(target=_shadow_main, name="shadow", daemon=True, args=(
            str(root), list(trusted), trust_code, sticky_key, None if log is None else str(log),
            self.feed, self.counts, started))
        self.process.start()
        try:
            answer = started.get(timeout=START_SECONDS)
        except queue.Empty:
            answer = f"no answer within {START_SECONDS} s"
        if answer != "ready":
            self.process.terminate()
            raise ValueError(f"the shadow process could not load the challenger: {answer}")

    def scored(self) -> dict[str, int]:
        """The rows the challenger scored, and those that failed, so far."""
        return {"rows": self.counts[0], "errors": self.counts[1]}

    def submit(self, item: Any) -> bool:
        """Pass rows to the challenger; False when the feed is full (never waits)."""
        return self.feed.put(pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL))

    def close(self) -> None:
        """Score what is fed, then stop the process."""
        deadline = time.monotonic() + 60
        while self.process.is_alive() and not self.feed.put(b"") and time.monotonic() < deadline:
            time.sleep(0.05)  # the stop frame waits for room
        self.process.join(timeout=max(1.0, deadline - time.monotonic()))
        if self.process.is_alive():
            self.process.terminate()


class Rollout:
    """The two arms, the policy and the log: what the HTTP handlers call."""

    def __init__(self, root: Path = HERE, log: serve.RequestLog | None = None,
                 trusted: list[str] | tuple[str, ...] = (), trust_code: bool = False,
                 shadow_bytes: int = SHADOW_BYTES) -> None:
        self.manifest = serve.verify_manifest(root, REQUIRED)
        if self.manifest.get("kind") != KIND:
            raise serve.IntegrityError(f"{root / 'MANIFEST.json'} is not a rollout bundle's")
        try:
            self.policy = Policy.from_dict(json.loads((root / POLICY_FILE).read_text()))
        except (ValueError, TypeError) as exc:
            raise serve.IntegrityError(f"{root / POLICY_FILE}: {exc}") from None
        shadow = self.policy.mode == "shadow"  # the challenger loads in its own process only
        self.arms = {arm: serve.Model(root / arm, trusted=trusted, trust_code=trust_code)
                     for arm in (ARMS[:1] if shadow else ARMS)}
        self.log = log
        self.lock = threading.Lock()  # the log file and the counters
        self.counts = {arm: {"rows": 0, "errors": 0} for arm in ARMS}
        self.shadow_dropped = 0
        self.on_share: Callable[[dict[str, Any]], None] | None = None
        self.shadow = Shadow(root / ARMS[1], trusted, trust_code, self.policy.sticky_key,
                             None if log is None else log.path, shadow_bytes) if shadow else None
        self.event("start", _share=self.policy.share, _sticky_key=self.policy.sticky_key,
                   _arms=self.models())

    def models(self) -> dict[str, Any]:
        """Each arm's model as its bundle's manifest names it (class, run id, version)."""
        arms = self.manifest.get("arms")
        return {arm: (arms.get(arm) if isinstance(arms, dict) else None) or {} for arm in ARMS}

    def event(self, kind: str, **fields: Any) -> None:
        """Log an event line (``_event``: ``start``, ``share``) among the rows: the rollout's
        own record of how it was served."""
        if self.log is not None:
            with self.lock:
                self.log.append(json.dumps({"_ts": time.time(), "_event": kind,
                                            "_mode": self.policy.mode, **fields}) + "\n")

    def close(self) -> None:
        """Let the shadow process score what is fed, then stop it (its counts are kept)."""
        if self.shadow is not None:
            self.shadow.close()
            with self.lock:
                self.counts[ARMS[1]] = self.shadow.scored()
            self.shadow = None

    def score(self, arm: str, rows: Any) -> Outcome:
        """Score ``rows`` with one arm; any exception becomes the outcome's error."""
        return score(self.arms[arm], rows, self.policy.sticky_key)

    def routes(self, rows: Any) -> list[str]:
        """The arm of each row: by the sticky key's hash when the row has one, else one arm
        for the request's rows without a key, drawn at random (not from the request id,
        which the client chooses)."""
        policy = self.policy
        if policy.mode == "shadow":
            return [ARMS[0]] * len(rows)
        drawn = ARMS[1] if random.random() < policy.share else ARMS[0]
        key = policy.sticky_key
        if key is None or key not in rows.columns:
            return [drawn] * len(rows)
        return [drawn if serve._missing(value) else assign(str(value), policy.share,
                                                           policy.salt)
                for value in rows[key].tolist()]

    def predict(self, payload: Any, request_id: str) -> dict[str, Any]:
        """Answer a request: the predictions, the arm of each row, and the request id.
        :class:`serve.RequestError` when the champion refuses the rows (a client error)."""
        rows = serve.frame_from_payload(payload, self.arms[ARMS[0]].columns)
        share = self.policy.share
        arms = self.routes(rows)
        predictions: list[Any] = [None] * len(rows)
        for arm in ARMS:
            where = [i for i, a in enumerate(arms) if a == arm]
            if not where:
                continue
            part = rows if len(where) == len(rows) else rows.iloc[where]  # a copy: when split
            outcome = self.score(arm, part)
            if outcome.predictions is None and arm == ARMS[1]:  # the champion answers instead
                self._record(request_id, part, where, arm, outcome, share, answered=False)
                for i in where:
                    arms[i] = ARMS[0]
                arm, outcome = ARMS[0], self.score(ARMS[0], part)
            if outcome.predictions is None:
                if outcome.status < 500:
                    raise serve.RequestError(str(outcome.error), outcome.status)
                self._record(request_id, part, where, arm, outcome, share, answered=True)
                raise RuntimeError(f"the {arm} failed: {outcome.error}")
            self._record(request_id, part, where, arm, outcome, share, answered=True)
            for i, value in zip(where, outcome.predictions, strict=True):
                predictions[i] = value
        # the request as it came (a frame costs the answer ~10x more to pickle), rebuilt there
        if self.shadow is not None and not self.shadow.submit(
                (request_id, payload, self.arms[ARMS[0]].columns, share)):
            with self.lock:
                self.shadow_dropped += 1
        answer: dict[str, Any] = {"predictions": predictions, "request_id": request_id,
                                  "arm": arms[0] if len(set(arms)) == 1 else "mixed"}
        if answer["arm"] == "mixed":
            answer["arms"] = arms
        return answer

    def _record(self, request_id: str, rows: Any, positions: list[int], arm: str,
                outcome: Outcome, share: float, *, answered: bool) -> None:
        """Count the rows an arm scored, and log them (features on the answer's lines)."""
        lines = None if self.log is None else log_lines(
            request_id, rows, positions, arm, self.policy.mode, outcome, share, answered=answered)
        with self.lock:
            self.counts[arm]["rows"] += len(positions)
            self.counts[arm]["errors"] += len(positions) if outcome.error else 0
            if self.log is not None and lines is not None:
                self.log.append(lines)

    def state(self) -> dict[str, Any]:
        """The policy (without its salt), the arms' models and what each scored."""
        with self.lock:
            counts = {arm: dict(self.counts[arm]) for arm in ARMS}
        if self.shadow is not None:  # the challenger's rows are counted in its process
            counts[ARMS[1]] = self.shadow.scored()
        return {"policy": {k: v for k, v in asdict(self.policy).items() if k != "salt"},
                "arms": {arm: {"model": model, **counts[arm]}
                         for arm, model in self.models().items()},
                "shadow_dropped": self.shadow_dropped}

    def set_share(self, share: Any, client: str | None = None) -> float:
        """Change the challenger's share at runtime (canary and ab); logged as a ``share``
        event (with the client's address). :attr:`on_share` (``jupyter-mlops serve`` sets it
        to audit the change in the store) runs first: when it raises, nothing changes."""
        share = check_share(share)
        if self.policy.mode == "shadow":
            raise serve.RequestError("a shadow rollout scores every row with both arms: it has "
                                     "no share to change", 409)
        previous = self.policy.share
        if self.on_share is not None:  # audited first: a change it cannot record is not made
            self.on_share({"share": share, "previous": previous, "client": client,
                           "mode": self.policy.mode, "arms": self.models()})
        self.policy.share = share
        self.event("share", _share=share, _previous=previous, _client=client)
        return share


def request_id_of(headers: Any) -> str:
    """The client's ``X-Request-Id`` when it is plain (letters, digits, ``._:-``, at most 64),
    else a new one."""
    given = headers.get("x-request-id") or ""
    return given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def admin_token(path: str | None = None) -> str | None:
    """The admin token: the content of ``path``, else ``$JUPYTER_MLOPS_ROLLOUT_TOKEN``; None
    when neither is set. ValueError for a token shorter than ``MIN_TOKEN_CHARS``."""
    token = Path(path).read_text().strip() if path else os.environ.get(TOKEN_VARIABLE, "")
    if token and len(token) < MIN_TOKEN_CHARS:
        raise ValueError(f"the rollout admin token must have at least {MIN_TOKEN_CHARS} "
                         "characters")
    return token or None


def authorized(header: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``Bearer token`` (constant-time compare)."""
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                              token.encode())


def create_app(rollout: Rollout, token: str | None = None) -> Any:
    """The ASGI application serving ``rollout`` (its admin endpoint guarded by ``token``)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    def error(message: str, status: int) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def state(request: Request) -> JSONResponse:
        return JSONResponse(rollout.state())

    async def score(request: Request) -> JSONResponse:
        request_id = request_id_of(request.headers)
        try:
            body = await serve.read_body(request)
            answer = rollout.predict(
                serve.payload_from_body(body, request.headers.get("content-type", "")),
                request_id)
        except serve.RequestError as exc:
            return error(str(exc), exc.status)
        except (ValueError, TypeError, KeyError, ArithmeticError) as exc:
            return error(f"cannot score this input: {exc}", 422)
        except Exception as exc:  # noqa: BLE001 -- the server must outlive any request
            return error(f"internal error: {type(exc).__name__}: {exc}", 500)
        return JSONResponse(answer, headers={"X-MLOps-Arm": answer["arm"],
                                             "X-MLOps-Request-Id": request_id})

    async def share(request: Request) -> JSONResponse:
        if token is None:
            return error(f"the admin endpoint is off: start the server with {TOKEN_VARIABLE} "
                         "or --admin-token-file", 403)
        if not authorized(request.headers.get("authorization"), token):
            return error("send Authorization: Bearer TOKEN (the rollout's admin token)", 401)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_ADMIN_BYTES:
                return error(f"body larger than {MAX_ADMIN_BYTES} bytes", 413)
        try:
            value = json.loads(body)
            if not isinstance(value, dict) or set(value) != {"share"}:
                raise ValueError('send {"share": NUMBER}')
            changed = rollout.set_share(value["share"],
                                        request.client.host if request.client else None)
        except serve.RequestError as exc:
            return error(str(exc), exc.status)
        except ValueError as exc:
            return error(str(exc), 400)
        except Exception as exc:  # noqa: BLE001 -- the audit hook failed: nothing changed
            return error(f"the share was not changed: it could not be audited: "
                         f"{type(exc).__name__}: {exc}", 503)
        print(f"rollout: challenger share set to {changed}", file=sys.stderr, flush=True)
        return JSONResponse(rollout.state())

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        yield
        rollout.close()

    return Starlette(routes=[
        Route("/health", health), Route("/rollout", state),
        Route("/invocations", score, methods=["POST"]), Route("/predict", score, methods=["POST"]),
        Route("/admin/share", share, methods=["POST"]),
    ], lifespan=lifespan)


def main(argv: list[str] | None = None,
         on_share: Callable[[dict[str, Any]], None] | None = None) -> int:
    """Serve the rollout bundle the options name; ``on_share`` is called with each share
    change before it is made (see :meth:`Rollout.set_share`)."""
    parser = argparse.ArgumentParser(description="Serve this jupyter-mlops rollout bundle.")
    serve.add_server_options(parser, here=HERE, what="rollout directory",
                             logged="each row's arm, predictions, latency and errors")
    parser.add_argument("--admin-token-file", metavar="PATH",
                        help=f"the admin endpoint's token (default: ${TOKEN_VARIABLE})")
    args = parser.parse_args(argv)
    import uvicorn

    try:
        token = admin_token(args.admin_token_file)
        log = serve.RequestLog(Path(args.log_requests), int(args.log_max_mb * 2**20)) \
            if args.log_requests else None
        rollout = Rollout(Path(args.bundle).resolve(), log, trusted=args.trust,
                          trust_code=args.trust_code)
        rollout.on_share = on_share
    except (serve.IntegrityError, trust.ModelRefused, ValueError, OSError) as exc:
        print(f"serve.py: {exc}", file=sys.stderr)
        return 2
    problem = serve.port_problem(args.host, args.port)
    if problem:
        print(f"serve.py: cannot listen on {args.host}:{args.port}: {problem}", file=sys.stderr)
        return 2
    policy = rollout.policy
    print(f"serving the rollout {args.bundle} ({policy.mode}, challenger share {policy.share}) "
          f"on http://{args.host}:{args.port}", flush=True)
    uvicorn.run(create_app(rollout, token), host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
