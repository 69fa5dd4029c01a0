"""Deployment bundles: layout, integrity, types, train.py replay, MLflow and HTTP serving."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import Shell
from processes import stop

import jupyter_mlops as mlops
from jupyter_mlops.bundle.verify import free_port, post_json, verify_bundle, wait_until_healthy
from jupyter_mlops.errors import BundleError

FILES = {"MLmodel", "model.skops", "requirements.txt", "python_env.yaml", "input_example.json",
         "serving_input_example.json", "schema.json", "reference_profile.json", "model_card.md",
         "lineage.json", "serve.py", "train.py", "MANIFEST.json", "code/mlops_trust.py",
         "code/mlops_pyfunc.py", "code/mlops_frameworks.py", "code/mlops_boosting.py",
         "code/mlops_lightgbm.py", "code/mlops_xgboost.py", "code/mlops_catboost.py",
         "code/mlops_pytorch.py"}

DATA = """
import numpy as np, pandas as pd
rng = np.random.default_rng(0)
n = 400
frame = pd.DataFrame({
    "age": rng.integers(18, 80, n),
    "income": rng.normal(50_000, 15_000, n),
    "city": rng.choice(["paris", "lyon", "nice"], n),
})
target = ((frame.income > 50_000) & (frame.city != "nice")).astype(int)
"""
TRAIN = """%%track churn --eval frame target
import jupyter_mlops as mlops
from sklearn.compose import make_column_transformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
n_trees = 30
model = make_pipeline(
    make_column_transformer((OneHotEncoder(), ["city"]), remainder="passthrough"),
    RandomForestClassifier(n_estimators=n_trees, random_state=0),
).fit(frame, target)
mlops.log_metric("train_acc", model.score(frame, target))
"""


@pytest.fixture
def churn(shell: Shell) -> Shell:
    assert shell.run(DATA).result.success
    assert shell.run(TRAIN).result.success
    return shell


@pytest.fixture
def bundle(churn: Shell, tmp_path: Path) -> Path:
    version = mlops.promote("churn", name="churn", stage="staging", reason="test",
                            store=churn.store())
    return mlops.export_bundle(version, tmp_path / "bundle", store=churn.store())


def test_layout_manifest_and_metadata(bundle: Path, churn: Shell) -> None:
    assert {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()} == FILES
    manifest = json.loads((bundle / "MANIFEST.json").read_text())
    assert manifest["format_version"] == 1 and set(manifest["files"]) == FILES - {"MANIFEST.json"}
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((bundle / name).read_bytes()).hexdigest() == digest
    assert "sklearn.tree._tree.Tree" in manifest["model_types"]
    requirements = (bundle / "requirements.txt").read_text().split()
    names = {line.split("==")[0] for line in requirements}
    assert {"scikit-learn", "numpy", "pandas", "skops", "starlette", "uvicorn"} <= names
    assert not names & {"jupyter-mlops", "ipython", "ipykernel"}
    assert all("==" in line for line in requirements)
    schema = json.loads((bundle / "schema.json").read_text())
    by_name = {c["name"]: c for c in schema["columns"]}
    assert by_name["city"]["kind"] == "category"
    assert by_name["city"]["categories"] == ["lyon", "nice", "paris"]
    assert by_name["age"]["kind"] == "integer" and by_name["income"]["kind"] == "number"
    lineage = json.loads((bundle / "lineage.json").read_text())
    assert lineage["run"]["name"] == "churn" and lineage["model_version"]["name"] == "churn"
    assert {e["name"] for e in lineage["inputs"]} >= {"frame", "target"}
    assert any(e["action"] == "register" for e in lineage["audit"])
    card = (bundle / "model_card.md").read_text()
    assert "# churn v1" in card and "n_trees" in card and "Stage: **staging**" in card


def test_load_bundle_predicts_like_the_kernel(bundle: Path, churn: Shell) -> None:
    loaded = mlops.load_bundle(bundle)
    frame = churn.ns["frame"]
    np.testing.assert_array_equal(loaded.predict(frame), churn.ns["model"].predict(frame))
    np.testing.assert_allclose(loaded.predict_proba(frame.head()),
                               churn.ns["model"].predict_proba(frame.head()))
    with pytest.raises(BundleError, match="missing column"):
        loaded.predict(frame.drop(columns="age"))


def test_zip_bundle(churn: Shell, tmp_path: Path) -> None:
    archive = mlops.export_bundle("churn", tmp_path / "z", zip=True, store=churn.store())
    assert archive.suffix == ".zip" and zipfile.is_zipfile(archive)
    assert mlops.load_bundle(archive).predict(churn.ns["frame"].head(3)).shape == (3,)


def test_a_changed_byte_is_an_integrity_error(bundle: Path) -> None:
    data = bytearray((bundle / "schema.json").read_bytes())
    data[10] ^= 1
    (bundle / "schema.json").write_bytes(bytes(data))
    with pytest.raises(BundleError, match="schema.json does not match MANIFEST.json"):
        mlops.load_bundle(bundle)
    done = subprocess.run([sys.executable, str(bundle / "serve.py"), "--port", "1"],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "does not match MANIFEST.json" in done.stderr


def test_existing_target_is_not_overwritten_silently(churn: Shell, tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    with pytest.raises(BundleError, match="already exists"):
        mlops.export_bundle("churn", tmp_path / "taken", store=churn.store())
    assert (tmp_path / "taken" / "keep.txt").read_text() == "mine"


def test_foreign_types_are_refused_unless_trusted(shell: Shell, tmp_path: Path) -> None:
    module = tmp_path / "custom_model.py"
    module.write_text(
        "from sklearn.base import BaseEstimator, ClassifierMixin\nimport numpy as np\n"
        "class Majority(ClassifierMixin, BaseEstimator):\n"
        "    def fit(self, X, y):\n        self.classes_ = np.unique(y)\n"
        "        self.value_ = np.bincount(y).argmax()\n        return self\n"
        "    def predict(self, X):\n        return np.full(len(X), self.value_)\n")
    sys.path.insert(0, str(tmp_path))
    try:
        shell.run("import pandas as pd\nX = pd.DataFrame({'a': [1.0, 2.0, 3.0]})\n"
                  "y = pd.Series([0, 1, 1])")
        shell.run("%%track majority\nfrom custom_model import Majority\nm = Majority().fit(X, y)")
        with pytest.raises(BundleError, match="custom_model.Majority.*trusted="):
            mlops.export_bundle("majority", tmp_path / "b", store=shell.store())
        bundle = mlops.export_bundle("majority", tmp_path / "b", store=shell.store(),
                                     trusted=["custom_model.Majority"])
        with pytest.raises(BundleError, match="custom_model.Majority"):
            mlops.load_bundle(bundle)
        assert list(mlops.load_bundle(bundle, trusted=["custom_model.Majority"])
                    .predict(pd.DataFrame({"a": [5.0]}))) == [1]
    finally:
        sys.path.remove(str(tmp_path))


def test_train_py_recreates_an_equivalent_model(bundle: Path, churn: Shell,
                                                tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(bundle / "train.py"), "--output",
                           str(tmp_path / "again.skops")], capture_output=True, text=True,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    import skops.io as sio

    path = tmp_path / "again.skops"
    again = sio.load(path, trusted=sio.get_untrusted_types(file=path))
    frame = churn.ns["frame"]
    np.testing.assert_array_equal(again.predict(frame), churn.ns["model"].predict(frame))


def _error_of(request: urllib.request.Request) -> tuple[int, dict[str, str]]:
    try:
        urllib.request.urlopen(request)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
    raise AssertionError("the request was accepted")


def test_serving_on_a_busy_port_says_so_and_exits(bundle: Path) -> None:
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, str(bundle / "serve.py"), "--port", str(port)],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "serving" not in done.stdout
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr


@pytest.fixture
def server(bundle: Path) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, str(bundle / "serve.py"), "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process, 60)
        yield url
    finally:
        stop(process, timeout=10)


def test_serving_accepts_mlflow_scoring_formats(server: str, churn: Shell,
                                                bundle: Path) -> None:
    example = json.loads((bundle / "serving_input_example.json").read_text())
    code, answer = post_json(server + "/invocations", example)  # what the README's curl sends
    assert code == 200 and len(answer["predictions"]) == len(example["dataframe_split"]["data"])
    rows = churn.ns["frame"].head(4)
    expected = churn.ns["model"].predict(rows).tolist()
    records = json.loads(rows.to_json(orient="records"))
    split = json.loads(rows.to_json(orient="split", index=False))
    payloads = [
        {"dataframe_split": split}, {"dataframe_records": records}, {"instances": records},
        {"inputs": {k: [r[k] for r in records] for k in records[0]}},
        {"instances": split["data"]},
    ]
    for payload in payloads:
        assert post_json(server + "/invocations", payload) == (200, {"predictions": expected})
    assert post_json(server + "/predict", records) == (200, {"predictions": expected})
    as_csv = urllib.request.Request(server + "/invocations", data=rows.to_csv(index=False)
                                    .encode(), headers={"Content-Type": "text/csv"})
    with urllib.request.urlopen(as_csv) as response:
        assert json.loads(response.read()) == {"predictions": expected}
    unlabeled = urllib.request.Request(server + "/invocations", data=b"age,income\n1,2\n")
    code, answer = _error_of(unlabeled)
    assert code == 400 and "Content-Type: text/csv" in answer["error"]

    with urllib.request.urlopen(server + "/metadata") as response:
        metadata = json.loads(response.read())
    assert [c["name"] for c in metadata["schema"]["columns"]] == ["age", "income", "city"]


@pytest.mark.parametrize("payload, status, message", [
    ({"dataframe_records": [{"age": 30, "income": 1.0}]}, 422, "missing column(s): city"),
    ({"dataframe_records": [{"age": 30, "income": 1.0, "city": "nice", "x": 1}]}, 422,
     "unknown column(s): x"),
    ({"dataframe_records": [{"age": "old", "income": 1.0, "city": "nice"}]}, 422,
     "column 'age', row 0: must be a number"),
    ({"dataframe_records": [{"age": 30.5, "income": 1.0, "city": "nice"}]}, 422,
     "must be a whole number"),
    ({"dataframe_records": [{"age": 30, "income": 1.0, "city": "rome"}]}, 422,
     "unseen category 'rome'"),
    ({"dataframe_records": []}, 422, "no rows to score"),
    ({"something": 1}, 400, "dataframe_split, dataframe_records, instances or inputs"),
    ({"instances": [[1, 2]]}, 400, "each row needs 3 values"),
])
def test_bad_requests_get_a_clear_4xx_and_the_server_lives(
    server: str, payload: object, status: int, message: str
) -> None:
    code, body = post_json(server + "/invocations", payload)
    assert code == status and message in body["error"]
    assert post_json(server + "/invocations", {"dataframe_records": [
        {"age": 30, "income": 60_000.0, "city": "paris"}]})[0] == 200


def test_invalid_json_and_too_large_bodies(server: str) -> None:
    request = urllib.request.Request(server + "/predict", data=b"{not json")
    with pytest.raises(urllib.error.HTTPError) as bad:
        urllib.request.urlopen(request)
    assert bad.value.code == 400 and "not valid JSON" in json.loads(bad.value.read())["error"]
    import http.client

    host, port = server.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.putrequest("POST", "/predict")
    connection.putheader("Content-Length", str(21 * 1024 * 1024))
    connection.endheaders()  # the server answers from the headers, without reading 21 MB
    response = connection.getresponse()
    assert response.status == 413 and "larger than" in json.loads(response.read())["error"]
    connection.close()


def test_mlflow_pyfunc_loads_the_bundle(bundle: Path, churn: Shell, tmp_path: Path,
                                       mlflow_python: str) -> None:
    rows = churn.ns["frame"].head(5)
    rows.to_json(tmp_path / "rows.json", orient="split", index=False)
    code = (
        "import sys, json, pandas as pd, mlflow.pyfunc\n"
        f"model = mlflow.pyfunc.load_model({str(bundle)!r})\n"
        f"split = json.load(open({str(tmp_path / 'rows.json')!r}))\n"
        "frame = pd.DataFrame(split['data'], columns=split['columns'])\n"
        "print(json.dumps(model.predict(frame).tolist()))\n"
        "print(model.metadata.get_input_schema().input_names())\n"
        "try:\n    model.predict(frame.assign(city='atlantis'))\n"
        "except Exception as exc:\n    print(type(exc).__name__, exc.message)\n"
    )
    done = subprocess.run([mlflow_python, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true",
                               "DO_NOT_TRACK": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    predictions, names, refused = done.stdout.strip().splitlines()[-3:]
    assert json.loads(predictions) == churn.ns["model"].predict(rows).tolist()
    assert names == "['age', 'income', 'city']"
    # MLflow's own error type, so `mlflow models serve` answers 400 with the reason, not 500
    assert refused.startswith("MlflowException column 'city', row 0: unseen category")


def test_production_promotion_is_verified_in_a_fresh_virtualenv(churn: Shell) -> None:
    version = mlops.promote("churn", name="verified", stage="production", store=churn.store())
    register = next(e for e in churn.store().events("verified") if e.action == "register")
    assert "served from a fresh virtualenv" in register.detail["verification"]
    assert version.stage == "production"


def test_verification_failure_refuses(bundle: Path, churn: Shell) -> None:
    (bundle / "input_example.json").write_text(json.dumps(
        {"columns": ["age", "income", "city"], "data": [[30, 1.0, "paris"]]}))
    outcome = verify_bundle(bundle, churn.ns["model"])  # serve.py refuses a changed bundle
    assert not outcome.ok and "MANIFEST.json" in outcome.detail


def test_frames_with_pandas_dtypes_round_trip(bundle: Path) -> None:
    loaded = mlops.load_bundle(bundle)
    frame = pd.DataFrame({"age": pd.array([30, 40], dtype="Int64"), "income": [1.0, 2.0],
                          "city": pd.Categorical(["lyon", "nice"])})
    assert loaded.predict(frame).shape == (2,)


def test_cli_export_and_serve(churn: Shell, store_dir: Path, tmp_path: Path) -> None:
    # In a shell without the virtualenv on PATH (as after `make demo`), the command that
    # export prints serves the bundle exactly as printed.
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    cli = [sys.executable, "-m", "jupyter_mlops.cli", "--store", str(store_dir)]
    done = subprocess.run([*cli, "export", "churn", "b", "--zip"], capture_output=True,
                          text=True, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    printed = done.stdout.split("serve it with: ")[1].strip()
    assert " serve " in printed and not printed.startswith("jupyter-mlops ")
    port = free_port()
    process = subprocess.Popen(f"exec {printed} --port {port}", shell=True, cwd=tmp_path,
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(url, process, 60)
        record = {"age": 40, "income": 70_000.0, "city": "lyon"}
        assert post_json(url + "/predict", [record])[0] == 200
    finally:
        stop(process, timeout=10)


@pytest.mark.parametrize("estimator", ["RandomForestClassifier", "ExtraTreesRegressor"])
def test_fast_forest_predictions_equal_the_models(estimator: str) -> None:
    from sklearn import ensemble
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from jupyter_mlops.bundle.serve import forest_predictor

    rng = np.random.default_rng(3)
    X = rng.normal(size=(500, 6))
    y = X[:, 0] + X[:, 1] * X[:, 2] + rng.normal(size=500)
    if estimator.endswith("Classifier"):
        y = np.digitize(y, [-1, 0, 1])  # four classes
    model = make_pipeline(StandardScaler(), getattr(ensemble, estimator)(
        n_estimators=25, random_state=0)).fit(X, y)
    fast = forest_predictor(model)
    assert fast is not None
    probe = rng.normal(size=(2000, 6)) * 2
    np.testing.assert_array_equal(fast(probe), model.predict(probe))
    assert forest_predictor(model[0]) is None


def test_export_input_example_from_a_file_or_a_variable(churn: Shell, store_dir: Path,
                                                        tmp_path: Path) -> None:
    rows = churn.ns["frame"].iloc[[3, 7]]
    expected = json.loads(rows.to_json(orient="split", index=False))["data"]
    rows.to_csv(tmp_path / "rows.csv", index=False)
    cli = [sys.executable, "-m", "jupyter_mlops.cli", "--store", str(store_dir), "export"]
    done = subprocess.run([*cli, "churn", str(tmp_path / "by-cli"), "--input-example",
                           str(tmp_path / "rows.csv")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    example = json.loads((tmp_path / "by-cli" / "input_example.json").read_text())
    assert example["data"] == expected
    churn.ns["rows"] = rows
    cell = churn.run(f"%mlops export churn {tmp_path / 'by-magic'} --input-example rows")
    assert "bundle written to" in cell.stdout, cell.stderr
    example = json.loads((tmp_path / "by-magic" / "input_example.json").read_text())
    assert example["data"] == expected
    rows[["age"]].to_csv(tmp_path / "narrow.csv", index=False)
    wrong = subprocess.run([*cli, "churn", str(tmp_path / "no"), "--input-example",
                            str(tmp_path / "narrow.csv")], capture_output=True, text=True)
    assert wrong.returncode == 2 and "lacks the model's column(s) income, city" in wrong.stderr
