"""Stopping the servers the tests start (serve.py, jupyter lab, mlflow server, MLServer)."""

from __future__ import annotations

import os
import signal
import subprocess
from typing import Any


def stop(process: subprocess.Popen[Any], timeout: float = 30, *, group: bool = False) -> None:
    """Ask ``process`` to stop (SIGTERM), wait up to ``timeout`` seconds, then kill it.

    With ``group`` the signals go to its whole process group, for a server started with
    ``start_new_session=True`` that runs workers of its own. A process that has already
    exited is left as it is.
    """
    if process.poll() is not None:
        return

    def send(sig: signal.Signals) -> None:
        if group:
            os.killpg(process.pid, sig)
        else:
            process.send_signal(sig)

    send(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        process.wait()
