"""LightGBM (sklearn API and ``lgb.train`` Boosters) as a first-class framework: captured by
``%%track`` with its curves, stored and bundled in safe formats (native model text, skops
with exact types), checked before it is parsed, loaded by MLflow, served, replayed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import MLflowLoads, Shell

import jupyter_mlops as mlops
from jupyter_mlops.bundle import trust
from jupyter_mlops.errors import BundleError

pytest.importorskip("lightgbm")

DATA = """
import numpy as np, pandas as pd
rng = np.random.default_rng(0)
n = 600
frame = pd.DataFrame({"age": rng.integers(18, 80, n).astype(float),
                      "income": rng.normal(50_000, 15_000, n),
                      "score": rng.normal(0, 1, n)})
label = np.where((frame.income > 50_000) & (frame.score > -0.5), "churn", "stay")
encoded = (label == "churn").astype(int)
X_train, X_test = frame.iloc[:400], frame.iloc[400:]
y_train, y_test = label[:400], label[400:]
e_train, e_test = encoded[:400], encoded[400:]
"""
SKLEARN_API = """%%track lgbm --eval X_test y_test
import lightgbm as lgb
model = lgb.LGBMClassifier(n_estimators=60, learning_rate=0.1, verbose=-1)
model.fit(X_train, y_train, eval_set=[(X_test, y_test)],
          callbacks=[lgb.early_stopping(5, verbose=False)])
"""
BOOSTER = """%%track booster --eval X_test e_test
import lightgbm as lgb
booster = lgb.train({"objective": "binary", "learning_rate": 0.1, "verbose": -1},
                    lgb.Dataset(X_train, e_train), num_boost_round=30)
"""


@pytest.fixture
def data(shell: Shell) -> Shell:
    assert shell.run(DATA).result.success
    return shell


def _curve(store: mlops.Store, run_id: str, key: str) -> list[tuple[int, float]]:
    return [(int(m.step), m.value) for m in store.metric_history(run_id, key)]


def test_sklearn_api_model_params_curves_and_eval(data: Shell) -> None:
    cell = data.run(SKLEARN_API)
    assert cell.result.success, cell.stderr
    run = data.store().get_run("lgbm")
    model = data.ns["model"]
    assert [e.detail["format"] for e in run.outputs if e.kind == "model"] == ["skops"]
    assert run.params["n_estimators"] == 60 and run.params["learning_rate"] == 0.1
    history = model.evals_result_["valid_0"]["binary_logloss"]
    curve = _curve(data.store(), run.run_id, "valid_0.binary_logloss")
    assert curve == [(i, pytest.approx(v)) for i, v in enumerate(history)]
    assert run.metrics["best_iteration"] == model.best_iteration_ > 0
    # --eval with class labels ("churn"/"stay"): the model predicts labels, not codes
    expected = float(np.mean(model.predict(data.ns["X_test"]) == data.ns["y_test"]))
    assert run.metrics["accuracy"] == pytest.approx(expected)
    assert "roc_auc" in run.metrics


def test_booster_is_found_with_its_params_and_scored_on_encoded_labels(data: Shell) -> None:
    cell = data.run(BOOSTER)
    assert cell.result.success, cell.stderr
    run = data.store().get_run("booster")
    [entity] = [e for e in run.outputs if e.kind == "model"]
    assert entity.name == "booster" and entity.detail["format"] == "lightgbm"
    assert run.params["objective"] == "binary" and run.params["learning_rate"] == 0.1
    probability = data.ns["booster"].predict(data.ns["X_test"])
    expected = float(np.mean((probability > 0.5).astype(int) == data.ns["e_test"]))
    assert run.metrics["accuracy"] == pytest.approx(expected)
    assert run.metrics["roc_auc"] > 0.8
    stored = data.store().load_model("booster")  # native model text, parsed after checks
    np.testing.assert_allclose(stored.predict(data.ns["X_test"]), probability)


def test_lgb_train_arguments_curves_and_training_data_are_observed(data: Shell) -> None:
    cell = data.run("""%%track curves
