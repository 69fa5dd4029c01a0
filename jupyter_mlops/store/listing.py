"""Read-side queries that need more than one row: the runs table and integrity checks."""

from __future__ import annotations

import gc
import json
import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
import pandas as pd

from ..entities import RUN_STATUSES
from .like import ESCAPE, like_escape
from .tidy import check_archived

MAX_SEARCH_CHARS = 200
BASE_COLUMNS = ("run_id", "experiment", "name", "status", "started_at", "duration_s")
SORTABLE = {
    "run_id": "r.run_id", "name": "r.name", "status": "r.status", "experiment": "e.name",
    "started_at": "r.started_at", "duration_s": "r.duration_s", "updated_at": "r.updated_at",
}


def _order_clause(sort: str, descending: bool) -> str:
    """ORDER BY for a base column (``params.K``/``metrics.K`` pages are read through their
    (key, value) index instead, see :func:`_rows_by_value`)."""
    if sort not in SORTABLE:
        raise ValueError(
            f"cannot sort runs by {sort!r}: use one of {', '.join(SORTABLE)}, "
            "'params.<key>' or 'metrics.<key>'"
        )
    direction = "DESC" if descending else "ASC"
    return f"{SORTABLE[sort]} {direction}, r.run_id {direction}"


def _parse(text: Any) -> dict[str, Any]:
    """A params/metrics summary; orjson is 3-4x faster, json also reads NaN/Infinity."""
    if not isinstance(text, str):
        return {}
    try:
        return orjson.loads(text)  # type: ignore[no-any-return]
    except orjson.JSONDecodeError:
        return json.loads(text)  # type: ignore[no-any-return]


def _parse_all(texts: Sequence[Any]) -> list[dict[str, Any]]:
    """Every summary of a column: orjson straight over the column (the common case), row by
    row through :func:`_parse` when one of them is NULL or holds NaN/Infinity."""
    try:
        return list(map(orjson.loads, texts))
    except (orjson.JSONDecodeError, TypeError):
        return [_parse(text) for text in texts]


def _expand(texts: Sequence[Any], prefix: str) -> pd.DataFrame:
    frame = pd.DataFrame(_parse_all(texts), index=pd.RangeIndex(len(texts)))
    frame.columns = [f"{prefix}.{key}" for key in frame.columns]
    return frame


_TAG_SEARCH = re.compile(r"(?P<key>[A-Za-z_][\w.-]*):(?P<value>\S.*)")


# The condition each `archived=` option puts on the runs (indexed: m010).
_ARCHIVED_WHERE = {"exclude": ["r.archived_at IS NULL"], "include": [],
                   "only": ["r.archived_at IS NOT NULL"]}


def _filters(experiment: str | None, status: str | None, name: str | None,
             search: str | None, archived: str = "exclude") -> tuple[list[str], list[Any]]:
    """The WHERE conditions (and their arguments) shared by listing and counting."""
    if status is not None and status not in RUN_STATUSES:
        raise ValueError(f"unknown status {status!r}: use one of {', '.join(RUN_STATUSES)}")
    if search is not None and len(search) > MAX_SEARCH_CHARS:
        raise ValueError(f"the search text is {len(search)} characters long; it matches names, "
                         f"params and run ids, and is at most {MAX_SEARCH_CHARS} characters")
    where = list(_ARCHIVED_WHERE[check_archived(archived)])
    args: list[Any] = []
    for clause, value in (("e.name = ?", experiment), ("r.status = ?", status),
                          ("r.name = ?", name)):
        if value is not None:
            where.append(clause)
            args.append(value)
    tag = _TAG_SEARCH.fullmatch(search.strip()) if search else None
    if tag:  # key:value, a tag (%%track --tag owner=alice is found by owner:alice)
        where.append("EXISTS (SELECT 1 FROM tags t WHERE t.run_id = r.run_id AND t.key = ? "
                     "AND t.value = ?)")
        args += [tag["key"], tag["value"]]
    elif search:  # a name or a param (key or value), case-insensitive, or a run id's start
        where.append(f"(r.name LIKE ? {ESCAPE} OR r.params_json LIKE ? {ESCAPE} "
                     f"OR r.run_id LIKE ? {ESCAPE})")
        pattern = like_escape(search)
        args += [f"%{pattern}%", f"%{pattern}%", f"{pattern.upper()}%"]
    return where, args


def _where(conditions: list[str]) -> str:
    return ("WHERE " + " AND ".join(conditions)) if conditions else ""


SELECT = ("SELECT r.run_id, e.name AS experiment, r.name, r.status, r.started_at, "
          "r.duration_s, r.params_json, r.metrics_json, r.archived_at")
FROM_RUNS = "FROM runs r JOIN experiments e ON e.id = r.experiment_id"


# The table and the value expression of each sortable key kind; both expressions are indexed
# with the key (latest_metrics: m003, params: m007), so a sorted page stops after `limit` rows.
SORT_VALUES = {"metrics": ("latest_metrics", "sk.value"),
               "params": ("params", "json_extract(sk.value, '$')")}


