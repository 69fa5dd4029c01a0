"""The store's settings (``jupyter-mlops config KEY VALUE``), kept as audit events: setting a
key appends a ``config`` event about ``config:KEY`` whose detail holds the value, and the
newest such event is the setting. So every change says who made it and when, the chain
protects it, and no table of its own is needed."""

from __future__ import annotations

import re
from collections.abc import Callable

from ..errors import SettingError
from .audit import append_event, user
from .store import Store

ACTION, SUBJECT = "config", "config:"
MAX_VALUE = 2000
# schemes MLflow's client accepts as a tracking URI (a server, or its own backends)
URI_SCHEMES = ("http", "https", "databricks", "file", "sqlite", "postgresql", "mysql",
               "mssql")


def _uri(value: str) -> str:
    scheme = value.partition(":")[0].lower()
    if scheme not in URI_SCHEMES or re.search(r"[\s\x00-\x1f]", value) or \
            not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", value):
        raise SettingError(f"sync.uri must be an MLflow tracking URI such as "
                           f"http://mlflow.example:5000 (schemes: {', '.join(URI_SCHEMES)}), "
                           f"got {value[:80]!r}")
    return value.rstrip("/")


# the settings there are: key → (what it does, the check that normalises a value)
KEYS: dict[str, tuple[str, Callable[[str], str]]] = {
    "sync.uri": ("the MLflow tracking server each finished %%track run is pushed to, in the "
                 "background (unset: no auto-push)", _uri),
}


def _key(key: str) -> str:
    if key not in KEYS:
        raise SettingError(f"no setting {key[:80]!r}; the settings are: {', '.join(KEYS)}")
    return key


def get(store: Store, key: str) -> str | None:
    """The value of a setting, or None when it is not set."""
    row = store.conn.execute(
        "SELECT json_extract(detail, '$.value') FROM events WHERE subject = ? AND action = ? "
        "ORDER BY seq DESC LIMIT 1", [SUBJECT + _key(key), ACTION]).fetchone()
    return None if row is None else row[0]


def settings(store: Store) -> dict[str, str | None]:
    """Every setting and its value (None: not set)."""
    return {key: get(store, key) for key in KEYS}


def check(key: str, value: str) -> str:
    """A setting's value as it would be stored (normalised), or a :class:`SettingError`."""
    _key(key)
    if not isinstance(value, str) or not value or len(value) > MAX_VALUE:
        raise SettingError(f"{key} takes a text of 1 to {MAX_VALUE} characters")
    return KEYS[key][1](value)


def set_value(store: Store, key: str, value: str | None, *, actor: str | None = None,
              reason: str | None = None) -> str | None:
    """Set (or with None unset) a setting, checked first; recorded as an audit event.
    Returns the value as stored."""
    if value is None:
        _key(key)
    else:
        value = check(key, value)
    with store.transaction() as conn:
        append_event(conn, actor=user() if actor is None else actor, action=ACTION,
                     subject=SUBJECT + key, detail={"value": value}, reason=reason)
    return value