import lightgbm as lgb
evaluated = lgb.Dataset(X_test, e_test)
booster = lgb.train({"objective": "binary", "verbose": -1},
                    lgb.Dataset(X_train.assign(extra=1.0).drop(columns="extra"), e_train),
                    num_boost_round=80, valid_sets=[evaluated], valid_names=["test"],
                    callbacks=[lgb.early_stopping(5, verbose=False)])
""")
    assert cell.result.success, cell.stderr
    store = data.store()
    run = store.get_run("curves")
    booster = data.ns["booster"]
    assert run.params["num_boost_round"] == 80 and run.params["valid_sets"] == 1
    curve = _curve(store, run.run_id, "test.binary_logloss")
    assert len(curve) > booster.best_iteration > 0  # every iteration, until it stopped
    assert curve[booster.best_iteration - 1][1] == pytest.approx(
        booster.best_score["test"]["binary_logloss"])
    assert run.metrics["best_iteration"] == booster.best_iteration
    # the data built inside the call is what the Booster was fitted on
    [fitted] = [e for e in run.inputs if e.detail.get("fit_of") == "booster"]
    assert fitted.detail["shape"] == [400, 3]
    # the wrapper is gone after the cell; LightGBM's sklearn API was never observed
    import lightgbm

    assert lightgbm.train is lightgbm.engine.train


def test_a_model_fitted_in_place_is_an_output(data: Shell) -> None:
    assert data.run("import lightgbm as lgb\n"
                    "reg = lgb.LGBMRegressor(n_estimators=20, verbose=-1)").result.success
    cell = data.run("%%track inplace\nreg.fit(X_train, X_train.income)")
    assert cell.result.success, cell.stderr
    run = data.store().get_run("inplace")
    assert [e.name for e in run.outputs if e.kind == "model"] == ["reg"]
    assert run.params["n_estimators"] == 20


def test_recording_makes_the_model_text_once_and_refits_are_seen(
        data: Shell, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fingerprinting and storing a model each serialize it: the Booster's model text (the
    costly part) is made once per recorder step, never reused across the user's code."""
    import lightgbm

    original = lightgbm.basic.Booster.model_to_string
    calls: list[int] = []

    def counted(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(id(self))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(lightgbm.basic.Booster, "model_to_string", counted)
    assert data.run("import lightgbm as lgb\n"
                    "reg = lgb.LGBMRegressor(n_estimators=20, verbose=-1)").result.success
    assert data.run("reg.fit(X_train, X_train.income)").result.success
    fitting = len(calls)  # LightGBM's own train() makes the text too
    assert data.run("reg = lgb.LGBMRegressor(n_estimators=20, verbose=-1)").result.success
    calls.clear()
    assert data.run("%%track first\nreg.fit(X_train, X_train.income)").result.success
    assert len(calls) == fitting + 1  # fingerprint (pickle) and skops share one text
    cell = data.run("%%track again\nreg.fit(X_test, X_test.income)")  # refit in place
    assert cell.result.success, cell.stderr
    store = data.store()
    first, again = (next(e for e in store.get_run(r).outputs if e.kind == "model")
                    for r in ("first", "again"))
    assert first.fingerprint != again.fingerprint
    assert lightgbm.basic.Booster.model_to_string is counted  # put back after each step


@pytest.fixture
def sklearn_bundle(data: Shell, tmp_path: Path) -> Path:
    assert data.run(SKLEARN_API).result.success
    return mlops.export_bundle("lgbm", tmp_path / "lgbm", store=data.store())


@pytest.fixture
def booster_bundle(data: Shell, tmp_path: Path) -> Path:
    assert data.run(BOOSTER).result.success
    return mlops.export_bundle("booster", tmp_path / "booster", store=data.store())


def _mlmodel(bundle: Path) -> dict:
    return yaml.safe_load((bundle / "MLmodel").read_text())


def test_sklearn_api_bundle_is_skops_with_the_lightgbm_flavor(sklearn_bundle: Path,
                                                              data: Shell) -> None:
    flavors = _mlmodel(sklearn_bundle)["flavors"]
    assert set(flavors) == {"python_function", "sklearn", "lightgbm"}
    assert flavors["lightgbm"]["model_class"] == "lightgbm.sklearn.LGBMClassifier"
    assert flavors["lightgbm"]["data"] == "model.skops"
    assert (sklearn_bundle / "model.skops").is_file()
    assert any(r.startswith("lightgbm==") for r in
               (sklearn_bundle / "requirements.txt").read_text().split())
    loaded = mlops.load_bundle(sklearn_bundle)  # no trusted=: the loader's allowlist has it
    X = data.ns["X_test"]
    assert loaded.predict(X).tolist() == data.ns["model"].predict(X).tolist()


def test_booster_bundle_holds_model_text_not_skops(booster_bundle: Path, data: Shell) -> None:
    flavors = _mlmodel(booster_bundle)["flavors"]
    assert set(flavors) == {"python_function", "lightgbm"}
    assert flavors["lightgbm"] == {**flavors["lightgbm"], "data": "model.lgb",
                                   "model_class": "lightgbm.basic.Booster"}
    assert not (booster_bundle / "model.skops").exists()
    assert (booster_bundle / "model.lgb").read_text().startswith("tree\n")
    loaded = mlops.load_bundle(booster_bundle)
    X = data.ns["X_test"]
    np.testing.assert_allclose(loaded.predict(X), data.ns["booster"].predict(X))
    schema = json.loads((booster_bundle / "schema.json").read_text())
    assert [c["name"] for c in schema["columns"]] == ["age", "income", "score"]


def test_a_pipeline_ending_in_lightgbm_exports_without_trusted(data: Shell,
                                                             tmp_path: Path) -> None:
    cell = data.run("%%track pipe\nimport lightgbm as lgb\n"
                    "from sklearn.pipeline import make_pipeline\n"
                    "from sklearn.preprocessing import StandardScaler\n"
                    "pipe = make_pipeline(StandardScaler(), lgb.LGBMClassifier(n_estimators=10,"
                    " verbose=-1)).fit(X_train, y_train)")
    assert cell.result.success, cell.stderr
    bundle = mlops.export_bundle("pipe", tmp_path / "pipe", store=data.store())
    assert set(_mlmodel(bundle)["flavors"]) == {"python_function", "sklearn"}
    X = data.ns["X_test"]
    assert mlops.load_bundle(bundle).predict(X).tolist() == data.ns["pipe"].predict(X).tolist()


# --- crafted model text is refused before LightGBM parses it ------------------------------


def _retext(text: str, tree: int, key: str, first: str) -> str:
    """``text`` with the first value of ``key`` in tree ``tree`` replaced by ``first``."""
    start = text.index(f"Tree={tree}\n")
    line = text.index(f"\n{key}=", start) + 1
    end = text.index("\n", line)
    values = text[line:end].split("=", 1)[1].split(" ")
    return text[:line] + f"{key}={' '.join([first, *values[1:]])}" + text[end:]


def _sizes_dropped(text: str) -> str:
    return "\n".join(line for line in text.split("\n") if not line.startswith("tree_sizes="))


CRAFTED = {
    "child out of range": lambda t: _sizes_dropped(_retext(t, 0, "left_child", "99")),
    "child pointing back": lambda t: _sizes_dropped(_retext(t, 1, "right_child", "0")),
    "leaf out of range": lambda t: _sizes_dropped(_retext(t, 1, "right_child", "-99")),
    "feature out of range": lambda t: _sizes_dropped(_retext(t, 2, "split_feature", "7")),
    "tree sizes that lie": lambda t: t.replace("tree_sizes=", "tree_sizes=99999 ", 1),
}


@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_crafted_model_text_is_refused_by_every_loader(name: str, booster_bundle: Path,
                                                       data: Shell) -> None:
    from malicious import rehash

    honest = (booster_bundle / "model.lgb").read_text()
    crafted = CRAFTED[name](honest)
    assert crafted != honest
    (booster_bundle / "model.lgb").write_text(crafted)
    rehash(booster_bundle)
    with pytest.raises(BundleError, match="refused"):
        mlops.load_bundle(booster_bundle)
    done = subprocess.run([sys.executable, str(booster_bundle / "serve.py"), "--port", "1"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "refused" in done.stderr, done.stderr[-2000:]
    assert "Traceback" not in done.stderr


def test_crafted_text_inside_a_skops_file_is_refused_before_it_is_built(data: Shell) -> None:
    import skops.io as sio

    assert data.run(BOOSTER).result.success
    honest = data.ns["booster"].model_to_string()
    crafted = _sizes_dropped(_retext(honest, 0, "left_child", "99"))
    model = data.ns["booster"]
    state = model.__getstate__()
    model.__getstate__ = lambda: {**state, "_handle": crafted}  # what an attacker can write
    payload = sio.dumps(model)
    with pytest.raises(trust.ModelRefused, match="node links"):
        trust.load(payload, "model.skops")
    # the text hidden in another type than a plain string is not parsed unchecked either
    model.__getstate__ = lambda: {**state, "_handle": np.array([crafted])}
    with pytest.raises(trust.ModelRefused, match="without model text"):
        trust.load(sio.dumps(model), "model.skops")


# --- MLflow, serving, replay ------------------------------------------------------------------


def test_mlflow_loads_both_bundles_by_pyfunc_and_natively(mlflow_loads: MLflowLoads,
                                                          sklearn_bundle: Path,
                                                          booster_bundle: Path,
                                                          data: Shell) -> None:
    rows = data.ns["X_test"].head(5)
    first, second = mlflow_loads("lightgbm", [sklearn_bundle, booster_bundle], rows)
    labels = data.ns["model"].predict(rows).tolist()
    assert (first.pyfunc, first.native, first.native_class) == (labels, labels,
                                                                "LGBMClassifier")
    probability = data.ns["booster"].predict(rows)
    np.testing.assert_allclose(second.pyfunc, probability)
    np.testing.assert_allclose(second.native, probability)
    assert second.native_class == "Booster"


def test_train_py_replays_the_booster(booster_bundle: Path, data: Shell,
                                      tmp_path: Path) -> None:
    import skops.io as sio

    done = subprocess.run([sys.executable, str(booster_bundle / "train.py"), "--output",
                           str(tmp_path / "again.skops")], capture_output=True, text=True,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    again = trust.load((tmp_path / "again.skops").read_bytes(), "again")
    X = data.ns["X_test"]
    np.testing.assert_allclose(again.predict(X), data.ns["booster"].predict(X))
    assert sio  # skops wrote it: the Booster inside is its model text


def test_whole_flow_registry_gate_production_monitor_retrain(data: Shell) -> None:
    """Registry, metric gate, production (fresh-venv verification), monitor and retrain
    take a LightGBM Booster unchanged."""
    assert data.run(BOOSTER).result.success
    store = data.store()
    version = mlops.promote("booster", name="churn-lgb", stage="production",
                            gate="accuracy >= 0.7", reason="test", store=store)
    assert version.stage == "production"
    register = next(e for e in store.events("churn-lgb") if e.action == "register")
    assert "served from a fresh virtualenv" in register.detail["verification"]
    ns = data.ns
    watched = mlops.monitor("churn-lgb@production", ns["X_test"], labels=ns["e_test"],
                            store=store)
    assert watched.performance["accuracy"]["current"] > 0.7  # probabilities scored as 0/1
    new = mlops.retrain("booster", data={"X_train": ns["frame"], "e_train": ns["encoded"]},
                        gate="champion", promote_to="production", verify=False, store=store)
    assert new.parent_run_id == store.get_run("booster").run_id
    assert "roc_auc" in new.metrics and new.params["objective"] == "binary"
    assert "roc_auc decided" in new.tags["promotion"]  # both Boosters scored as classifiers
