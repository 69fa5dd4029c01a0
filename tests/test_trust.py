"""The loader decides what a model may contain: hostile models and bundles are refused by every
door (load_bundle, jupyter-mlops serve, the bundle's serve.py, MLflow's pyfunc), whatever the
bundle's own manifest says, and before anything runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import Shell
from malicious import dump, gadgets, rehash, write_bundle

import jupyter_mlops as mlops
from jupyter_mlops.bundle import load, trust
from jupyter_mlops.errors import BundleError, PromotionError

GADGETS = sorted(gadgets(Path("unused")))
def test_the_corpus_is_real(tmp_path: Path) -> None:
    """Trusting what the file says (the old behaviour) runs the attacker's code."""
    import pandas as pd
    import skops.io as sio

    marker = tmp_path / "pwned"
    for name in ("exec_chain", "posix_system", "partial_builtin"):
        data, types = dump(gadgets(marker)[name][0])
        with pytest.raises(Exception):  # noqa: B017 - the payload runs, then scoring fails
            sio.loads(data, trusted=types).predict(pd.DataFrame({"x": [1.0]}))
        assert marker.exists(), name
        marker.unlink()


@pytest.mark.parametrize("name", GADGETS)
def test_hostile_bundles_are_refused_by_every_door(name: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    model, bad = gadgets(marker)[name]
    data, types = dump(model)
    bundle = write_bundle(tmp_path / "bundle", data, types)  # its manifest trusts them all
    with pytest.raises(BundleError, match=rf"{bad}.*--trust"):
        mlops.load_bundle(bundle)
    with pytest.raises(trust.ModelRefused, match=bad):
        trust.load(data, "model.skops")
    for command in ([sys.executable, str(bundle / "serve.py"), "--port", "1"],
                    [sys.executable, "-m", "jupyter_mlops.cli", "serve", str(bundle),
                     "--port", "1"]):
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, done.stderr[-2000:]
        assert bad in done.stderr and "--trust" in done.stderr
        assert "Traceback" not in done.stderr
    assert not marker.exists()


def test_trusting_by_name_is_the_loaders_decision(tmp_path: Path) -> None:
    from sklearn.preprocessing import FunctionTransformer

    model = FunctionTransformer(np.sort).fit(np.zeros((2, 1)))  # numpy.sort: not a ufunc
    data, types = dump(model)
    with pytest.raises(trust.ModelRefused, match="numpy.sort"):
        trust.load(data, "m")
    assert trust.load(data, "m", trusted=["numpy.sort"]).func is np.sort
    with pytest.raises(trust.ModelRefused, match="numpy.sort"):  # not a module: one name
        trust.load(data, "m", trusted=["numpy"])


def test_mlflow_pyfunc_refuses_the_corpus(tmp_path: Path, mlflow_python: str) -> None:
    marker = tmp_path / "pwned"
    paths = {}
    for name, (model, bad) in gadgets(marker).items():
        data, types = dump(model)
        paths[name] = (str(write_bundle(tmp_path / name, data, types)), bad)
    data, types = dump(gadgets(marker)["exec_chain"][0])
    paths["mlmodel_config"] = (str(write_bundle(tmp_path / "configured", data, types,
                                                mlflow_config=True)), "trust options itself")
    code = (
        "import json, sys, mlflow.pyfunc\n"
        f"paths = json.loads({json.dumps(json.dumps(paths))})\n"
        "for name, (path, bad) in paths.items():\n"
        "    try:\n"
        "        mlflow.pyfunc.load_model(path)\n"
        "    except Exception as exc:\n"
        "        assert bad in str(exc) and 'trust' in str(exc), (name, str(exc))\n"
        "    else:\n"
        "        sys.exit(f'{name} loaded')\n"
        "print('all refused')\n"
    )
    done = subprocess.run([mlflow_python, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "DO_NOT_TRACK": "1"}, timeout=300)
    assert done.returncode == 0 and "all refused" in done.stdout, done.stderr[-3000:]
    assert not marker.exists()


def test_crafted_tree_indices_are_refused_before_predict() -> None:
    from sklearn.tree import DecisionTreeClassifier

    model = DecisionTreeClassifier(max_depth=3).fit(np.random.default_rng(0).normal(
        size=(50, 2)), np.arange(50) % 2)
    state = model.tree_.__getstate__()
    state["nodes"]["left_child"][0] = 10**9  # out of bounds: would read foreign memory
    model.tree_.__setstate__(state)
    data, _ = dump(model)
    with pytest.raises(trust.ModelRefused, match="out of range"):
        trust.load(data, "tree.skops")


# --- the manifest lists exactly the bundle's files, inside it -------------------------------


@pytest.fixture
def honest(tmp_path: Path) -> Path:
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit(np.arange(6.0).reshape(-1, 1), np.arange(6.0))
    data, types = dump(model)
    bundle = write_bundle(tmp_path / "honest", data, types)
    assert mlops.load_bundle(bundle).model.coef_[0] == pytest.approx(1.0)
    return bundle


def _manifest(bundle: Path, **changes: object) -> None:
    manifest = json.loads((bundle / "MANIFEST.json").read_text())
    manifest.update(changes)
    (bundle / "MANIFEST.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("files, message", [
    ({}, "does not list model.skops"),
    ([], "no file list"),
    ({"model.skops": 3}, "no file list"),
])
def test_a_manifest_without_a_file_list_is_refused(honest: Path, files: object,
                                                   message: str) -> None:
    _manifest(honest, files=files)
    with pytest.raises(BundleError, match=message):
        mlops.load_bundle(honest)