def _listed(names: Sequence[str], most: int = 20) -> str:
    shown = ", ".join(names[:most])
    return shown + (f", … ({len(names) - most} more)" if len(names) > most else "")


def check_key(conn: sqlite3.Connection, key: str, *, sortable: bool) -> None:
    """Raise ValueError naming the keys that exist when no run has ``key`` to sort by
    (``sortable``) or to show as a column: one message for the API, the CLI and REST. An
    empty store has nothing to sort: any metric or param key is accepted there."""
    kind, _, name = key.partition(".")
    if kind in SORT_VALUES and name:
        table = SORT_VALUES[kind][0]
        if conn.execute(f"SELECT 1 FROM {table} WHERE key = ? LIMIT 1", [name]).fetchone() \
                or not conn.execute("SELECT 1 FROM runs LIMIT 1").fetchone():
            return
        problem = f"no run logged a {kind[:-1]} {name!r}"
    elif sortable and key in SORTABLE:
        return
    else:
        problem = ("not a column, metrics.K or params.K" if sortable
                   else "name a metrics.K or params.K")
    metrics, params = (_distinct_keys(conn, KEY_TABLES[kind]) for kind in ("metrics", "params"))
    hint = ""
    word, _, order = key.rpartition(" ")
    if sortable and word and order.lower() in ("asc", "desc", "ascending", "descending"):
        hint = (f" (for lowest first: --sort {word} --asc, descending=False)"
                if order.lower().startswith("a") else f" (--sort {word} sorts highest first)")
    elif key in metrics or key in params:
        hint = f" (did you mean {'metrics' if key in metrics else 'params'}.{key}?)"
    lines = [f"cannot {'sort runs by' if sortable else 'show column'} {key!r}: {problem}{hint}"]
    if sortable:
        lines.append(f"  columns: {', '.join(SORTABLE)}")
    lines.append(f"  metrics: {_listed(metrics)}" if metrics else "  no run logged metrics")
    lines.append(f"  params:  {_listed(params)}" if params else "  no run logged params")
    raise ValueError("\n".join(lines))


def _rows_by_value(conn: sqlite3.Connection, kind: str, key: str, where: list[str],
                   args: list[Any], descending: bool, limit: int,
                   offset: int) -> list[tuple[Any, ...]]:
    """A page sorted by a metric or param, read in the order of its (key, value) index; runs
    without that key come last, newest first."""
    table, value = SORT_VALUES[kind]
    direction = "DESC" if descending else "ASC"
    keyed = (f"FROM {table} sk JOIN runs r ON r.run_id = sk.run_id "
             f"JOIN experiments e ON e.id = r.experiment_id {_where(['sk.key = ?', *where])}")
    rows = conn.execute(
        f"{SELECT} {keyed} ORDER BY {value} {direction}, sk.rowid {direction} "
        "LIMIT ? OFFSET ?", [key, *args, limit, offset]).fetchall()
    if limit >= 0 and len(rows) >= limit:
        return rows
    if rows:
        skip = 0
    else:
        having = conn.execute(f"SELECT count(*) {keyed}", [key, *args]).fetchone()[0]
        skip = max(0, offset - having)
    missing = f"NOT EXISTS (SELECT 1 FROM {table} m WHERE m.run_id = r.run_id AND m.key = ?)"
    rest = conn.execute(
        f"{SELECT} {FROM_RUNS} {_where([missing, *where])} "
        "ORDER BY r.started_at DESC, r.run_id DESC LIMIT ? OFFSET ?",
        [key, *args, limit - len(rows) if limit >= 0 else -1, skip]).fetchall()
    return rows + rest


def run_rows(
    conn: sqlite3.Connection, *, experiment: str | None = None, status: str | None = None,
    name: str | None = None, search: str | None = None, sort: str = "started_at",
    descending: bool = True, limit: int | None = None, offset: int = 0,
    archived: str = "exclude",
) -> list[tuple[Any, ...]]:
    """The runs matching the filters, in order: tuples of ``run_id, experiment, name, status,
    started_at, duration_s, params_json, metrics_json, archived_at``. ``archived``:
    ``"exclude"`` archived runs (default), ``"include"`` them or list ``"only"`` them."""
    if limit is not None and limit < 0 or offset < 0:
        raise ValueError("limit and offset must be zero or positive")
    check_key(conn, sort, sortable=True)
    where, args = _filters(experiment, status, name, search, archived)
    kind, _, key = sort.partition(".")
    if kind in SORT_VALUES and key:
        return _rows_by_value(conn, kind, key, where, args, descending,
                              -1 if limit is None else limit, offset)
    sql = (f"{SELECT} {FROM_RUNS} {_where(where)} ORDER BY {_order_clause(sort, descending)} "
           "LIMIT ? OFFSET ?")
    return conn.execute(sql, [*args, -1 if limit is None else limit, offset]).fetchall()


