"""XGBoost (sklearn API and ``xgb.train`` Boosters) as a first-class framework: captured by
``%%track`` with its curves, kept as checked UBJSON, bundled with MLflow's ``xgboost`` flavor,
served, replayed, and taken through the whole flow."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from conftest import MLflowLoads, Shell
from test_frameworks import DATA

import jupyter_mlops as mlops
from jupyter_mlops.bundle import trust
from jupyter_mlops.errors import BundleError
from jupyter_mlops.frameworks import xgboost as framework

pytest.importorskip("xgboost")

SKLEARN_API = """%%track xgbc --eval X_test e_test
import xgboost as xgb
model = xgb.XGBClassifier(n_estimators=60, max_depth=3, learning_rate=0.2,
                          early_stopping_rounds=5, n_jobs=1)
model.fit(X_train, e_train, eval_set=[(X_test, e_test)], verbose=False)
"""
BOOSTER = """%%track xgbooster --eval X_test e_test
import xgboost as xgb
booster = xgb.train({"objective": "binary:logistic", "eta": 0.2, "max_depth": 3,
                     "nthread": 1}, xgb.DMatrix(X_train, e_train), num_boost_round=40,
                    evals=[(xgb.DMatrix(X_test, e_test), "test")], early_stopping_rounds=5,
                    verbose_eval=False)
