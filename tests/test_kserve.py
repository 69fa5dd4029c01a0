"""KServe bundles: model-settings.json and the InferenceService manifest, served by a real
MLServer (``mlserver start``, its MLflow runtime) over the V2 inference protocol."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import Shell
from processes import stop

import jupyter_mlops as mlops
from jupyter_mlops.bundle.kserve import service_name
from jupyter_mlops.bundle.verify import free_port, post_json, wait_until_healthy
from jupyter_mlops.errors import BundleError

# A classifier with string labels on a frame of every dtype a V2 request carries: int, float,
# text, category (sent as JSON text: MLflow's "any") and bool.
DATA = """
import numpy as np, pandas as pd
rng = np.random.default_rng(0)
n = 300
frame = pd.DataFrame({
    "age": rng.integers(18, 80, n),
    "income": rng.normal(50_000, 15_000, n),
    "city": rng.choice(["paris", "lyon", "nice"], n),
    "plan": pd.Categorical(rng.choice(["basic", "pro"], n)),
    "active": rng.random(n) > 0.3,
})
label = np.where((frame.income > 50_000) & (frame.city != "nice"), "stay", "churn")
"""
TRAIN = """%%track churn
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
model = make_pipeline(
    make_column_transformer((OneHotEncoder(), ["city", "plan"]),
                            (StandardScaler(), ["age", "income"]), remainder="passthrough"),
    LogisticRegression(max_iter=500),
).fit(frame, label)
"""
# A LightGBM Booster (its native model file) on the columns LightGBM takes as they are.
BOOST = """%%track boost
import lightgbm as lgb
numeric = frame[["age", "income", "plan", "active"]]
booster = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 7},
                    lgb.Dataset(numeric, label=(label == "stay").astype(int)), num_boost_round=20)
"""
STORAGE = "s3://models/churn/1"


@pytest.fixture
def churn(shell: Shell) -> Shell:
    assert shell.run(DATA).result.success
    assert shell.run(TRAIN).result.success
    mlops.promote("churn", name="Churn_Model", stage="staging", reason="test",
                  store=shell.store())
    return shell


def test_kserve_export_writes_settings_and_manifest(churn: Shell, store_dir: Path,
                                                     tmp_path: Path) -> None:
    cli = [sys.executable, "-m", "jupyter_mlops.cli", "--store", str(store_dir)]
    done = subprocess.run([*cli, "export", "Churn_Model@staging", "b", "--target", "kserve",
                           "--storage-uri", STORAGE], capture_output=True, text=True,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"upload b to {STORAGE}, then kubectl apply -f b/inferenceservice.yaml" in done.stdout
    bundle = tmp_path / "b"
    service = yaml.safe_load((bundle / "inferenceservice.yaml").read_text())
    assert service["apiVersion"] == "serving.kserve.io/v1beta1"
    assert service["kind"] == "InferenceService"
    assert service["metadata"]["name"] == "churn-model"  # a Kubernetes name
    model = service["spec"]["predictor"]["model"]
    assert model == {"modelFormat": {"name": "mlflow"}, "protocolVersion": "v2",
                     "storageUri": STORAGE}
    settings = json.loads((bundle / "model-settings.json").read_text())
    assert settings == {"name": "churn-model", "implementation": "mlserver_mlflow.MLflowRuntime",
                        "parameters": {"uri": ".", "version": "1"}}
    listed = json.loads((bundle / "MANIFEST.json").read_text())["files"]
    for name in ("inferenceservice.yaml", "model-settings.json"):
        assert listed[name] == hashlib.sha256((bundle / name).read_bytes()).hexdigest()

    # Without --storage-uri: a placeholder, and the comment says to set it in a copy, since
    # editing the bundle's own file breaks its manifest.
    plain = mlops.export_bundle("Churn_Model/1", tmp_path / "p", target="kserve",
                                store=churn.store())
    text = (plain / "inferenceservice.yaml").read_text()
    assert "storageUri: s3://CHANGE-ME/bundle-folder" in text and "in a copy" in text
    (plain / "inferenceservice.yaml").write_text(text.replace("s3://CHANGE-ME", "s3://mine"))
    with pytest.raises(BundleError, match="inferenceservice.yaml does not match MANIFEST"):
        mlops.load_bundle(plain)


@pytest.mark.parametrize(("options", "message"), [
    ({"target": "k8s"}, "unknown bundle target 'k8s'"),
    ({"storage_uri": STORAGE}, "storage URI is for a KServe bundle"),
    ({"target": "kserve", "storage_uri": "/data/churn"}, "SCHEME://LOCATION"),
    ({"target": "kserve", "storage_uri": "s3://a b"}, "without spaces"),
    ({"target": "kserve", "storage_uri": "s3://x\n  evil: 1"}, "not one KServe can download"),
    ({"target": "kserve", "storage_uri": "s3://" + "x" * 2000}, "at most 1024 characters"),
    # the manifest travels with the bundle: a secret in the URI would travel with it
    ({"target": "kserve", "storage_uri": "https://me:s3cret@blob.example/churn"},
     "no user or password"),
    ({"target": "kserve", "storage_uri": 5}, "storage URI 5 is not one KServe"),
])
def test_kserve_options_are_checked_before_anything_is_written(
        store_dir: Path, tmp_path: Path, options: dict[str, Any], message: str) -> None:
    with pytest.raises(BundleError, match=message):
        mlops.export_bundle("anything", tmp_path / "b", **options)
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize(("name", "expected"), [
    ("Churn_Model", "churn-model"), ("fraud.v2 (EU)", "fraud-v2-eu"), ("3-way", "model-3-way"),
    ("__", "model"), ("é" * 10, "model"), ("a" * 80, "a" * 45),
])
def test_service_names_are_kubernetes_names(name: str, expected: str) -> None:
    assert service_name(name) == expected


MLSERVER_PYTHON = os.environ.get("JUPYTER_MLOPS_MLSERVER_PYTHON")


@pytest.fixture
def mlserver(churn: Shell, tmp_path: Path) -> Iterator[str]:
    """``mlserver start MODELS`` on free loopback ports, MODELS holding two KServe bundles
    (``churn-model``: the pipeline, registered; ``boost``: the Booster, a run): their
    model-settings.json are the only model configuration MLServer gets."""
    assert MLSERVER_PYTHON, "JUPYTER_MLOPS_MLSERVER_PYTHON is unset: in CI, make test sets it"
    command = Path(MLSERVER_PYTHON).parent / "mlserver"
    assert command.exists(), f"no mlserver command beside {MLSERVER_PYTHON}"
    assert churn.run(BOOST).result.success
    models = tmp_path / "models"
    rows = churn.ns["frame"].sample(8, random_state=1)
    for ref, name, example in (("Churn_Model@staging", "churn", rows),
                               ("boost", "boost", rows[churn.ns["numeric"].columns])):
        mlops.export_bundle(ref, models / name, target="kserve", input_example=example,
                            store=churn.store())
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MLSERVER_")},
           "MLSERVER_HOST": "127.0.0.1", "MLSERVER_HTTP_PORT": str(port),
           "MLSERVER_GRPC_PORT": str(free_port()),
           "MLSERVER_METRICS_ENDPOINT": "",  # no metrics server
           "MLSERVER_PARALLEL_WORKERS": "0",  # the model in the server's own process
           "DO_NOT_TRACK": "1"}
    work = tmp_path / "mlserver"
    work.mkdir()
    logged = tmp_path / "mlserver.log"
    log = logged.open("wb")
    process = subprocess.Popen([str(command), "start", str(models)], cwd=work, env=env,
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process, 180, path="/v2/health/ready", name="MLServer",
                           log=logged)
        for name in ("churn-model", "boost"):  # ready once it tried every model: were ours loaded?
            try:
                urllib.request.urlopen(f"{url}/v2/models/{name}/ready", timeout=10).close()
            except urllib.error.HTTPError as error:
                pytest.fail(f"MLServer did not load {name} ({error}):\n"
                            f"{logged.read_text(errors='replace')[-3000:]}")
        yield url
    finally:
        stop(process, timeout=20, group=True)
        log.close()


def v2_request(example: dict[str, Any], metadata: dict[str, Any]) -> dict[str, Any]:
    """The input example as a V2 inference request, one input per column, typed as the
    model's metadata (``GET /v2/models/NAME``) says, as a V2 client does."""
    inputs = []
    for spec in metadata["inputs"]:
        column = example["columns"].index(spec["name"])
        values = [row[column] for row in example["data"]]
        if spec["parameters"]["content_type"] == "pd_json":  # MLflow's "any": JSON text
            values = [json.dumps(value) for value in values]
        inputs.append({"name": spec["name"], "datatype": spec["datatype"],
                       "shape": [len(values), 1], "data": values,
                       "parameters": {"content_type": spec["parameters"]["content_type"]}})
    return {"inputs": inputs}