def count_runs(conn: sqlite3.Connection, *, experiment: str | None = None,
               status: str | None = None, name: str | None = None,
               search: str | None = None, archived: str = "exclude") -> int:
    """How many runs match the filters (archived ones as in :func:`run_rows`)."""
    where, args = _filters(experiment, status, name, search, archived)
    # Every run has its experiment: join it only to filter by its name (the count then reads
    # an index alone).
    source = FROM_RUNS if experiment is not None else "FROM runs r"
    return int(conn.execute(f"SELECT count(*) {source} {_where(where)}", args).fetchone()[0])


def runs_page(conn: sqlite3.Connection, **query: Any) -> list[dict[str, Any]]:
    """Runs as JSON-friendly dicts (params and latest metrics nested), for the REST API."""
    return [{"run_id": run_id, "experiment": experiment, "name": name, "status": status,
             "started_at": started, "duration_s": duration,
             "params": _parse(params), "metrics": _parse(metrics), "archived_at": archived}
            for run_id, experiment, name, status, started, duration, params, metrics, archived
            in run_rows(conn, **query)]


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building a large table of acyclic rows: it
    would otherwise rescan the growing heap many times (a fifth of listing 100k runs)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


PARAMS_SHOWN = ("differing", "all")


def runs_frame(conn: sqlite3.Connection, *, params: str = "differing",
               **query: Any) -> pd.DataFrame:
    """The runs table (see :meth:`Store.runs`)."""
    if params not in PARAMS_SHOWN:
        raise ValueError(f"params={params!r}: use 'differing' (the params whose value differs "
                         "between the listed runs) or 'all'")
    with _gc_paused():
        frame = _frame(run_rows(conn, **query), query.get("archived", "exclude") != "exclude")
    if params == "all" or len(frame) < 2:
        return frame
    keep = str(query.get("sort", ""))
    same = [c for c in frame.columns if c.startswith("params.") and c != keep
            and _distinct(frame[c]) < 2]
    return frame.drop(columns=same)


def _distinct(column: pd.Series) -> int:
    """How many different values a column holds, missing ones left out."""
    values = column.dropna()
    try:
        return int(values.nunique())
    except TypeError:  # lists are unhashable: compare their text
        return int(values.map(repr).nunique())


def _frame(rows: list[tuple[Any, ...]], archived: bool) -> pd.DataFrame:
    """The table; with ``archived`` an ``archived_at`` column (NaT: not archived) follows
    ``duration_s``."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * (len(BASE_COLUMNS) + 3)
    frame = pd.DataFrame(dict(zip(BASE_COLUMNS, columns, strict=False)),
                         columns=list(BASE_COLUMNS))
    if archived:
        frame["archived_at"] = pd.to_datetime(pd.Series(columns[8], dtype="float64"),
                                              unit="s", utc=True)
    frame["started_at"] = pd.to_datetime(frame["started_at"], unit="s", utc=True)
    frame["duration_s"] = frame["duration_s"].astype("float64")
    params = _expand(columns[6], "params")
    metrics = _expand(columns[7], "metrics")
    return pd.concat([frame, params, metrics], axis=1)


# The tables whose keys name the runs table's columns: metric keys (latest values) and params.
KEY_TABLES = {kind: table for kind, (table, _) in SORT_VALUES.items()}


def _distinct_keys(conn: sqlite3.Connection, table: str) -> list[str]:
    """Every key of a table, read by skipping through its key index (one seek per key)."""
    rows = conn.execute(
        f"WITH RECURSIVE k(key) AS (SELECT min(key) FROM {table} UNION ALL "
        f"SELECT (SELECT min(key) FROM {table} WHERE key > k.key) FROM k "
        "WHERE k.key IS NOT NULL) SELECT key FROM k WHERE key IS NOT NULL").fetchall()
    return [key for (key,) in rows]


def run_keys(conn: sqlite3.Connection, *, experiment: str | None = None,
             status: str | None = None, search: str | None = None,
             archived: str = "exclude") -> dict[str, list[str]]:
    """The metric and param keys of the runs matching the filters (all of them, not a page),
    sorted: ``{"metrics": [...], "params": [...]}``.

    Each key of the store is checked with one indexed ``EXISTS`` under the filters, so the
    cost grows with the number of distinct keys, not with the number of runs.
    """
    if archived == "exclude" and not conn.execute(
            "SELECT 1 FROM runs WHERE archived_at IS NOT NULL LIMIT 1").fetchone():
        archived = "include"  # nothing is archived: every key, without a check per key
    where, args = _filters(experiment, status, None, search, archived)
    found: dict[str, list[str]] = {}
    for kind, table in KEY_TABLES.items():
        keys = _distinct_keys(conn, table)
        if where:
            exists = (f"SELECT 1 FROM {table} m JOIN runs r ON r.run_id = m.run_id "
                      f"JOIN experiments e ON e.id = r.experiment_id "
                      f"{_where(['m.key = ?', *where])} LIMIT 1")
            keys = [key for key in keys if conn.execute(exists, [key, *args]).fetchone()]
        found[kind] = keys
    return found
