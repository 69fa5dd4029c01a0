"""Verify a bundle the way production will run it: fresh virtualenv, real HTTP.

The bundle's requirements.txt is installed into a new virtualenv (nothing from this
environment leaks in), its serve.py is started on a free loopback port, the input example is
sent to /invocations, and the answers are compared with the kernel model's predictions.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..frameworks.registry import predictor
from .serve import RequestError, validate

INSTALL_TIMEOUT_S = 900
START_TIMEOUT_S = 60


@dataclass(frozen=True)
class Verification:
    """The outcome of serving a bundle from a fresh virtualenv."""

    ok: bool
    detail: str


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def post_json(url: str, payload: Any, timeout: float = 30) -> tuple[int, Any]:
    """POST JSON, returning (status, decoded JSON body) also for 4xx/5xx answers."""
    request = urllib.request.Request(url, data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], timeout: float, *,
                       path: str = "/health", name: str = "serve.py",
                       log: Path | None = None) -> None:
    """Poll ``url`` + ``path`` until it answers 200, the process dies, or time runs out.

    Parameters
    ----------
    url, process, timeout
        The server's base URL, its process, and how many seconds it may take.
    path
        The readiness endpoint (``/v2/health/ready`` for MLServer).
    name
        What to call the server in the error.
    log
        A file the server writes to: its last 3000 characters end the error.

    Raises
    ------
    RuntimeError
        When the process exits or does not answer within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with code {process.returncode}"
                               + _tail(log))
        try:
            with urllib.request.urlopen(url + path, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{name} did not answer within {timeout:.0f} s" + _tail(log))


def _tail(log: Path | None) -> str:
    """The end of ``log`` on lines of its own, or nothing."""
    if log is None:
        return ""
    return ":\n" + log.read_text(errors="replace")[-3000:]


def _install(bundle: Path, venv: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    python = venv / "bin" / "python"
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "-r", str(bundle / "requirements.txt")],
        capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S,
    )
    if done.returncode != 0:
        raise RuntimeError("pip could not install requirements.txt: "
                           + (done.stderr.strip().splitlines() or ["?"])[-1])
    return python


def verify_bundle(bundle: Path, model: Any, *, trusted: list[str] | None = None,
                  trust_code: bool = False, python: Path | None = None) -> Verification:
    """Serve ``bundle`` from a fresh virtualenv (or the one of ``python``, already holding
    its requirements) and compare its answers with ``model``'s (its serve.py trusting the
    allowlist plus ``trusted``, as the user would serve it)."""
    bundle = Path(bundle)
    example = json.loads((bundle / "input_example.json").read_text())
    schema = json.loads((bundle / "schema.json").read_text())
    try:  # the example in the dtypes the model was fitted on (dates, categories...)
        frame = validate(pd.DataFrame(example["data"], columns=example["columns"]), schema)
    except RequestError as exc:
        return Verification(False, f"input_example.json does not fit schema.json: {exc}")
    features = frame if schema.get("feature_names", True) else frame.to_numpy()
    expected = np.asarray(predictor(model)(features)).tolist()
    with tempfile.TemporaryDirectory(prefix="mlops-venv-") as scratch:
        started = time.monotonic()
        try:
            python = python or _install(bundle, Path(scratch) / "venv")
        except (RuntimeError, subprocess.SubprocessError) as exc:
            return Verification(False, str(exc))
        port = free_port()
        trust = [arg for name in trusted or [] for arg in ("--trust", name)]
        trust += ["--trust-code"] if trust_code else []
        process = subprocess.Popen([str(python), str(bundle / "serve.py"), "--port", str(port),
                                    *trust],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until_healthy(url, process, START_TIMEOUT_S)
            status, answer = post_json(url + "/invocations", {"dataframe_split": example})
        except (RuntimeError, OSError, ValueError) as exc:
            process.kill()
            stderr = process.communicate()[1].decode(errors="replace").strip()
            return Verification(False, f"{exc}: {stderr[-500:]}")
        finally:
            process.terminate()
            process.wait(timeout=10)
        seconds = time.monotonic() - started
    if status != 200:
        return Verification(False, f"/invocations answered {status}: {answer}")
    if answer.get("predictions") != expected:
        return Verification(False, f"served predictions {answer.get('predictions')} differ "
                                   f"from the kernel's {expected}")
    return Verification(True, f"served from a fresh virtualenv in {seconds:.0f} s; "
                              f"{len(expected)} example predictions match")
