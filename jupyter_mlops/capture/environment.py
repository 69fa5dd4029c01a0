"""The context of a run: package versions, git state, user and host. Cached per kernel."""

from __future__ import annotations

import importlib.metadata as metadata
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cache
from typing import Any

import xxhash

from ..store.audit import USER_ENV, user  # noqa: F401  (who acts: re-exported here)
from ..store.records import EnvironmentInfo
from .packages import providers

GIT_TTL_S = 10.0
_git_cache: dict[str, tuple[float, dict[str, Any]]] = {}
_git_worker: ThreadPoolExecutor | None = None


@cache
def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def package_versions(modules: Iterable[str]) -> dict[str, str]:
    """Installed distributions (and versions) that provide the given top-level modules."""
    found: dict[str, str] = {}
    for module in modules:
        if module in sys.stdlib_module_names:
            continue
        for distribution in providers(module):
            version = _version(distribution)
            if version:
                found[distribution] = version
    return dict(sorted(found.items()))


def environment(modules: Iterable[str]) -> EnvironmentInfo:
    """Python and the versions of the packages behind ``modules``, hashed for deduplication."""
    packages = package_versions(modules)
    python = platform.python_version()
    system = f"{platform.system()}-{platform.machine()}"
    digest = xxhash.xxh3_64_hexdigest(repr((python, system, sorted(packages.items()))).encode())
    return EnvironmentInfo(env_hash=digest, python=python, platform=system, packages=packages)


def _run_git(cwd: str) -> dict[str, Any]:
    try:
        done = subprocess.run(
            ["git", "status", "--porcelain=v2", "--branch", "--untracked-files=no"],
            cwd=cwd, capture_output=True, text=True, timeout=5, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return {}
    if done.returncode != 0:
        return {}
    state: dict[str, Any] = {"dirty": False}
    for line in done.stdout.splitlines():
        if line.startswith("# branch.oid "):
            oid = line.split(" ", 2)[2]
            state["commit"] = None if oid == "(initial)" else oid
        elif line.startswith("# branch.head "):
            head = line.split(" ", 2)[2]
            state["branch"] = None if head == "(detached)" else head
        elif line and not line.startswith("#"):
            state["dirty"] = True
    return state


def git_state(cwd: str | None = None) -> dict[str, Any]:
    """``{"commit", "branch", "dirty"}`` of the repository around ``cwd`` ({} outside git).

    Cached for a few seconds per directory: a run records the state of its kernel's tree.
    """
    cwd = cwd or os.getcwd()
    now = time.monotonic()
    cached = _git_cache.get(cwd)
    if cached is None or now - cached[0] > GIT_TTL_S:
        cached = (now, _run_git(cwd))
        _git_cache[cwd] = cached
    return dict(cached[1])


def git_state_soon(cwd: str | None = None) -> Future[dict[str, Any]]:
    """:func:`git_state`, run on a worker thread when it is not cached, so that the cell runs
    meanwhile instead of waiting for ``git status`` (2-3 ms) at its end."""
    global _git_worker
    cwd = cwd or os.getcwd()
    cached = _git_cache.get(cwd)
    if cached is not None and time.monotonic() - cached[0] <= GIT_TTL_S:
        ready: Future[dict[str, Any]] = Future()
        ready.set_result(dict(cached[1]))
        return ready
    if _git_worker is None:
        _git_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jupyter-mlops-git")
    return _git_worker.submit(git_state, cwd)
