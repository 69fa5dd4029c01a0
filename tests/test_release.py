"""`pip install jupyter-mlops` works as a release would: sdist → wheel → a fresh virtualenv.

Users install wheels, not editable checkouts. This builds the sdist and, from it, the wheel
(`python -m build`, as a release does), installs the wheel into a new virtualenv, and checks
that JupyterLab sees the sidebar, the Jupyter server sees the REST extension, a tracked cell
works in IPython, and the README renders as the package description (`twine check`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TRACKED_CELL = """
import os
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
shell.run_cell("%load_ext jupyter_mlops", store_history=True).raise_error()
shell.run_cell("from sklearn.linear_model import LinearRegression\\n"
               "import numpy as np\\nX = np.arange(20.0).reshape(10, 2); y = X.sum(axis=1)",
               store_history=True).raise_error()
shell.run_cell("%%track release-check\\nmodel = LinearRegression().fit(X, y)",
               store_history=True).raise_error()
import jupyter_mlops as mlops
runs = mlops.open_store(os.environ["JUPYTER_MLOPS_STORE"]).runs()
print(list(runs["name"]), list(runs["status"]), mlops.__file__)
"""


def _run(*command: str | Path, env: dict[str, str], cwd: Path | None = None) -> str:
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=900)
    assert done.returncode == 0, f"{command}: {done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def clean_env() -> dict[str, str]:
    """The environment without anything pointing at this checkout or its venv."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "JUPYTER_MLOPS_STORE", "JUPYTER_PATH",
                        "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory, clean_env: dict[str, str]) -> Path:
    """The sdist, and the wheel built from it, in a temp dir."""
    if not (ROOT / "jupyter_mlops" / "labextension" / "package.json").exists():
        pytest.fail("the sidebar is not built (jupyter_mlops/labextension): `make labextension`")
    out = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "build", "--outdir", out, ROOT, env=clean_env)
    return out


def test_sdist_and_wheel_carry_the_sidebar_and_the_server_config(dist: Path) -> None:
    wheel = next(dist.glob("jupyter_mlops-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    data = [n for n in names if ".data/data/" in n]
    assert any(n.endswith("share/jupyter/labextensions/jupyter-mlops/package.json")
               for n in data), data
    assert any(n.endswith("share/jupyter/labextensions/jupyter-mlops/install.json")
               for n in data), data
    assert any("etc/jupyter/jupyter_server_config.d/" in n for n in data), data
    assert "jupyter_mlops/py.typed" in names and "jupyter_mlops/server/api.yml" in names
    assert next(dist.glob("jupyter_mlops-*.tar.gz"))


def test_readme_renders_as_the_package_description(dist: Path,
                                                    clean_env: dict[str, str]) -> None:
    output = _run(sys.executable, "-m", "twine", "check", "--strict", *sorted(dist.iterdir()),
                  env=clean_env)
    assert output.count("PASSED") == 2, output


def test_wheel_in_a_fresh_virtualenv(dist: Path, tmp_path: Path,
                                     clean_env: dict[str, str]) -> None:
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv, env=clean_env)
    python, bindir = venv / "bin" / "python", venv / "bin"
    wheel = next(dist.glob("jupyter_mlops-*.whl"))
    _run(python, "-m", "pip", "install", "--quiet", wheel, env=clean_env)
    env = {**clean_env, "PATH": f"{bindir}{os.pathsep}{clean_env.get('PATH', '')}",
           "JUPYTER_MLOPS_STORE": str(tmp_path / "store")}

    labextensions = _run(bindir / "jupyter", "labextension", "list", env=env, cwd=tmp_path)
    line = next((x for x in labextensions.splitlines() if "jupyter-mlops" in x), "")
    assert "enabled" in line and "OK" in line, labextensions

    server = _run(bindir / "jupyter", "server", "extension", "list", env=env, cwd=tmp_path)
    lines = [x for x in server.splitlines() if "jupyter_mlops" in x]
    assert any("enabled" in x for x in lines) and any("OK" in x for x in lines), server

    output = _run(python, "-c", TRACKED_CELL, env=env, cwd=tmp_path)
    assert "['release-check'] ['finished']" in output, output
    assert str(venv) in output  # the wheel's copy, not this checkout
