"""CatBoost (``CatBoostClassifier``/``Regressor``) as a first-class framework: captured by
``%%track`` with its curves, kept as a checked ``.cbm``, bundled with MLflow's ``catboost``
flavor, served, and taken through the whole flow. Fits are tiny (20 iterations, 1 thread)."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import MLflowLoads, Shell
from test_frameworks import DATA

import jupyter_mlops as mlops
from jupyter_mlops.bundle import trust
from jupyter_mlops.errors import BundleError

pytest.importorskip("catboost")

CLASSIFIER = """%%track cat --eval X_test y_test
from catboost import CatBoostClassifier
model = CatBoostClassifier(iterations=20, depth=3, thread_count=1, verbose=False,
                           allow_writing_files=False)
model.fit(X_train, y_train, eval_set=(X_test, y_test), early_stopping_rounds=5)
"""


@pytest.fixture
def data(shell: Shell) -> Shell:
    assert shell.run(DATA).result.success
    return shell


@pytest.fixture
def bundle(data: Shell, tmp_path: Path) -> Path:
    cell = data.run(CLASSIFIER)
    assert cell.result.success, cell.stderr
    return mlops.export_bundle("cat", tmp_path / "cat", store=data.store())


def test_params_curves_best_iteration_and_eval_on_class_labels(bundle: Path,
                                                               data: Shell) -> None:
    store = data.store()
    run = store.get_run("cat")
    model = data.ns["model"]
    assert [e.detail["format"] for e in run.outputs if e.kind == "model"] == ["catboost"]
    assert run.params["iterations"] == 20 and run.params["depth"] == 3
    history = model.get_evals_result()["validation"]["Logloss"]
    curve = [m.value for m in store.metric_history(run.run_id, "validation.Logloss")]
    assert curve == pytest.approx(history)
    assert run.metrics["best_iteration"] == model.best_iteration_
    # --eval with class labels ("churn"/"stay"): CatBoost predicts labels, not codes
    expected = float(np.mean(model.predict(data.ns["X_test"]) == data.ns["y_test"]))
    assert run.metrics["accuracy"] == pytest.approx(expected) and "roc_auc" in run.metrics
    stored = store.load_model("cat")  # the checked .cbm, rebuilt as a classifier
    assert type(stored).__name__ == "CatBoostClassifier"


def test_an_unfitted_model_is_not_an_output(data: Shell) -> None:
    cell = data.run("%%track unfitted\nfrom catboost import CatBoostRegressor\n"
                    "reg = CatBoostRegressor(iterations=20)")
    assert cell.result.success, cell.stderr
    assert "not recorded" not in cell.stdout + cell.stderr
    assert not [e for e in data.store().get_run("unfitted").outputs if e.kind == "model"]


def test_bundle_holds_the_cbm_with_the_catboost_flavor(bundle: Path, data: Shell) -> None:
    flavors = yaml.safe_load((bundle / "MLmodel").read_text())["flavors"]
    assert set(flavors) == {"python_function", "catboost"}
    assert flavors["catboost"] == {**flavors["catboost"], "data": "model.cbm",
                                   "model_type": "CatBoostClassifier", "save_format": "cbm"}
    assert (bundle / "model.cbm").read_bytes().startswith(b"CBM1")
    assert any(r.startswith("catboost==") for r in
               (bundle / "requirements.txt").read_text().split())
    X = data.ns["X_test"]
    assert mlops.load_bundle(bundle).predict(X).tolist() == data.ns["model"].predict(X).tolist()
    schema = json.loads((bundle / "schema.json").read_text())
    assert [c["name"] for c in schema["columns"]] == ["age", "income", "score"]


def _core_too_long(data: bytes) -> bytes:
    return data[:4] + struct.pack("<I", len(data)) + data[8:]


CRAFTED = {
    "no magic": lambda data: b"PK\x03\x04" + data[4:],
    "core longer than the file": _core_too_long,
    "truncated": lambda data: data[:len(data) // 2],
}


@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_a_crafted_cbm_is_refused_by_every_loader(name: str, bundle: Path) -> None:
    from malicious import rehash

    (bundle / "model.cbm").write_bytes(CRAFTED[name]((bundle / "model.cbm").read_bytes()))
    rehash(bundle)
    with pytest.raises(BundleError, match="refused"):
        mlops.load_bundle(bundle)
    if name == "no magic":  # the real server refuses the same way
        done = subprocess.run([sys.executable, str(bundle / "serve.py"), "--port", "1"],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and "refused" in done.stderr, done.stderr[-2000:]
        assert "Traceback" not in done.stderr


def test_a_pipeline_ending_in_catboost_checks_its_cbm_before_it_is_built(data: Shell) -> None:
    import skops.io as sio

    cell = data.run("%%track pipe\nfrom catboost import CatBoostRegressor\n"
                    "from sklearn.pipeline import make_pipeline\n"
                    "from sklearn.preprocessing import StandardScaler\n"
                    "pipe = make_pipeline(StandardScaler(), CatBoostRegressor(iterations=20, "
                    "thread_count=1, verbose=False, allow_writing_files=False))\n"
                    "pipe.fit(X_train, X_train.income)")
    assert cell.result.success, cell.stderr
    X = data.ns["X_test"]
    payload = sio.dumps(data.ns["pipe"])
    np.testing.assert_allclose(trust.load(payload, "model.skops").predict(X),
                               data.ns["pipe"].predict(X))
    model = data.ns["pipe"][-1]
    state = model.__getstate__()
    model.__getstate__ = lambda: {**state, "__model": b"XXXX" + state["__model"][4:]}
    with pytest.raises(trust.ModelRefused, match="CBM1"):
        trust.load(sio.dumps(data.ns["pipe"]), "model.skops")


def test_mlflow_loads_the_bundle_by_pyfunc_and_natively(mlflow_loads: MLflowLoads,
                                                        bundle: Path, data: Shell) -> None:
    rows = data.ns["X_test"].head(5)
    [loaded] = mlflow_loads("catboost", [bundle], rows)
    labels = data.ns["model"].predict(rows).ravel().tolist()
    assert np.ravel(loaded.pyfunc).tolist() == np.ravel(loaded.native).tolist() == labels
    assert loaded.native_class == "CatBoostClassifier"


def test_whole_flow_registry_gate_production_monitor_retrain(data: Shell) -> None:
    """Registry, metric gate, production, champion gate, monitor
    and retrain take a CatBoost classifier unchanged."""
    assert data.run(CLASSIFIER).result.success
    store = data.store()
    version = mlops.promote("cat", name="churn-cat", stage="production",
                            gate="accuracy >= 0.7", reason="test", verify=False, store=store)
    assert version.stage == "production"  # verified in a fresh virtualenv: test_fresh_venv_...
    ns = data.ns
    watched = mlops.monitor("churn-cat@production", ns["X_test"], labels=ns["y_test"],
                            store=store)
    assert watched.performance["accuracy"]["current"] > 0.7
    new = mlops.retrain("cat", data={"X_train": ns["frame"], "y_train": ns["label"]},
                        gate="champion", promote_to="production", verify=False, store=store)
    assert new.parent_run_id == store.get_run("cat").run_id
    assert "roc_auc" in new.metrics and new.params["iterations"] == 20
    assert new.tags["promotion"]


def test_fresh_venv_serves_the_xgboost_and_catboost_bundles(bundle: Path, data: Shell,
                                                             tmp_path: Path) -> None:
    """What promotion's verification does for each bundle (serve.py in a fresh virtualenv,
    answers compared with the kernel's model), sharing one install of both requirements:
    the two frameworks' wheels are large (XGBoost pulls NCCL)."""
    from test_frameworks_xgboost import BOOSTER

    from jupyter_mlops.bundle.verify import verify_bundle

    assert data.run(BOOSTER).result.success
    boosted = mlops.export_bundle("xgbooster", tmp_path / "xgbooster", store=data.store())
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    done = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                           "--disable-pip-version-check", "-r", str(bundle / "requirements.txt"),
                           "-r", str(boosted / "requirements.txt")],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    for path, model in ((bundle, data.ns["model"]), (boosted, data.ns["booster"])):
        outcome = verify_bundle(path, model, python=venv / "bin" / "python")
        assert outcome.ok, outcome.detail
        assert "served from a fresh virtualenv" in outcome.detail


def test_train_py_replays_the_model(bundle: Path, data: Shell, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(bundle / "train.py"), "--output",
                           str(tmp_path / "again.skops")], capture_output=True, text=True,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    again = trust.load((tmp_path / "again.skops").read_bytes(), "again")  # .cbm checked first
    X = data.ns["X_test"]
    assert again.predict(X).tolist() == data.ns["model"].predict(X).tolist()
