"""Serve the model of this bundle over HTTP.

    python serve.py [--host 127.0.0.1] [--port 8080]

Needs only the packages of the bundle's requirements.txt (not jupyter-mlops). Endpoints:
``GET /health``, ``GET /metadata``, ``POST /invocations`` (MLflow scoring formats:
``dataframe_split``, ``dataframe_records``, ``instances``, ``inputs``) and ``POST /predict``
(the same, or a bare list of records). Answers ``{"predictions": [...]}``. Requests are checked
against schema.json; a bad request gets a 4xx with a JSON message naming the column and the
problem, and never stops the server. The files are checked against MANIFEST.json at start.

What the model may contain is decided here, never by the bundle: the allowlist of
``code/mlops_trust.py`` (exact scikit-learn, numpy and scipy types) plus the names given with
``--trust TYPE``. The manifest's own type list is never used to widen it.

Input limits: a body is read in chunks and refused (413) past ``MAX_BODY_BYTES`` whether or not
it declares a Content-Length; JSON deeper than ``MAX_JSON_DEPTH`` is refused (400) before it
is decoded, and so is an integer outside 64 bits; ``Infinity`` and numbers beyond float
range (``1e400``) are refused (422); ``NaN`` is a missing value like ``null``, refused (422)
where the schema allows none; a request holds at least one row and at most ``MAX_ROWS``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import itertools
import json
import math
import numbers
import os
import socket
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
try:  # imported as jupyter_mlops.bundle.serve
    from . import trust
except ImportError:  # run as the bundle's serve.py: the same module ships as code/mlops_trust.py
    sys.dont_write_bytecode = True  # keep the bundle exactly as its manifest lists it
    sys.path.insert(0, str(HERE / "code"))
    import mlops_trust as trust  # type: ignore[import-not-found,no-redef]
MAX_BODY_BYTES = 20 * 1024 * 1024
MAX_ROWS = 100_000
MAX_JSON_DEPTH = 32  # a scoring payload needs 4 levels; Python's decoder recurses per level
INT64 = 2**63
NOT_JSON_MARKS = bytes(sorted(set(range(256)) - set(b'"[]{}')))  # json_depth drops them
LOG_MAX_BYTES = 50 * 1024 * 1024
LOG_KEEP = 5


class RequestError(Exception):
    """A request the model cannot score; becomes an HTTP 4xx."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class IntegrityError(Exception):
    """A bundle file is missing or differs from what MANIFEST.json recorded."""


REQUIRED_FILES = ("schema.json",)  # and one model file: trust.MODEL_FILES


def _bundle_files(root: Path) -> list[str]:
    """Every file under ``root`` (posix paths), except MANIFEST.json and Python's own bytecode
    caches (written when this bundle's code is imported); a symlink is refused."""
    found = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_symlink():
            raise IntegrityError(f"{path} is a symbolic link: a bundle holds only its own files")
        if path.is_dir() or relative == "MANIFEST.json" or (
                path.parent.name == "__pycache__" and path.suffix == ".pyc"):
            continue
        found.append(relative)
    return found


def _inside(root: Path, name: str) -> Path:
    """The listed file ``name`` under ``root``; IntegrityError if it could point elsewhere."""
    parts = name.split("/")
    if not name or name.startswith("/") or "\\" in name or ":" in name or any(
            part in ("", ".", "..") for part in parts):
        raise IntegrityError(f"{root / 'MANIFEST.json'} lists {name!r}, a path outside the "
                             "bundle: refused")
    return root.joinpath(*parts)


