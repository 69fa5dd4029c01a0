"""Auto-push: with the store setting ``sync.uri``, each finished ``%%track`` run is pushed in
the background. One daemon thread per store and server, with its own connection to the
store; it pushes at the first pause between cells (so a "Run All" is not slowed), and
requests made while it pushes fold into one more push (a push sends all that changed), so
the cell that asked never waits. A failure is one warning until a push succeeds again;
an exiting process gives the last push :data:`EXIT_WAIT_S` seconds.

This layer knows nothing of IPython: the magic calls :func:`request` after a run is recorded.
``$JUPYTER_MLOPS_AUTO_PUSH=0`` turns it off for a process: ``jupyter-mlops ci`` sets it for
its kernels, whose runs are checks, not the team's work.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

EXIT_WAIT_S = 10.0
OFF_VAR = "JUPYTER_MLOPS_AUTO_PUSH"  # "0": no auto-push in this process (ci's kernels)
QUIET_S, MAX_DELAY_S = 1.0, 10.0  # a push waits for a pause between cells, this long at most


class AutoPusher:
    """Pushes one store to one server whenever asked, in a daemon thread."""

    def __init__(self, directory: Path, uri: str, warn: Callable[[str], None]) -> None:
        self.directory, self.uri, self.warn = directory, uri, warn
        self._asked = threading.Event()
        self._idle = threading.Condition()
        self._busy = False
        self._warned = False
        self._thread = threading.Thread(target=self._loop, daemon=True,
                                        name="mlops-auto-push")
        self._thread.start()

    def request(self) -> None:
        """Push soon (returns at once)."""
        with self._idle:
            self._busy = True
            self._asked.set()

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the pushes asked for; whether they are done."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._busy, timeout)

    def _settle(self) -> None:
        """Wait for a pause: :data:`QUIET_S` without a new run, or :data:`MAX_DELAY_S` after
        the first (a push beside a running cell takes the interpreter from it)."""
        first = time.monotonic()
        while True:
            self._asked.clear()
            left = min(QUIET_S, first + MAX_DELAY_S - time.monotonic())
            if left <= 0 or not self._asked.wait(left):
                return

    def _loop(self) -> None:
        from ..store import open_store
        from . import pushing

        store = None
        while True:
            self._asked.wait()
            self._settle()
            try:
                store = store or open_store(self.directory, create=False)
                pushing.push(self.uri, store=store)
                self._warned = False
            except Exception as exc:  # never into the kernel: one warning per outage
                if not self._warned:
                    self._warned = True
                    self.warn(f"auto-push to {self.uri} failed ({str(exc)[:300]}); the runs "
                              "stay in the store and go with the next push that succeeds "
                              "(shown once)")
            with self._idle:
                if not self._asked.is_set():
                    self._busy = False
                    self._idle.notify_all()


_pushers: dict[tuple[Path, str], AutoPusher] = {}
_lock = threading.Lock()


def request(directory: Path, uri: str, warn: Callable[[str], None]) -> AutoPusher | None:
    """Ask the auto-pusher of this store and server to push (starting it on first use);
    nothing when ``$JUPYTER_MLOPS_AUTO_PUSH`` is ``0``."""
    if os.environ.get(OFF_VAR) == "0":
        return None
    with _lock:
        key = (Path(directory).resolve(), uri)
        if key not in _pushers:
            if not _pushers:
                atexit.register(_at_exit)
            _pushers[key] = AutoPusher(key[0], uri, warn)
        pusher = _pushers[key]
    pusher.request()
    return pusher


def _at_exit() -> None:
    """Give the last pushes :data:`EXIT_WAIT_S` seconds, and say which did not finish."""
    if wait_all(EXIT_WAIT_S):
        return
    for pusher in list(_pushers.values()):
        if not pusher.wait(0):
            pusher.warn(f"auto-push to {pusher.uri} had not finished when this process "
                        f"exited ({EXIT_WAIT_S:g} s); the runs stay in the store and go with "
                        "the next push")


def wait_all(timeout: float) -> bool:
    """Give the pending pushes up to ``timeout`` seconds in all (at exit); whether all
    finished."""
    deadline = time.monotonic() + timeout
    return all(p.wait(max(0.0, deadline - time.monotonic())) for p in list(_pushers.values()))