@pytest.mark.parametrize("entry", ["../../etc/hostname", "/etc/hostname", "code/../serve.py",
                                   "./schema.json"])
def test_manifest_paths_must_stay_inside_the_bundle(honest: Path, entry: str) -> None:
    manifest = json.loads((honest / "MANIFEST.json").read_text())
    manifest["files"][entry] = "0" * 64
    (honest / "MANIFEST.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="outside the bundle"):
        mlops.load_bundle(honest)


def test_unlisted_files_and_links_are_refused(honest: Path, tmp_path: Path) -> None:
    (honest / "code" / "extra.py").write_text("import os")
    with pytest.raises(BundleError, match=r"code/extra.py is not listed"):
        mlops.load_bundle(honest)
    (honest / "code" / "extra.py").unlink()
    (tmp_path / "elsewhere.json").write_text("{}")
    (honest / "schema.json").unlink()
    (honest / "schema.json").symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(BundleError, match="symbolic link"):
        mlops.load_bundle(honest)


def test_a_corrupt_model_file_is_one_bundle_error(honest: Path) -> None:
    (honest / "model.skops").write_bytes(b"PK\x03\x04 not really a zip")
    rehash(honest)
    with pytest.raises(BundleError, match="model.skops is not a readable skops model file"):
        mlops.load_bundle(honest)


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_zip_slip_and_zip_bombs_are_refused(tmp_path: Path, bundle_cache: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    slip = _zip(tmp_path / "slip.zip", {"MANIFEST.json": b"{}", "../../evil.txt": b"x"})
    with pytest.raises(BundleError, match="outside the bundle"):
        mlops.load_bundle(slip)
    assert not (tmp_path / "evil.txt").exists() and not (bundle_cache.parent / "evil.txt"
                                                         ).exists()
    monkeypatch.setattr(load, "MAX_UNPACKED_BYTES", 10_000)
    bomb = _zip(tmp_path / "bomb.zip", {"MANIFEST.json": b"{}", "model.skops": bytes(100_000)})
    with pytest.raises(BundleError, match="unpacks to 100002 bytes"):
        mlops.load_bundle(bomb)
    (tmp_path / "notes.txt").write_text("not a zip")
    for path in (tmp_path / "notes.txt", tmp_path / "missing.zip"):
        with pytest.raises(BundleError, match="not a bundle directory or .zip"):
            mlops.load_bundle(path)


def test_a_zip_is_unpacked_once_into_the_cache(honest: Path, tmp_path: Path,
                                               bundle_cache: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    archive = _zip(tmp_path / "b.zip", {p.relative_to(honest).as_posix(): p.read_bytes()
                                        for p in honest.rglob("*") if p.is_file()})
    scratch = tmp_path / "tmp"  # a temp folder of its own: other processes use the shared one
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    for _ in range(3):
        assert mlops.load_bundle(archive).model.coef_[0] == pytest.approx(1.0)
    assert os.listdir(scratch) == []
    assert len(list((bundle_cache / "bundles").iterdir())) == 1


# --- every path that builds a bundle takes the same trust options ---------------------------

SORTER = """%%track sorter
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.linear_model import LinearRegression
model = make_pipeline(FunctionTransformer(np.sort), LinearRegression()).fit(X, y)
"""


def test_promote_export_and_serve_take_trust_options(shell: Shell, store_dir: Path,
                                                     tmp_path: Path) -> None:
    """numpy.sort is not on the allowlist: every door refuses it by name until trusted."""
    shell.run("import numpy as np, pandas as pd\n"
              "X = pd.DataFrame({'a': np.arange(20.0), 'b': np.arange(20.0) % 3})\n"
              "y = X.a * 2")
    assert shell.run(SORTER).result.success
    store = shell.store()
    with pytest.raises(PromotionError, match=r"numpy.sort.*--trust"):
        mlops.promote("sorter", name="sorter", stage="production", store=store)
    refused = shell.run("%mlops promote sorter --name sorter --stage production")
    assert "numpy.sort" in refused.stderr + refused.stdout
    done = shell.run("%mlops promote sorter --name sorter --stage staging --no-verify "
                     "--trust numpy.sort")
    assert done.result.success and "promoted" in done.stdout
    cli = [sys.executable, "-m", "jupyter_mlops.cli", "--store", str(store_dir)]
    exported = subprocess.run([*cli, "export", "sorter@staging", str(tmp_path / "b"), "--zip"],
                              capture_output=True, text=True)
    assert exported.returncode != 0 and "numpy.sort" in exported.stderr
    assert "Traceback" not in exported.stderr
    exported = subprocess.run([*cli, "export", "sorter@staging", str(tmp_path / "b"), "--zip",
                               "--trust", "numpy.sort"], capture_output=True, text=True)
    assert exported.returncode == 0, exported.stderr
    with pytest.raises(BundleError, match="numpy.sort"):  # the loader decides, again
        mlops.load_bundle(tmp_path / "b.zip")
    assert mlops.load_bundle(tmp_path / "b.zip", trusted=["numpy.sort"]).predict(
        shell.ns["X"]).shape == (20,)
    promoted = subprocess.run([*cli, "promote", "sorter", "--name", "sorter", "--stage",
                               "production", "--trust", "numpy.sort"],
                              capture_output=True, text=True, timeout=1200)
    assert promoted.returncode == 0, promoted.stderr  # verified: served with --trust
    verified = [e.detail["verification"] for e in store.events("sorter")
                if e.action == "register" and "verification" in e.detail]
    assert len(verified) == 1 and "served from a fresh virtualenv" in verified[0]