@pytest.mark.skipif(not MLSERVER_PYTHON and not os.environ.get("CI"),
                    reason="set JUPYTER_MLOPS_MLSERVER_PYTHON to a python with mlserver and "
                    "mlserver-mlflow (make test builds .venv-mlserver and does; in CI this "
                    "test never skips)")
def test_mlserver_serves_the_bundles_over_the_v2_protocol(mlserver: str, churn: Shell,
                                                          tmp_path: Path) -> None:
    rows = churn.ns["frame"].sample(8, random_state=1)
    for folder, name in (("churn", "churn-model"), ("boost", "boost")):
        model = f"{mlserver}/v2/models/{name}"
        with urllib.request.urlopen(model, timeout=10) as answer:
            metadata = json.loads(answer.read())
        example = json.loads((tmp_path / "models" / folder / "input_example.json").read_text())
        assert [i["name"] for i in metadata["inputs"]] == example["columns"]
        status, answer = post_json(model + "/infer", v2_request(example, metadata))
        assert status == 200, answer
        [output] = answer["outputs"]
        if name == "churn-model":
            assert answer["model_version"] == "1"  # the registered version
            expected = churn.ns["model"].predict(rows).tolist()
            assert output["datatype"] == "BYTES" and output["data"] == expected
            assert set(expected) == {"churn", "stay"}  # both labels: a constant answer fails
        else:
            expected = churn.ns["booster"].predict(rows[example["columns"]]).tolist()
            assert output["datatype"] == "FP64" and output["data"] == pytest.approx(expected)

    # A request the bundle's schema refuses is a 400 saying why, not a 500 and a traceback.
    bad = v2_request(example, metadata)
    bad["inputs"][2]["data"] = [json.dumps("gold")] * len(example["data"])  # plan
    status, answer = post_json(f"{mlserver}/v2/models/boost/infer", bad)
    assert status == 400 and "column 'plan', row 0: unseen category" in answer["error"], answer

    for folder in ("churn", "boost"):  # serving wrote nothing into the bundles: they verify
        mlops.load_bundle(tmp_path / "models" / folder)