"""


@pytest.fixture
def data(shell: Shell) -> Shell:
    assert shell.run(DATA).result.success
    return shell


def _curve(store: mlops.Store, run_id: str, key: str) -> list[float]:
    return [m.value for m in store.metric_history(run_id, key)]


def _mlmodel(bundle: Path) -> dict[str, Any]:
    return yaml.safe_load((bundle / "MLmodel").read_text())


def test_sklearn_api_params_curves_best_iteration_and_eval(data: Shell) -> None:
    cell = data.run(SKLEARN_API)
    assert cell.result.success, cell.stderr
    store = data.store()
    run = store.get_run("xgbc")
    model = data.ns["model"]
    assert [e.detail["format"] for e in run.outputs if e.kind == "model"] == ["xgboost"]
    assert run.params["n_estimators"] == 60 and run.params["max_depth"] == 3
    history = model.evals_result()["validation_0"]["logloss"]
    assert _curve(store, run.run_id, "validation_0.logloss") == pytest.approx(history)
    assert run.metrics["best_iteration"] == model.best_iteration < len(history) - 1
    expected = float(np.mean(model.predict(data.ns["X_test"]) == data.ns["e_test"]))
    assert run.metrics["accuracy"] == pytest.approx(expected) and "roc_auc" in run.metrics
    stored = store.load_model("xgbc")  # checked UBJSON, rebuilt as the same class
    assert type(stored).__name__ == "XGBClassifier"
    assert stored.get_params()["n_jobs"] == 1 and stored.n_estimators == 60  # kept in the file
    np.testing.assert_allclose(stored.predict_proba(data.ns["X_test"]),
                               model.predict_proba(data.ns["X_test"]))


def test_eval_on_class_names_loses_only_the_eval_metrics_and_says_why(data: Shell) -> None:
    """Issue 16: a model trained on encoded labels, ``--eval`` given the class names."""
    cell = data.run("%%track names --eval X_test y_test\nimport xgboost as xgb\n"
                    "model = xgb.XGBClassifier(n_estimators=10, n_jobs=1).fit(X_train, e_train)\n"
                    "xgb_acc = float((model.predict(X_test) == e_test).mean())")
    assert cell.result.success, cell.stderr
    run = data.store().get_run("names")
    assert set(run.metrics) == {"xgb_acc"}
    assert "--eval X_test y_test could not score the model" in cell.stdout + cell.stderr
    assert "labels like 0, 1 but the given labels are like 'churn', 'stay'" in \
        cell.stdout + cell.stderr


def test_xgb_train_booster_arguments_curves_and_eval(data: Shell) -> None:
    cell = data.run(BOOSTER)
    assert cell.result.success, cell.stderr
    store = data.store()
    run = store.get_run("xgbooster")
    booster = data.ns["booster"]
    [entity] = [e for e in run.outputs if e.kind == "model"]
    assert entity.name == "xgbooster" or entity.name == "booster"
    assert run.params["objective"] == "binary:logistic" and run.params["eta"] == 0.2
    assert run.params["num_boost_round"] == 40 and run.params["evals"] == 1
    assert run.params["early_stopping_rounds"] == 5
    curve = _curve(store, run.run_id, "test.logloss")
    assert len(curve) > booster.best_iteration >= 0
    assert run.metrics["best_iteration"] == booster.best_iteration
    import xgboost

    probability = booster.predict(xgboost.DMatrix(data.ns["X_test"]))
    expected = float(np.mean((probability > 0.5).astype(int) == data.ns["e_test"]))
    assert run.metrics["accuracy"] == pytest.approx(expected)
    np.testing.assert_allclose(
        store.load_model("xgbooster").predict(xgboost.DMatrix(data.ns["X_test"])), probability)
    assert xgboost.train is xgboost.training.train  # the observer is gone after the cell


def test_a_model_fitted_in_place_is_an_output(data: Shell) -> None:
    assert data.run("import xgboost as xgb\n"
                    "reg = xgb.XGBRegressor(n_estimators=10, n_jobs=1)").result.success
    cell = data.run("%%track inplace\nreg.fit(X_train, X_train.income)")
    assert cell.result.success, cell.stderr
    run = data.store().get_run("inplace")
    assert [e.name for e in run.outputs if e.kind == "model"] == ["reg"]
    assert run.params["n_estimators"] == 10


@pytest.fixture
def sklearn_bundle(data: Shell, tmp_path: Path) -> Path:
    assert data.run(SKLEARN_API).result.success
    return mlops.export_bundle("xgbc", tmp_path / "xgbc", store=data.store())


@pytest.fixture
def booster_bundle(data: Shell, tmp_path: Path) -> Path:
    assert data.run(BOOSTER).result.success
    return mlops.export_bundle("xgbooster", tmp_path / "xgbooster", store=data.store())


def test_bundles_hold_ubjson_with_the_xgboost_flavor(sklearn_bundle: Path,
                                                     booster_bundle: Path,
                                                     data: Shell) -> None:
    X = data.ns["X_test"]
    for bundle, cls in ((sklearn_bundle, "xgboost.sklearn.XGBClassifier"),
                        (booster_bundle, "xgboost.core.Booster")):
        flavors = _mlmodel(bundle)["flavors"]
        assert set(flavors) == {"python_function", "xgboost"}
        assert flavors["xgboost"] == {**flavors["xgboost"], "data": "model.ubj",
                                      "model_class": cls, "model_format": "ubj"}
        assert not (bundle / "model.skops").exists()
        assert any(r.startswith("xgboost==") for r in
                   (bundle / "requirements.txt").read_text().split())
        assert (bundle / "code" / "mlops_xgboost.py").is_file()
    assert mlops.load_bundle(sklearn_bundle).predict(X).tolist() == \
        data.ns["model"].predict(X).tolist()
    import xgboost

    np.testing.assert_allclose(mlops.load_bundle(booster_bundle).predict(X),
                               data.ns["booster"].predict(xgboost.DMatrix(X)))
    schema = json.loads((booster_bundle / "schema.json").read_text())
    assert [c["name"] for c in schema["columns"]] == ["age", "income", "score"]


def test_a_pipeline_ending_in_xgboost_is_skops_checked_before_it_is_built(
        data: Shell, tmp_path: Path) -> None:
    import skops.io as sio

    cell = data.run("%%track pipe\nimport xgboost as xgb\n"
                    "from sklearn.pipeline import make_pipeline\n"
                    "from sklearn.preprocessing import StandardScaler\n"
                    "pipe = make_pipeline(StandardScaler(), xgb.XGBClassifier(n_estimators=10,"
                    " n_jobs=1)).fit(X_train, e_train)")
    assert cell.result.success, cell.stderr
    bundle = mlops.export_bundle("pipe", tmp_path / "pipe", store=data.store())
    assert set(_mlmodel(bundle)["flavors"]) == {"python_function", "sklearn"}
    X = data.ns["X_test"]
    assert mlops.load_bundle(bundle).predict(X).tolist() == data.ns["pipe"].predict(X).tolist()
    # the UBJSON inside the skops file is checked before skops builds the Booster
    booster = data.ns["pipe"][-1].get_booster()
    state = booster.__getstate__()
    document = framework.decode(state["handle"], "honest")
    _tree(document["Model"], 0)["left_children"][0] = 99
    booster.__getstate__ = lambda: {**state, "handle": bytearray(_ubj(document))}
    with pytest.raises(trust.ModelRefused, match="node links"):
        trust.load(sio.dumps(data.ns["pipe"]), "model.skops")


# --- crafted UBJSON is refused before XGBoost parses it -------------------------------------
_MARKERS = {"i1": b"i", "u1": b"U", "i2": b"I", "i4": b"l", "i8": b"L", "f4": b"d", "f8": b"D"}


def _ubj(value: Any) -> bytes:
    """UBJSON as XGBoost writes it (what an attacker would write)."""
    def length(n: int) -> bytes:
        return b"L" + struct.pack(">q", n)

    if isinstance(value, dict):
        return b"{" + b"".join(length(len(k.encode())) + k.encode() + _ubj(v)
                               for k, v in value.items()) + b"}"
    if isinstance(value, np.ndarray):
        return (b"[$" + _MARKERS[value.dtype.str[1:]] + b"#" + length(value.size)
                + value.astype(value.dtype.newbyteorder(">")).tobytes())
    if isinstance(value, list):
        return b"[" + b"".join(_ubj(v) for v in value) + b"]"
    if isinstance(value, str):
        return b"S" + length(len(value.encode())) + value.encode()
    if isinstance(value, bool):
        return b"T" if value else b"F"
    if isinstance(value, int):
        return b"L" + struct.pack(">q", value)
    if isinstance(value, float):
        return b"D" + struct.pack(">d", value)
    assert value is None
    return b"Z"


def _tree(document: dict[str, Any], index: int) -> dict[str, Any]:
    trees = document["learner"]["gradient_booster"]["model"]["trees"]
    tree = trees[index]
    for key, values in tree.items():  # writable copies
        if isinstance(values, np.ndarray):
            tree[key] = values.copy()
    return tree


def _set(key: str, value: int, tree: int = 0) -> Any:
    def craft(document: dict[str, Any]) -> bytes:
        _tree(document, tree)[key][0] = value
        return _ubj(document)

    return craft


def _tables(document: dict[str, Any]) -> bytes:
    document["learner"]["gradient_booster"]["model"]["gbtree_model_param"]["num_trees"] = "99"
    return _ubj(document)


def _shapeless(document: dict[str, Any]) -> bytes:
    document["learner"]["learner_model_param"] = ["not", "an", "object"]
    return _ubj(document)


CRAFTED = {
    "a header of the wrong shape": _shapeless,
    "child out of range": _set("left_children", 99),
    "child pointing back": _set("right_children", 0, tree=1),
    "feature out of range": _set("split_indices", 7),
    "tree count that lies": _tables,
    "bytes after the model": lambda document: _ubj(document) + b"Z",
    "truncated": lambda document: _ubj(document)[:-40],
    "nested too deep": lambda document: b"{L\x00\x00\x00\x00\x00\x00\x00\x07learner"
    + b"[" * 40 + b"]" * 40 + b"}",
}


@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_crafted_ubjson_is_refused_by_every_loader(name: str, booster_bundle: Path) -> None:
    from malicious import rehash

    honest = (booster_bundle / "model.ubj").read_bytes()
    framework.load(_ubj(framework.decode(honest, "honest")), "re-encoded")  # XGBoost reads it
    crafted = CRAFTED[name](framework.decode(honest, "honest"))
    (booster_bundle / "model.ubj").write_bytes(crafted)
    rehash(booster_bundle)
    with pytest.raises(BundleError, match="refused"):
        mlops.load_bundle(booster_bundle)
    if name in ("child out of range", "truncated"):  # the real server refuses the same way
        done = subprocess.run([sys.executable, str(booster_bundle / "serve.py"), "--port", "1"],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and "refused" in done.stderr, done.stderr[-2000:]
        assert "Traceback" not in done.stderr


def test_a_file_cannot_choose_the_class_it_is_built_as(sklearn_bundle: Path) -> None:
    from malicious import rehash

    document = framework.decode((sklearn_bundle / "model.ubj").read_bytes(), "honest")
    document["learner"]["attributes"]["scikit_learn"] = json.dumps(
        {"_estimator_type": "classifier", "class": "os.system"})
    (sklearn_bundle / "model.ubj").write_bytes(_ubj(document))
    rehash(sklearn_bundle)
    with pytest.raises(BundleError, match="'os.system', not one of"):
        mlops.load_bundle(sklearn_bundle)


# --- MLflow, serving, replay, the whole flow --------------------------------------------------


def test_mlflow_loads_both_bundles_by_pyfunc_and_natively(mlflow_loads: MLflowLoads,
                                                          sklearn_bundle: Path,
                                                          booster_bundle: Path,
                                                          data: Shell) -> None:
    rows = data.ns["X_test"].head(5)
    first, second = mlflow_loads("xgboost", [sklearn_bundle, booster_bundle], rows)
    labels = data.ns["model"].predict(rows).tolist()
    assert (first.pyfunc, first.native, first.native_class) == (labels, labels,
                                                                "XGBClassifier")
    import xgboost

    probability = data.ns["booster"].predict(xgboost.DMatrix(rows))
    np.testing.assert_allclose(second.pyfunc, probability, rtol=1e-6)
    np.testing.assert_allclose(second.native, probability, rtol=1e-6)
    assert second.native_class == "Booster"


def test_train_py_replays_the_booster(booster_bundle: Path, data: Shell,
                                      tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(booster_bundle / "train.py"), "--output",
                           str(tmp_path / "again.skops")], capture_output=True, text=True,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    again = trust.load((tmp_path / "again.skops").read_bytes(), "again")
    import xgboost

    X = xgboost.DMatrix(data.ns["X_test"])
    np.testing.assert_allclose(again.predict(X), data.ns["booster"].predict(X))


def test_whole_flow_registry_gate_production_monitor_retrain(data: Shell) -> None:
    """Registry, metric gate, production, champion gate, monitor
    and retrain take an XGBoost Booster unchanged."""
    assert data.run(BOOSTER).result.success
    store = data.store()
    version = mlops.promote("xgbooster", name="churn-xgb", stage="production",
                            gate="accuracy >= 0.7", reason="test", verify=False, store=store)
    assert version.stage == "production"  # verified in a fresh virtualenv: test_fresh_venv_...
    ns = data.ns
    watched = mlops.monitor("churn-xgb@production", ns["X_test"], labels=ns["e_test"],
                            store=store)
    assert watched.performance["accuracy"]["current"] > 0.7  # probabilities scored as 0/1
    new = mlops.retrain("xgbooster", data={"X_train": ns["frame"], "e_train": ns["encoded"]},
                        gate="champion", promote_to="production", verify=False, store=store)
    assert new.parent_run_id == store.get_run("xgbooster").run_id
    assert "roc_auc" in new.metrics and new.params["objective"] == "binary:logistic"
    # the champion gate scored both Boosters as classifiers (roc_auc is the primary metric)
    decision = [json.dumps(e.detail, default=str) for e in store.events("churn-xgb")
                if e.detail.get("run_id", "") == new.run_id or "champion" in json.dumps(
                    e.detail, default=str)]
    assert any("roc_auc" in text for text in decision), decision
