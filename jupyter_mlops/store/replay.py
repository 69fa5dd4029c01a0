"""Replay the audit log into the registry state it describes, and compare with the tables.

Every registry change appends its event in the same transaction, so the registered models,
versions, stages and aliases must equal what the events say. A stage set with a plain
``UPDATE model_versions`` (behind the log's back) is reported by model and version.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from .anchors import parse_json


@dataclass
class Registry:
    """Registered names, versions (name, version) -> stage, and aliases (name, alias) -> version."""

    names: set[str] = field(default_factory=set)
    versions: dict[tuple[str, int], str | None] = field(default_factory=dict)
    aliases: dict[tuple[str, str], int] = field(default_factory=dict)
    unreadable: list[int] = field(default_factory=list)  # events whose detail is no JSON object


def _version(subject: str) -> tuple[str, int] | None:
    name, _, number = subject.rpartition("/")
    return (name, int(number)) if name and number.isdigit() else None


def replay(conn: sqlite3.Connection) -> Registry:
    """The registry as the audit events, applied in order, describe it."""
    state = Registry()
    rows = conn.execute("SELECT seq, action, subject, detail FROM events ORDER BY seq")
    for seq, action, subject, detail_text in rows:
        try:
            detail = parse_json(detail_text)
        except (ValueError, TypeError):
            detail = None
        if not isinstance(detail, dict):
            state.unreadable.append(seq)
            detail = {}
        if action == "create-model":
            state.names.add(subject)
        key = _version(subject)
        if key is None:
            continue
        if action in ("register", "pull"):  # "pull": a version copied from a server
            state.versions[key] = None
        elif action == "transition":
            to = detail.get("to")
            state.versions[key] = None if to is None else str(to)
        elif action == "alias":
            state.aliases[(key[0], str(detail.get("alias")))] = key[1]
        elif action == "delete":
            state.versions.pop(key, None)
            state.aliases = {k: v for k, v in state.aliases.items() if (k[0], v) != key}
    return state


def current(conn: sqlite3.Connection) -> Registry:
    """The registry as its tables hold it now."""
    return Registry(
        names={name for (name,) in conn.execute("SELECT name FROM registered_models")},
        versions={(name, version): stage for name, version, stage in
                  conn.execute("SELECT name, version, stage FROM model_versions")},
        aliases={(name, alias): version for name, alias, version in
                 conn.execute("SELECT name, alias, version FROM model_aliases")},
    )


def registry_problems(conn: sqlite3.Connection) -> list[str]:
    """Where the registry differs from what the audit log says, by name."""
    said, found = replay(conn), current(conn)
    problems = [f"audit log: event {seq} has a detail that is not a JSON object: it was not "
                "written by jupyter-mlops" for seq in said.unreadable[:10]]
    problems += [f"registry: model {name!r} is registered but the audit log never created it"
                 for name in sorted(found.names - said.names)]
    problems += [f"registry: model {name!r} was created in the audit log but is missing"
                 for name in sorted(said.names - found.names)]
    for key in sorted(said.versions.keys() | found.versions.keys()):
        ref = f"{key[0]}/{key[1]}"
        if key not in found.versions:
            problems.append(f"registry: version {ref} is missing, but the audit log never "
                            "deleted it")
        elif key not in said.versions:
            problems.append(f"registry: version {ref} exists (stage {found.versions[key]!r}) "
                            "but the audit log never registered it")
        elif said.versions[key] != found.versions[key]:
            problems.append(f"registry: version {ref} has stage {found.versions[key]!r} but the "
                            f"audit log says {said.versions[key]!r}: it was changed behind "
                            "the log's back")
    for alias in sorted(said.aliases.keys() | found.aliases.keys()):
        expected, actual = said.aliases.get(alias), found.aliases.get(alias)
        if expected != actual:
            problems.append(f"registry: alias {alias[0]}@{alias[1]} points at version {actual} "
                            f"but the audit log says {expected}")
    return problems