def verify_manifest(root: Path, required: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The manifest, after checking that it lists exactly the bundle's files (``required``
    among them; by default a model bundle's: ``REQUIRED_FILES`` and one model file), each
    inside the bundle and with the recorded sha256."""
    where = root / "MANIFEST.json"
    try:
        manifest = json.loads(where.read_text())
    except (OSError, ValueError) as exc:
        raise IntegrityError(f"{root} has no readable MANIFEST.json ({exc}): is it a bundle?"
                             ) from None
    listed = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(listed, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in listed.items()):
        raise IntegrityError(f"{where} has no file list (\"files\": {{name: sha256}}): the "
                             "bundle cannot be checked; export it again")
    missing = [] if required is not None or any(name in listed for name in trust.MODEL_FILES) \
        else [" or ".join(trust.MODEL_FILES)]
    missing += [name for name in required or REQUIRED_FILES if name not in listed]
    if missing:
        raise IntegrityError(f"{where} does not list {', '.join(missing)}: the bundle cannot "
                             "be checked; export it again")
    unlisted = sorted(set(_bundle_files(root)) - set(listed))
    if unlisted:
        raise IntegrityError(f"{root / unlisted[0]} is not listed in MANIFEST.json: a bundle "
                             "holds only the files it lists; remove it or export again")
    for name, expected in listed.items():
        path = _inside(root, name)
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            raise IntegrityError(f"{path} is missing: the bundle is incomplete") from None
        if digest != expected:
            raise IntegrityError(f"{path} does not match MANIFEST.json: the bundle was "
                                 "changed after export; export it again")
    return manifest


def load_model(root: Path, trusted: list[str] | tuple[str, ...] = (),
               trust_code: bool = False) -> Any:
    """The model, audited against the loader's allowlist plus ``trusted`` (exact names)
    before anything is built; the bundle's notebook functions run only with ``trust_code``.
    :class:`trust.ModelRefused` otherwise."""
    local = trust.load_code(root, trust_code)
    name = trust.model_file(path.name for path in root.iterdir())
    return trust.load_file(root / name, [*trusted, *local])


NO_ROWS = "the request holds no rows to score: send at least one"


def frame_from_payload(payload: Any, columns: list[str]) -> pd.DataFrame:
    """A DataFrame from any of MLflow's scoring formats (or a bare list of records), with at
    least one row."""
    frame = _frame_from_payload(payload, columns)
    if len(frame) == 0:
        raise RequestError(NO_ROWS, 422)
    _refuse_unscorable_numbers(frame)
    return frame


def _frame_from_payload(payload: Any, columns: list[str]) -> pd.DataFrame:
    if isinstance(payload, dict):
        if "dataframe_split" in payload:
            split = payload["dataframe_split"]
            if not isinstance(split, dict) or "data" not in split:
                raise RequestError("dataframe_split needs {\"columns\": [...], \"data\": [[...]]}")
            return pd.DataFrame(split["data"], columns=split.get("columns") or columns)
        if "dataframe_records" in payload:
            return _records(payload["dataframe_records"], columns)
        for key in ("instances", "inputs"):
            if key in payload:
                value = payload[key]
                if isinstance(value, dict):  # columnar: {"col": [values...]}
                    return pd.DataFrame({k: v if isinstance(v, list) else [v]
                                         for k, v in value.items()})
                return _records(value, columns)
        raise RequestError("the body must hold one of dataframe_split, dataframe_records, "
                           "instances or inputs")
    return _records(payload, columns)


def payload_from_body(body: bytes, content_type: str) -> Any:
    """The scoring payload of a request: JSON (MLflow's formats), or CSV with a header row
    when sent as ``text/csv``, as MLflow's scoring server also accepts."""
    if content_type.split(";")[0].strip().lower() == "text/csv":
        try:
            frame = pd.read_csv(io.BytesIO(body))
        except (ValueError, pd.errors.ParserError) as exc:
            raise RequestError(f"the body is not readable CSV ({exc})") from None
        return {"dataframe_split": frame.to_dict(orient="split", index=False)}
    # a body with no more opening brackets than MAX_JSON_DEPTH cannot nest deeper: not counted
    if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH:
        depth = json_depth(body)
        if depth > MAX_JSON_DEPTH:
            raise RequestError(f"the JSON body is nested {depth} or more levels deep; a "
                               f"scoring payload needs a few and at most {MAX_JSON_DEPTH} are "
                               "read")
    try:
        return json.loads(body, parse_constant=_refuse_infinity)
    except (ValueError, RecursionError) as exc:  # RecursionError: depth counted too low
        if "integer string conversion" in str(exc):
            raise RequestError("the body holds an integer of more than 4300 digits: numbers "
                               "must fit in 64 bits") from None
        raise RequestError(f"the body is not valid JSON ({exc}); CSV with a header row is "
                           "accepted with Content-Type: text/csv") from None


async def read_body(request: Any) -> bytes:
    """The body of a Starlette request, streamed: refused (413) as soon as it passes
    ``MAX_BODY_BYTES``, so a chunked body without Content-Length is never held whole."""
    too_large = RequestError(f"body larger than {MAX_BODY_BYTES} bytes", 413)
    declared = (request.headers.get("content-length") or "0").strip()
    if not declared.isdigit():
        raise RequestError(f"Content-Length must be a number of bytes, got {declared[:40]!r}")
    if len(declared) > 12 or int(declared) > MAX_BODY_BYTES:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def json_depth(body: bytes, block: int = 1 << 20) -> int:
    """How deeply a JSON text nests arrays and objects (brackets inside strings ignored),
    counted with numpy a block at a time; stops counting once past ``MAX_JSON_DEPTH``. Only
    the quotes and brackets are kept to be counted."""
    if b"\\" in body:  # escaped backslashes, then escaped quotes, cannot open or close a string
        body = body.replace(b"\\\\", b"__").replace(b'\\"', b"__")
    text = np.frombuffer(body.translate(None, NOT_JSON_MARKS), dtype=np.uint8)
    deepest = depth = quotes = 0
    for start in range(0, len(text), block):
        part = text[start:start + block]
        quote = part == ord('"')
        outside = (quotes + np.cumsum(quote, dtype=np.int32)) % 2 == 0
        opens = outside & ((part == ord("[")) | (part == ord("{")))
        closes = outside & ((part == ord("]")) | (part == ord("}")))
        levels = depth + np.cumsum(opens.astype(np.int32) - closes, dtype=np.int32)
        if len(levels):
            deepest, depth = max(deepest, int(levels.max())), int(levels[-1])
        quotes += int(quote.sum())
        if deepest > MAX_JSON_DEPTH:
            break
    return deepest


def _refuse_infinity(name: str) -> float:
    """``NaN`` is a missing value, as ``null`` (the schema says whether one is allowed);
    ``Infinity`` and ``-Infinity`` cannot be scored."""
    if name == "NaN":
        return math.nan
    raise RequestError(f"{name} cannot be scored: send finite numbers, and null for a missing "
                       "value", 422)


def _refuse_unscorable_numbers(frame: pd.DataFrame) -> None:
    """422 for an infinite number (``1e400`` in JSON, ``inf`` in CSV), 400 for an integer
    outside 64 bits, naming the column. Float columns are checked in one pass over their
    block; only object columns are read value by value."""
    dtypes = frame.dtypes.tolist()
    if not all(isinstance(d, np.dtype) and d.kind in "fiubOM" or isinstance(d, pd.StringDtype)
               for d in dtypes):  # other numbers (complex, timedelta, nullable): per column
        numbers = frame.select_dtypes("number")
        infinite = [str(c) for c in numbers.columns
                    if np.isinf(numbers[c].to_numpy(float)).any()]
    else:  # only float columns can hold an infinity
        floats = [i for i, d in enumerate(dtypes) if d.kind == "f"]
        block = _float_block(frame, floats)
        infinite = [str(frame.columns[i]) for i, inf in zip(
            floats, np.isinf(block).any(axis=0), strict=True) if inf]
    if infinite:
        raise RequestError(f"column(s) {', '.join(infinite)} hold a number beyond the range of "
                           "a 64-bit float: send finite numbers, and null for a missing value",
                           422)
    objects = [i for i, d in enumerate(dtypes) if isinstance(d, np.dtype) and d.kind == "O"]
    for position in objects:
        for value in frame.iloc[:, position].to_numpy():
            if isinstance(value, int) and not -INT64 <= value < 2 * INT64:
                raise RequestError(f"column {str(frame.columns[position])!r}: an integer of "
                                   f"{len(str(abs(value)))} digits does not fit in 64 bits")


def _float_block(frame: pd.DataFrame, positions: list[int]) -> np.ndarray:
    """The float64 array of the frame's columns at ``positions`` (all of them: no copy of a
    selection first)."""
    part = frame if len(positions) == frame.shape[1] else frame.iloc[:, positions]
    return part.to_numpy(np.float64)


def _records(rows: Any, columns: list[str]) -> pd.DataFrame:
    if not isinstance(rows, list):
        raise RequestError("expected a list of rows")
    if not rows:
        raise RequestError(NO_ROWS, 422)
    if all(isinstance(row, dict) for row in rows):
        floats = _float_records(rows)
        return pd.DataFrame.from_records(rows) if floats is None else floats
    if all(isinstance(row, list) for row in rows):
        if any(len(row) != len(columns) for row in rows):
            raise RequestError(f"each row needs {len(columns)} values, in the order "
                               f"{', '.join(columns)}")
        return pd.DataFrame(rows, columns=columns)
    raise RequestError("rows must all be objects (column: value) or all be lists")


def _float_records(rows: list[dict[str, Any]]) -> pd.DataFrame | None:
    """The frame ``pd.DataFrame.from_records(rows)`` gives (float64 columns in the keys'
    order), built from one array when every row has the same keys in the same order and every
    value is a float, as a numeric model's requests are; None for any other rows."""
    keys = list(rows[0])
    if not keys or any(list(row) != keys for row in rows):
        return None
    values = [list(row.values()) for row in rows]
    if set(map(type, itertools.chain.from_iterable(values))) != {float}:
        return None
    return pd.DataFrame(np.array(values, dtype=np.float64), columns=keys)


def _missing(value: Any) -> bool:
    """None, NaN, pandas' NA or NaT."""
    return value is None or value is pd.NA or value is pd.NaT or (
        isinstance(value, (float, np.floating)) and math.isnan(value))


def _check_value(column: dict[str, Any], value: Any) -> str | None:
    """Why one value does not fit its column, or None."""
    kind = column["kind"]
    if _missing(value):
        return None if column.get("nullable", True) else "must not be missing"
    if not column.get("used", True):
        return None  # the model drops this column: any value will do
    if kind in ("number", "integer"):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            return f"must be a number, got {type(value).__name__} {value!r}"
        if kind == "integer" and not float(value).is_integer():
            return f"must be a whole number, got {value!r}"
    elif kind == "boolean":
        if not isinstance(value, (bool, np.bool_)):
            return f"must be true or false, got {value!r}"
    elif kind == "datetime":
        try:
            pd.Timestamp(value)
        except (ValueError, TypeError):
            return f"must be a date and time (ISO 8601 text), got {value!r}"
    elif kind in ("category", "string"):
        if not isinstance(value, str):
            return f"must be a string, got {type(value).__name__} {value!r}"
        known = column.get("categories")
        if kind == "category" and column.get("unknown", "error") == "error" and known \
                and value not in known:
            return f"unseen category {value!r} (known: {', '.join(map(str, known[:20]))})"
    return None


def validate(frame: pd.DataFrame, schema: dict[str, Any]) -> pd.DataFrame:
    """The frame with the schema's columns in order and dtypes; RequestError otherwise.

    The dtypes are read once: numeric columns are checked in one pass over their block, and a
    column already of its fitted dtype is not converted."""
    columns = schema["columns"]
    expected = [c["name"] for c in columns]
    dropped = {c["name"]: None for c in columns  # dropped by the model
               if not c.get("used", True) and c["name"] not in frame.columns}
    if dropped:
        frame = frame.assign(**dropped)
    missing = [c for c in expected if c not in frame.columns]
    unknown = [str(c) for c in frame.columns if c not in expected]
    if missing:
        raise RequestError(f"missing column(s): {', '.join(missing)}", 422)
    if unknown:
        raise RequestError(f"unknown column(s): {', '.join(unknown)}; the model takes "
                           f"{', '.join(expected)}", 422)
    if len(frame) > MAX_ROWS:
        raise RequestError(f"at most {MAX_ROWS} rows per request", 413)
    if frame.columns.has_duplicates:
        twice = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
        raise RequestError(f"column(s) {', '.join(twice)} given more than once: send each "
                           "column once", 422)
    if frame.columns.tolist() != expected:
        frame = frame[expected]
    dtypes = frame.dtypes.tolist()
    fits = _numbers_fit(frame, columns, dtypes)
    for position, column in enumerate(columns):
        if fits.get(position) or (position not in fits and _column_ok(
                column, frame[column["name"]])):
            continue
        for row, value in enumerate(frame[column["name"]].tolist()):
            problem = _check_value(column, value)
            if problem:
                raise RequestError(f"column {column['name']!r}, row {row}: {problem}", 422)
    converted = {}
    names = {dtype: str(dtype) for dtype in set(dtypes)}
    for column, current in zip(columns, dtypes, strict=True):
        if column["dtype"] != "category" and column.get("missing") != "None" and \
                names[current] == column["dtype"]:
            continue  # already the dtype the model was fitted on
        values = frame[column["name"]]
        dtype = _dtype_of(column, values)
        if str(values.dtype) != str(dtype) or isinstance(dtype, pd.CategoricalDtype) or (
                column.get("missing") == "None" and values.isna().any()):
            converted[column["name"]] = _convert(values, dtype, column)
    return frame.assign(**converted) if converted else frame


def _numbers_fit(frame: pd.DataFrame, columns: list[dict[str, Any]],
                 dtypes: list[Any]) -> dict[int, bool]:
    """Whether each number or integer column held as numpy floats or integers fits (what
    :func:`_column_ok` says), by position, checked in one pass over the float columns' block;
    the other columns are not in the answer."""
    fits: dict[int, bool] = {}
    floats = []
    for position, (column, dtype) in enumerate(zip(columns, dtypes, strict=True)):
        if column["kind"] in ("number", "integer") and isinstance(dtype, np.dtype):
            if dtype.kind in "iu":  # no missing value, and whole numbers
                fits[position] = True
            elif dtype.kind == "f":
                floats.append(position)
    if not floats:
        return fits
    block = _float_block(frame, floats)
    missing = np.isnan(block)
    with np.errstate(invalid="ignore"):  # an infinity is not whole: inf % 1 is NaN
        whole = ((np.where(missing, 0.0, block) % 1) == 0).all(axis=0)
    for index, position in enumerate(floats):
        column = columns[position]
        fits[position] = (column.get("nullable", True) or not missing[:, index].any()) and (
            not column.get("used", True) or column["kind"] == "number" or bool(whole[index]))
    return fits


def _dtype_of(column: dict[str, Any], values: pd.Series) -> Any:
    """The dtype the model was fitted on: category dtypes with their categories in the
    training order (unseen values that the model accepts appended after them)."""
    if column["dtype"] != "category":
        return column["dtype"]
    known = list(column.get("dtype_categories") or column.get("categories") or [])
    seen = set(known)
    extra = [v for v in pd.unique(values.dropna().astype(object)) if v not in seen]
    return pd.CategoricalDtype(known + sorted(extra, key=str), ordered=bool(
        column.get("ordered")))


def _convert(values: pd.Series, dtype: Any, column: dict[str, Any]) -> pd.Series:
    if isinstance(dtype, pd.CategoricalDtype) and isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object)  # re-code by value, not by the request's own codes
    try:
        if column["kind"] == "datetime" and not pd.api.types.is_datetime64_any_dtype(values):
            values = pd.to_datetime(values.astype(object))
        if column.get("missing") == "None":  # as in training: None, not NaN
            return values.astype(object).where(values.notna(), None)
        return values.astype(dtype)
    except (ValueError, TypeError) as exc:
        raise RequestError(f"column {column['name']!r}: cannot convert to {dtype} ({exc})",
                           422) from None


def _column_ok(column: dict[str, Any], values: pd.Series) -> bool:
    """Whether a whole column fits, checked vectorised (False: look value by value)."""
    if not column.get("nullable", True) and values.isna().any():
        return False
    kind = column["kind"]
    if not column.get("used", True):
        return True
    if kind in ("number", "integer"):
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            return False
        return kind == "number" or pd.api.types.is_integer_dtype(values) or bool(
            (values.dropna() % 1 == 0).all())
    if kind == "boolean":
        return pd.api.types.is_bool_dtype(values)
    if kind == "datetime":
        return pd.api.types.is_datetime64_any_dtype(values)
    if kind in ("category", "string"):
        present = values.dropna()
        if not isinstance(values.dtype, pd.StringDtype) and not present.map(  # str: all text
                lambda v: isinstance(v, str)).all():
            return False
        known = column.get("categories")
        return kind == "string" or column.get("unknown", "error") != "error" or not known \
            or bool(present.isin(known).all())
    return False


def forest_predictor(model: Any) -> Any:
    """An exact, faster ``predict`` for scikit-learn forests (alone or ending a Pipeline).

    ``forest.predict`` pays ~0.3 ms of Python per tree per call, which dominates single-row
    latency; summing the trees' compiled ``tree_.predict`` in the same order gives the same
    numbers without it. Returns None for any other model.
    """
    steps = getattr(model, "steps", None)
    final = steps[-1][1] if steps else model
    trees = getattr(final, "estimators_", None)
    if not isinstance(trees, list) or not trees or getattr(final, "n_outputs_", 1) != 1 or \
            not all(hasattr(tree, "tree_") for tree in trees):
        return None
    head = model[:-1] if steps else None
    classes: Any = getattr(final, "classes_", None)
    width = len(classes) if classes is not None else None

    def predict(features: Any) -> Any:
        X = head.transform(features) if head is not None else features
        if hasattr(X, "tocsr"):
            X = X.tocsr().astype(np.float32)
        else:
            X = np.ascontiguousarray(np.asarray(X, dtype=np.float32))
        total = np.zeros((X.shape[0], width) if width else X.shape[0], dtype=np.float64)
        for tree in trees:
            values = tree.tree_.predict(X)
            total += values[:, :width] if width else values[:, 0]
        total /= len(trees)
        return classes.take(np.argmax(total, axis=1), axis=0) if width else total

    return predict


def to_json_list(values: Any) -> list[Any]:
    """Predictions as plain JSON values."""
    return np.asarray(values).tolist()


def _is_request_log(path: Path) -> bool:
    """Whether ``path`` is absent, empty, or a request log (its first line has our fields)."""
    if not path.exists():
        return True
    if not path.is_file() or path.is_symlink():
        return False
    with path.open("rb") as handle:
        first = handle.readline(1 << 20)
    if not first.strip():
        return True
    try:
        row = json.loads(first)
    except ValueError:
        return False
    return isinstance(row, dict) and "_ts" in row and bool({"_prediction", "_error", "_event"}
                                                           & set(row))


class RequestLog:
    """Scored rows appended as JSON lines (features, ``_ts``, ``_prediction``, and the
    request's ``_request_id`` and ``_latency_ms``), a line per failed request (``_error``,
    HTTP ``_status``), rotated: past ``max_bytes`` the file moves to ``.1`` (then
    ``.2``...; ``keep`` are kept)."""

    def __init__(self, path: Path, max_bytes: int = LOG_MAX_BYTES, keep: int = LOG_KEEP) -> None:
        self.path, self.max_bytes, self.keep = path, max_bytes, keep
        for place in [path, *(path.with_name(f"{path.name}.{i}") for i in range(1, keep + 1))]:
            if not _is_request_log(place):
                raise ValueError(f"{place} exists and is not a request log of ours: it was left "
                                 "untouched (the log appends to and rotates these files); give "
                                 "another --log-requests path")
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def _rotate(self) -> None:
        for index in range(self.keep - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{index}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{index + 1}"))
        self.path.replace(self.path.with_name(f"{self.path.name}.1"))

    def write(self, frame: pd.DataFrame, predictions: list[Any], request: dict[str, Any] | None
              = None) -> None:
        """Log scored rows; ``request``: fields of the request every line carries."""
        self.append(json_lines(frame, {"_ts": time.time(), **(request or {})},
                               [{"_prediction": prediction} for prediction in predictions]))

    def failure(self, request_id: str, latency_ms: float, error: str, status: int) -> None:
        """Log a request that was not answered: why, and its HTTP status."""
        self.append(json.dumps({"_ts": time.time(), "_request_id": request_id,
                                "_latency_ms": round(latency_ms, 3), "_error": error[:1000],
                                "_status": status}) + "\n")

    def append(self, lines: str) -> None:
        """Append JSON lines, rotating first when they would pass ``max_bytes``."""
        if self.path.exists() and self.path.stat().st_size + len(lines) > self.max_bytes:
            self._rotate()
        append_lines(self.path, lines)


def json_lines(frame: pd.DataFrame | None, fields: dict[str, Any],
               rows: list[dict[str, Any]]) -> str:
    """A JSON line per row: its features as the line pandas writes for the frame's row (dates
    in ISO 8601, a missing value as null; none without a frame), then ``fields``, then the
    row's own fields ``rows[i]``."""
    def inner(document: str) -> str:  # an object's members, without its braces
        return document.strip()[1:-1]

    features = [""] * len(rows) if frame is None or frame.columns.empty else [
        inner(line) for line in frame.to_json(orient="records", date_format="iso",
                                              lines=True).split("\n") if line]
    common = inner(json.dumps(fields, separators=(",", ":")))
    return "".join("{" + ",".join(part for part in (feature, common, inner(json.dumps(
        own, separators=(",", ":")))) if part) + "}\n"
                   for feature, own in zip(features, rows, strict=True))


def append_lines(path: Path, lines: str) -> None:
    """Append ``lines`` to ``path`` in one write, so that the lines of another process
    appending to the same file (a shadow rollout's challenger) never cut into them."""
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        data = lines.encode()
        while data:  # a regular file takes all at once (short only when the disk is full)
            data = data[os.write(descriptor, data):]
    finally:
        os.close(descriptor)


class Model:
    """The bundle's model with its schema: what the HTTP handlers call."""

    def __init__(self, root: Path = HERE, log: RequestLog | None = None,
                 manifest: dict[str, Any] | None = None,
                 trusted: list[str] | tuple[str, ...] = (), trust_code: bool = False) -> None:
        self.log = log
        self.manifest = manifest or verify_manifest(root)  # given: already verified
        self.schema = json.loads((root / "schema.json").read_text())
        self.model = load_model(root, trusted, trust_code)
        self.columns = [c["name"] for c in self.schema["columns"]]
        self.as_array = not self.schema.get("feature_names", True)
        self.predictor = trust.registry.predictor(self.model)
        fast = forest_predictor(self.model)
        if fast is not None:  # only when it gives exactly the model's answers
            example = json.loads((root / "input_example.json").read_text())
            features = self.features({"dataframe_split": example})
            if np.array_equal(fast(features), self.model.predict(features)):
                self.predictor = fast

    def frame(self, payload: Any) -> pd.DataFrame:
        """The validated rows of a request payload, or of a DataFrame as it is (MLflow's
        pyfunc and ``load_bundle`` pass frames: their dtypes are kept)."""
        rows = payload if isinstance(payload, pd.DataFrame) else frame_from_payload(
            payload, self.columns)
        return validate(rows, self.schema)

    def features(self, payload: Any) -> Any:
        """The validated model input for a request payload."""
        frame = self.frame(payload)
        return frame.to_numpy() if self.as_array else frame

    def predict(self, payload: Any) -> dict[str, Any]:
        """The predictions of a request; logged (with its latency, or its failure) when the
        server keeps a request log."""
        start = time.perf_counter()
        try:
            frame = self.frame(payload)
            predictions = to_json_list(
                self.predictor(frame.to_numpy() if self.as_array else frame))
        except Exception as exc:
            if self.log is not None:
                self.log.failure(uuid.uuid4().hex, (time.perf_counter() - start) * 1000,
                                 f"{type(exc).__name__}: {exc}", status_of(exc))
            raise
        if self.log is not None:
            self.log.write(frame, predictions, {
                "_request_id": uuid.uuid4().hex,
                "_latency_ms": round((time.perf_counter() - start) * 1000, 3)})
        return {"predictions": predictions}


def status_of(exc: BaseException) -> int:
    """The HTTP status a failed request is answered with (as :func:`create_app` answers)."""
    if isinstance(exc, RequestError):
        return exc.status
    return 422 if isinstance(exc, (ValueError, TypeError, KeyError, ArithmeticError)) else 500


def create_app(root: Path = HERE, log: RequestLog | None = None,
               trusted: list[str] | tuple[str, ...] = (), trust_code: bool = False,
               model: Model | None = None) -> Any:
    """The ASGI application serving the bundle in ``root`` (logging requests to ``log``),
    loading its model with the allowlist plus ``trusted`` (or serving ``model``, loaded)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    model = model or Model(root, log, trusted=trusted, trust_code=trust_code)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def metadata(request: Request) -> JSONResponse:
        return JSONResponse({"model": model.manifest.get("model", {}),
                             "schema": model.schema,
                             "format_version": model.manifest.get("format_version")})

    async def score(request: Request) -> JSONResponse:
        try:
            body = await read_body(request)
            return JSONResponse(model.predict(
                payload_from_body(body, request.headers.get("content-type", ""))))
        except RequestError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except (ValueError, TypeError, KeyError, ArithmeticError) as exc:
            return JSONResponse({"error": f"cannot score this input: {exc}"}, status_code=422)
        except Exception as exc:  # the server must outlive any single request
            return JSONResponse({"error": f"internal error: {type(exc).__name__}: {exc}"},
                                status_code=500)

    return Starlette(routes=[
        Route("/health", health), Route("/metadata", metadata),
        Route("/invocations", score, methods=["POST"]), Route("/predict", score, methods=["POST"]),
    ])


def port_problem(host: str, port: int) -> str | None:
    """Why the server could not listen there (port in use, unknown host), or None."""
    try:
        with socket.create_server((host, port), reuse_port=False):
            return None
    except OSError as exc:
        return exc.strerror or str(exc)


def add_server_options(parser: argparse.ArgumentParser, *, here: Path, what: str,
                       logged: str) -> None:
    """The options every bundle server takes: where it listens, which bundle (``what``, by
    default ``here``: the server's own folder), the request log (``logged``: what it
    records) and the loader's trust options."""
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--bundle", default=str(here), help=f"{what} (default: here)")
    parser.add_argument("--log-requests", metavar="FILE.jsonl", help=f"append {logged} here")
    parser.add_argument("--log-max-mb", type=float, default=LOG_MAX_BYTES / 2**20,
                        help="rotate the request log past this size")
    trust.add_trust_option(parser)
    trust.add_trust_code_option(parser)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve this jupyter-mlops bundle over HTTP.")
    add_server_options(parser, here=HERE, what="bundle directory",
                       logged="scored rows and predictions, for monitoring")
    args = parser.parse_args(argv)
    import uvicorn

    try:
        log = RequestLog(Path(args.log_requests), int(args.log_max_mb * 2**20)) \
            if args.log_requests else None
        app = create_app(Path(args.bundle).resolve(), log, trusted=args.trust,
                         trust_code=args.trust_code)
    except (IntegrityError, trust.ModelRefused, ValueError) as exc:
        print(f"serve.py: {exc}", file=sys.stderr)
        return 2
    problem = port_problem(args.host, args.port)
    if problem:
        print(f"serve.py: cannot listen on {args.host}:{args.port}: {problem}", file=sys.stderr)
        return 2
    print(f"serving {args.bundle} on http://{args.host}:{args.port}", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
