"""A real JupyterLab and a real Chromium for the sidebar's UI test.

The fixture starts ``jupyter lab`` on a temporary root directory with a temporary store
(``JUPYTER_MLOPS_STORE``), its own settings and workspaces (so nothing of the developer's
JupyterLab leaks in), a token and a free loopback port. Chromium is the system one
(``apt-get install chromium``): Playwright's own browser download is not used. Without
Chromium or Playwright the UI test is skipped on a developer machine and FAILS under CI.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from processes import stop

CHROMIUM_FLAGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).parent / "screenshots"
STARTUP_TIMEOUT_S = 120


def _missing(what: str) -> None:
    """Skip locally, fail in CI: CI must really run the UI test."""
    message = f"the sidebar UI test needs {what}"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI=true: install it, see .ci/run)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        _missing("Chromium: apt-get install -y chromium")
    return path


@pytest.fixture(autouse=True)
def jp_asyncio_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """pytest-jupyter (a plugin of tests/test_server.py) makes every test's thread loop its
    own and closes it afterwards; Playwright's sync API runs in that loop. Give pytest-jupyter
    a loop of its own instead."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    """Playwright's sync API runs an event loop in this thread: keep it to this module, so
    that pytest-jupyter's loop in other test modules is not disturbed."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright: pip install -e '.[test]'")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path,
                                             args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    store: Path
    log: Path

    def lab_url(self, path: str = "lab") -> str:
        return f"{self.url}{path}?token={self.token}"

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    base = tmp_path_factory.mktemp("lab")
    root, store, settings, workspaces = (base / n for n in
                                         ("root", "store", "settings", "workspaces"))
    for directory in (root, settings, workspaces):
        directory.mkdir()
    # no news toast and no update check in the screenshots (and no network); a notebook
    # starts its kernel without asking which one
    for plugin, values in {
        "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
        "notebook-extension/tracker": {"autoStartDefaultKernel": True},
    }.items():
        path = settings / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port, token = _free_port(), secrets.token_hex(16)
    log = base / "lab.log"
    env = {**os.environ, "JUPYTER_MLOPS_STORE": str(store)}
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        "--LabApp.news_url=None", f"--LabApp.user_settings_dir={settings}",
        f"--LabApp.workspaces_dir={workspaces}",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    server = Lab(url, token, root, store, log)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"jupyter lab exited with {process.returncode}:\n{server.tail()}")
            try:
                with urllib.request.urlopen(f"{url}api/status?token={token}", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not start in {STARTUP_TIMEOUT_S} s:\n"
                                f"{server.tail()}")
                time.sleep(0.5)
        yield server
    finally:
        stop(process, timeout=20)


@pytest.fixture
def screenshots() -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    return SCREENSHOTS


@contextlib.contextmanager
def _watched_page(browser: Any, screenshots: Path, name: str, *, width: int, height: int,
                  clipboard: bool = False) -> Iterator[Any]:
    """A page in a new browser context: its console is saved to ``NAME-console.log`` and its
    last view to ``NAME-last.png``; a JavaScript error in the page fails the test."""
    context = browser.new_context(viewport={"width": width, "height": height})
    if clipboard:
        context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    console: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    try:
        yield page
    finally:
        page.screenshot(path=str(screenshots / f"{name}-last.png"))
        (screenshots / f"{name}-console.log").write_text("\n".join(console))
        context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"


@pytest.fixture
def watched_page(browser: Any, screenshots: Path) -> Any:
    """``watched_page(NAME, width=..., height=..., clipboard=False)``: a context manager
    giving a page whose console and last view are saved under NAME, failing the test on a
    JavaScript error in the page."""
    return functools.partial(_watched_page, browser, screenshots)
