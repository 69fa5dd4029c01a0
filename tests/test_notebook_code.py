"""Functions defined in an earlier notebook cell travel with the bundle as
code/notebook_functions.py, run only where the loader trusts them, and are refused at export
when they cannot be captured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import Shell
from processes import stop

import jupyter_mlops as mlops
from jupyter_mlops.bundle.verify import free_port, post_json, wait_until_healthy
from jupyter_mlops.errors import BundleError

DATA = """
import numpy as np, pandas as pd
rng = np.random.default_rng(0)
X = pd.DataFrame({"day": rng.integers(1, 366, 200), "units": rng.normal(10, 2, 200)})
y = 3 * np.sin(2 * np.pi * X.day / 365.25) + X.units
"""
FUNCTIONS = """
import numpy as np
PERIOD = 365.25
unused = X.head()  # not needed by the functions: stays out of the bundle

def _angle(day):
    return 2 * np.pi * day / PERIOD

def date_features(frame):
    angle = _angle(frame["day"].to_numpy())
    return np.column_stack([np.sin(angle), np.cos(angle), frame["units"]])
"""
TRAIN = """%%track sales
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
model = make_pipeline(FunctionTransformer(date_features), Ridge()).fit(X, y)
"""


@pytest.fixture
def kernel(shell: Shell, monkeypatch: pytest.MonkeyPatch) -> Shell:
    """The shell's namespace as ``__main__``, as in a real kernel (IPython's
    ``init_sys_modules``), so that functions defined in cells pickle like they do there."""
    monkeypatch.setitem(sys.modules, "__main__", shell.ip.user_module)
    return shell


@pytest.fixture
def sales(kernel: Shell) -> Shell:
    shell = kernel
    for cell in (DATA, FUNCTIONS, TRAIN):
        assert shell.run(cell).result.success
    return shell


def test_export_carries_the_notebook_functions(sales: Shell, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = mlops.export_bundle("sales", tmp_path / "b", store=sales.store())
    module = (bundle / "code" / "notebook_functions.py").read_text()
    assert "def date_features" in module and "def _angle" in module
    assert "PERIOD = 365.25" in module and "import numpy as np" in module
    assert "unused" not in module
    assert "`date_features`" in (bundle / "model_card.md").read_text()
    manifest = json.loads((bundle / "MANIFEST.json").read_text())
    assert manifest["notebook_functions"] == ["date_features"]
    assert "code/notebook_functions.py" in manifest["files"]
    X = sales.ns["X"]
    expected = sales.ns["model"].predict(X)
    # The store that exported it recorded the code: its loaders run it without opting in.
    np.testing.assert_allclose(mlops.load_bundle(bundle).predict(X), expected)
    # Anywhere else the loader decides: refused by name until trust_code=True.
    monkeypatch.setenv("JUPYTER_MLOPS_STORE", str(tmp_path / "elsewhere"))
    with pytest.raises(BundleError, match=r"date_features.*--trust-code"):
        mlops.load_bundle(bundle)
    assert not (tmp_path / "elsewhere").exists()
    np.testing.assert_allclose(mlops.load_bundle(bundle, trust_code=True).predict(X), expected)


def test_serve_py_runs_the_code_only_when_told(sales: Shell, tmp_path: Path) -> None:
    bundle = mlops.export_bundle("sales", tmp_path / "b", store=sales.store())
    refused = subprocess.run([sys.executable, str(bundle / "serve.py"), "--port", "1"],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "date_features" in refused.stderr
    assert "--trust-code" in refused.stderr and "Traceback" not in refused.stderr
    port = free_port()
    process = subprocess.Popen([sys.executable, str(bundle / "serve.py"), "--port", str(port),
                                "--trust-code"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(url, process, 60)
        rows = sales.ns["X"].head(5)
        status, answer = post_json(url + "/invocations", {
            "dataframe_split": json.loads(rows.to_json(orient="split", index=False))})
        assert status == 200
        np.testing.assert_allclose(answer["predictions"], sales.ns["model"].predict(rows))
    finally:
        stop(process, timeout=10)
    assert not list(bundle.rglob("__pycache__"))  # the bundle stays as its manifest lists


def test_terminal_export_and_serve(sales: Shell, store_dir: Path, tmp_path: Path) -> None:
    """No kernel: __main__.date_features does not exist where the CLI runs."""
    cli = [sys.executable, "-m", "jupyter_mlops.cli", "--store", str(store_dir)]
    done = subprocess.run([*cli, "export", "sales", str(tmp_path / "b")], capture_output=True,
                          text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    port = free_port()
    process = subprocess.Popen([*cli, "serve", str(tmp_path / "b"), "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:  # the store named by --store recorded the code: no --trust-code needed
        wait_until_healthy(f"http://127.0.0.1:{port}", process, 60)
    finally:
        stop(process, timeout=10)


@pytest.mark.parametrize("cell, message", [
    ("SCALE = np.float64(2.0)\ndef scaled(frame):\n    return frame * SCALE\n",
     r"'scaled' uses 'SCALE', which \[\d+\] binds to a computed value"),
    ("class Scale:\n    factor = 2.0\ndef scaled(frame):\n    return frame * Scale.factor\n",
     r"'scaled' uses 'Scale', a class defined in the notebook"),
    ("globals()['factor'] = 2.0\ndef scaled(frame):\n    return frame * factor\n",
     r"'scaled' uses 'factor', which none of the recorded cells .* defines"),
])
def test_what_cannot_be_captured_is_refused_at_export(kernel: Shell, tmp_path: Path, cell: str,
                                                      message: str) -> None:
    shell = kernel
    shell.run(DATA)
    assert shell.run(cell).result.success
    assert shell.run(TRAIN.replace("date_features", "scaled")).result.success
    with pytest.raises(BundleError, match=message):
        mlops.export_bundle("sales", tmp_path / "b", store=shell.store())
    assert not (tmp_path / "b").exists()


def test_mlflow_loads_the_notebook_functions_in_a_fresh_process(
        sales: Shell, tmp_path: Path, mlflow_python: str) -> None:
    bundle = mlops.export_bundle("sales", tmp_path / "b", store=sales.store())
    rows = sales.ns["X"].head(5)
    rows.to_json(tmp_path / "rows.json", orient="split", index=False)
    code = (
        "import json, mlflow.pyfunc, pandas as pd\n"
        "try:\n"
        f"    mlflow.pyfunc.load_model({str(bundle)!r})\n"
        "except Exception as exc:\n"
        "    print('refused:', 'date_features' in str(exc) and 'trust_code' in str(exc))\n"
        f"model = mlflow.pyfunc.load_model({str(bundle)!r}, "
        "model_config={'trust_code': True})\n"
        f"split = json.load(open({str(tmp_path / 'rows.json')!r}))\n"
        "frame = pd.DataFrame(split['data'], columns=split['columns'])\n"
        "print(json.dumps(model.predict(frame).tolist()))\n"
    )
    done = subprocess.run([mlflow_python, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "DO_NOT_TRACK": "1"}, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    refused, predictions = done.stdout.strip().splitlines()[-2:]
    assert refused == "refused: True"
    np.testing.assert_allclose(json.loads(predictions), sales.ns["model"].predict(rows))


def test_production_promotion_verifies_the_code_in_a_fresh_virtualenv(sales: Shell) -> None:
    version = mlops.promote("sales", name="sales", stage="production", store=sales.store())
    register = next(e for e in sales.store().events("sales") if e.action == "register")
    assert "served from a fresh virtualenv" in register.detail["verification"]
    assert version.stage == "production"
