"""Shared fixtures: real SQLite stores in temp dirs and a real IPython shell."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import ExecutionResult, InteractiveShell

from jupyter_mlops import Store, open_store


def track_chain(shell: Shell) -> None:
    """Runs linked by content: prep → train → score, plus an unrelated one."""
    shell.run("import pandas as pd, numpy as np\n"
              "raw = pd.DataFrame({'a': np.arange(100.0), 'b': np.arange(100) % 2})")
    shell.run("%%track prep\nclean = raw[raw.a > 10].reset_index(drop=True)")
    shell.run("%%track train\nfrom sklearn.tree import DecisionTreeClassifier\n"
              "tree = DecisionTreeClassifier(max_depth=2).fit(clean[['a']], clean.b)")
    shell.run("%%track score\npreds = tree.predict(clean[['a']])")
    shell.run("%%track unrelated\nother = pd.DataFrame({'z': [1, 2]})")


def json_split(frame: Any) -> dict[str, Any]:
    """A DataFrame as an MLflow ``dataframe_split`` body with every value exact (pandas'
    ``to_json`` rounds floats to 10 digits): missing values as null, times as ISO text."""
    import pandas as pd

    def plain(value: Any) -> Any:
        if value is None or value is pd.NA or value is pd.NaT or value != value:
            return None
        if isinstance(value, pd.Timestamp):
            return value.isoformat()
        return value.item() if hasattr(value, "item") else value

    rows = frame.astype(object).itertuples(index=False, name=None)
    return {"columns": [str(c) for c in frame.columns],
            "data": [[plain(v) for v in row] for row in rows]}


def run_workers(code: str, arguments: list[list[str]], timeout: float = 600) -> list[str]:
    """Run ``python -c code ARGS...`` once per argument list, all at the same time (separate
    processes, like separate kernels); returns their stdout, failing on any error."""
    workers = [subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for args in arguments]
    outputs = []
    for worker in workers:
        out, err = worker.communicate(timeout=timeout)
        assert worker.returncode == 0, err[-3000:]
        outputs.append(out)
    return outputs


# Run by the real MLflow: every bundle loaded by mlflow.pyfunc and by the flavor's own loader
# (argv: flavor, rows as a dataframe_split JSON file, bundle paths).
MLFLOW_LOADS = """
import importlib, json, sys
import numpy as np, pandas as pd, mlflow.pyfunc
flavor = importlib.import_module("mlflow." + sys.argv[1])
split = json.load(open(sys.argv[2]))
frame = pd.DataFrame(split["data"], columns=split["columns"])
for path in sys.argv[3:]:
    pyfunc = mlflow.pyfunc.load_model(path)
    native = flavor.load_model(path)
    if sys.argv[1] == "xgboost" and type(native).__name__ == "Booster":
        import xgboost  # a Booster predicts on a DMatrix
        raw = native.predict(xgboost.DMatrix(frame))
    else:
        raw = native.predict(frame)
    print(json.dumps([np.asarray(pyfunc.predict(frame)).tolist(), np.asarray(raw).tolist(),
                      type(native).__name__]))
"""


@dataclass
class MLflowLoaded:
    """What the real MLflow made of a bundle: the answers of ``mlflow.pyfunc.load_model``'s
    model and of the flavor's native loader's, and the class the native loader built."""

    pyfunc: list[Any]
    native: list[Any]
    native_class: str


MLflowLoads = Callable[[str, list[Path], Any], list[MLflowLoaded]]


def mlflow_python_or_skip() -> str:
    """$JUPYTER_MLOPS_MLFLOW_PYTHON: a python with the real MLflow (``make test`` sets it to
    .venv-mlflow's). Skips the test where it is not set, except in CI, where it must be."""
    python = os.environ.get("JUPYTER_MLOPS_MLFLOW_PYTHON")
    if not python:
        if os.environ.get("CI"):
            pytest.fail("CI checks MLflow compatibility: set JUPYTER_MLOPS_MLFLOW_PYTHON")
        pytest.skip("set JUPYTER_MLOPS_MLFLOW_PYTHON to a python with mlflow (make test does)")
    return python


@pytest.fixture
def mlflow_python() -> str:
    """The python of the real MLflow (see :func:`mlflow_python_or_skip`)."""
    return mlflow_python_or_skip()


@pytest.fixture
def mlflow_loads(tmp_path: Path, mlflow_python: str) -> MLflowLoads:
    """``load(flavor, bundles, rows)``: each bundle loaded by the real MLflow (the python of
    $JUPYTER_MLOPS_MLFLOW_PYTHON) both ways, predicting ``rows`` (sent exactly)."""
    python = mlflow_python

    def load(flavor: str, bundles: list[Path], rows: Any) -> list[MLflowLoaded]:
        split = tmp_path / "mlflow-rows.json"
        split.write_text(json.dumps(json_split(rows)))
        done = subprocess.run([str(python), "-c", MLFLOW_LOADS, flavor, str(split),
                               *map(str, bundles)], capture_output=True, text=True,
                              env={**os.environ, "DO_NOT_TRACK": "1"}, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        lines = done.stdout.strip().splitlines()[-len(bundles):]
        assert len(lines) == len(bundles), done.stdout[-3000:]
        return [MLflowLoaded(*json.loads(line)) for line in lines]

    return load


@pytest.fixture(autouse=True)
def bundle_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Unpacked .zip bundles go to the test's temp dir, not the user's cache."""
    directory = tmp_path / "bundle-cache"
    monkeypatch.setenv("JUPYTER_MLOPS_CACHE", str(directory))
    return directory


@pytest.fixture
def store_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh store directory, also set as $JUPYTER_MLOPS_STORE."""
    directory = tmp_path / "store"
    monkeypatch.setenv("JUPYTER_MLOPS_STORE", str(directory))
    return directory


@pytest.fixture
def store(store_dir: Path) -> Iterator[Store]:
    """An open store in a temp dir."""
    with open_store(store_dir) as opened:
        yield opened


@dataclass
class Cell:
    """What running a cell showed the user."""

    result: ExecutionResult
    stdout: str
    stderr: str

    @property
    def value(self) -> Any:
        return self.result.result


class Shell:
    """A real IPython shell with the extension loaded, capturing what a cell prints."""

    def __init__(self, ip: InteractiveShell) -> None:
        self.ip = ip

    @property
    def ns(self) -> dict[str, Any]:
        return self.ip.user_ns

    def run(self, source: str, **kwargs: Any) -> Cell:
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            result = self.ip.run_cell(source, store_history=True, **kwargs)
        return Cell(result, out.getvalue(), err.getvalue())

    def store(self) -> Store:
        from jupyter_mlops import magics

        assert magics._state is not None
        return magics._state.store()


@pytest.fixture
def shell(store_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Shell]:
    """The global test IPython shell, reset, with ``%load_ext jupyter_mlops`` done."""
    from IPython import get_ipython
    from IPython.testing.globalipapp import start_ipython

    monkeypatch.chdir(tmp_path)
    ip = start_ipython() or get_ipython()
    assert ip is not None
    ip.reset(new_session=True)
    ip.run_cell("%reload_ext jupyter_mlops")
    yield Shell(ip)
    ip.run_cell("%unload_ext jupyter_mlops")
    sys.modules.pop("__main__.x", None)
    os.environ.pop("JPY_SESSION_NAME", None)
