"""PyTorch (``torch.nn.Module``) as a first-class framework: captured by ``%%track`` with its
optimizer, epochs and logged curves, stored as safetensors with its class rebuilt from the
code slice (never a pickle), bundled, served, replayed, and through the whole flow.

Marker ``torch``: run by ``make test-torch`` in ``.venv-torch`` (torch's CPU wheel); skipped
where torch or safetensors is not installed, so ``make test`` stays as it is.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import Shell
from processes import stop

import jupyter_mlops as mlops
from jupyter_mlops.bundle import serve, trust
from jupyter_mlops.bundle.verify import free_port, wait_until_healthy
from jupyter_mlops.frameworks import pytorch
from jupyter_mlops.store.registry import get_version

pytestmark = pytest.mark.torch
torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

DATA = """
import numpy as np
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split
wine = load_wine(as_frame=True)
X = (wine.data - wine.data.mean()) / wine.data.std()
X_train, X_test, y_train, y_test = train_test_split(
    X, wine.target.to_numpy(), test_size=0.3, random_state=0, stratify=wine.target)
"""
MODULE = """
import torch
from torch import nn

class MLP(nn.Module):
    def __init__(self, n_in, hidden, n_out=3):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, n_out))

    def forward(self, x):
        return self.net(x)
"""
TRAIN = """%%track mlp --eval X_test y_test
import jupyter_mlops as mlops
torch.manual_seed(0)
model = MLP(X_train.shape[1], hidden=16)
optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
loss_fn = nn.CrossEntropyLoss()
features, target = torch.tensor(X_train.to_numpy(), dtype=torch.float32), torch.tensor(y_train)
for epoch in range(40):
    optimizer.zero_grad()
    loss = loss_fn(model(features), target)
    loss.backward()
    optimizer.step()
    mlops.log_metric("train_loss", loss.item(), step=epoch)
"""


@pytest.fixture
def trained(shell: Shell) -> Shell:
    for cell in (DATA, MODULE, TRAIN):
        ran = shell.run(cell)
        assert ran.result.success, ran.stderr
    return shell


@pytest.fixture
def bundle(trained: Shell, tmp_path: Path) -> Path:
    return mlops.export_bundle("mlp", tmp_path / "mlp", store=trained.store())


def _predicted(shell: Shell) -> list[int]:
    with torch.no_grad():
        out = shell.ns["model"](torch.tensor(shell.ns["X_test"].to_numpy(), dtype=torch.float32))
    return out.argmax(dim=1).tolist()


def test_capture_params_curve_eval_and_a_safetensors_model(trained: Shell) -> None:
    store = trained.store()
    run = store.get_run("mlp")
    assert run.params["module"] == "MLP" and run.params["parameters"] == 13 * 16 + 16 + 16 * 3 + 3
    assert run.params["optimizer"] == "Adam" and run.params["learning_rate"] == 0.02
    assert run.params["epochs"] == 40
    curve = store.metric_history(run.run_id, "train_loss")
    assert [int(m.step) for m in curve] == list(range(40)) and curve[-1].value < curve[0].value
    assert run.metrics["accuracy"] > 0.85 and "roc_auc" in run.metrics  # argmax of logits
    model = next(e for e in run.outputs if e.kind == "model")
    assert model.name == "model" and model.detail["format"] == "pytorch"
    data, fmt, types = store.model_artifact(run.run_id, "model")
    assert fmt == "pytorch" and types == ["__main__.MLP"]
    meta = pytorch._header(data, "m")["__metadata__"]
    assert json.loads(meta["init"]) == {"args": [13], "kwargs": {"hidden": 16}}
    loaded = store.load_model("mlp")  # in the kernel: the notebook's MLP, the stored weights
    assert isinstance(loaded, trained.ns["MLP"]) and not loaded.training
    for key, value in trained.ns["model"].state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)


def test_a_module_trained_in_place_is_an_output_scored_on_tensors(trained: Shell) -> None:
    assert trained.run("Xt = torch.tensor(X_test.to_numpy(), dtype=torch.float32)\n"
                       "yt = torch.tensor(y_test)").result.success
    ran = trained.run("%%track again --eval Xt yt\nfor step in range(3):\n"
                      "    optimizer.zero_grad()\n"
                      "    loss_fn(model(features), target).backward()\n    optimizer.step()\n")
    assert ran.result.success, ran.stderr
    run = trained.store().get_run("again")
    assert [e.name for e in run.outputs if e.kind == "model"] == ["model"]
    assert run.params["epochs"] == 3 and run.params["optimizer"] == "Adam"
    assert run.metrics["accuracy"] > 0.85 and not run.warnings
    unchanged = trained.run("%%track idle\nprint(type(model).__name__)")
    assert not [e for e in trained.store().get_run("idle").outputs if e.kind == "model"]
    assert unchanged.result.success


def test_each_module_gets_its_own_constructor_call(trained: Shell) -> None:
    ran = trained.run("%%track unpacked\nconfig = {'n_in': 13, 'hidden': 4}\n"
                      "small, tiny, wide = MLP(**config), MLP(13, 2), MLP(13, hidden=32)\n"
                      "for module in (small, tiny, wide):\n"
                      "    module(features).sum().backward()\n"
                      "    torch.optim.SGD(module.parameters(), lr=0.1).step()")
    assert ran.result.success, ran.stderr
    store = trained.store()
    run = store.get_run("unpacked")
    assert any("stored as a pickle, which cannot be bundled" in w and "**kwargs" in w
               for w in run.warnings)
    for name, call in (("tiny", {"args": [13, 2], "kwargs": {}}),
                       ("wide", {"args": [13], "kwargs": {"hidden": 32}})):
        data, fmt, _ = store.model_artifact(run.run_id, name)  # each its own call
        assert fmt == "pytorch"
        assert json.loads(pytorch._header(data, name)["__metadata__"]["init"]) == call
    formats = {e.name: e.detail["format"] for e in run.outputs if e.kind == "model"}
    assert formats.get("small", "pickle") == "pickle"  # never bundled (no pickle ships)


def test_bundle_is_safetensors_and_notebook_code_without_a_pickle(bundle: Path,
                                                                 trained: Shell) -> None:
    flavors = yaml.safe_load((bundle / "MLmodel").read_text())["flavors"]
    assert set(flavors) == {"python_function"}  # MLflow's pytorch flavor needs a pickle
    assert (bundle / "model.safetensors").is_file() and not (bundle / "model.skops").exists()
    code = (bundle / trust.CODE_PATH).read_text()
    assert "class MLP(nn.Module):" in code and "from torch import nn" in code
    requirements = (bundle / "requirements.txt").read_text().splitlines()
    assert f"torch=={torch.__version__}" in requirements
    assert any(r.startswith("safetensors==") for r in requirements)
    label = torch.__version__.partition("+")[2]  # the package index has no "+cpu" build
    notes = [r for r in requirements if r.startswith("#")]
    assert notes == requirements[:len(notes)] == ([
        f"# torch=={torch.__version__} is a PyTorch build the package index does not have: "
        "pip install -r requirements.txt --extra-index-url "
        f"https://download.pytorch.org/whl/{label}"] if label else [])
    loaded = mlops.load_bundle(bundle)  # exported from this store: its code is trusted
    assert loaded.predict(trained.ns["X_test"]).tolist() == _predicted(trained)
    with pytest.raises(trust.ModelRefused, match="functions defined in its notebook"):
        serve.load_model(bundle)  # anyone else must opt in to run the class
    pyfunc = pytest.importorskip("mlflow.pyfunc")  # mlflow-skinny, of the test extra
    loaded = pyfunc.load_model(str(bundle), model_config={"trust_code": True})
    assert loaded.predict(trained.ns["X_test"]).tolist() == _predicted(trained)


def _swap_model(bundle: Path, data: bytes) -> None:
    (bundle / "model.safetensors").write_bytes(data)


@pytest.mark.parametrize("crafted", ["pickle", "module", "shapes", "header"])
def test_files_not_written_by_export_are_refused(bundle: Path, crafted: str) -> None:
    data = (bundle / "model.safetensors").read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + size])
    if crafted == "pickle":
        import pickle

        data = pickle.dumps({"weights": [1, 2, 3]})
    elif crafted == "module":
        data = pytorch.rebind(data, "os")
    elif crafted == "shapes":
        first = next(k for k, v in header.items() if k != "__metadata__" and len(v["shape"]) == 2)
        header[first]["shape"] = [1, header[first]["shape"][0] * header[first]["shape"][1]]
        text = json.dumps(header).encode()
        data = struct.pack("<Q", len(text)) + text + data[8 + size:]
    else:
        data = struct.pack("<Q", 1 << 40) + data[8:]
    _swap_model(bundle, data)
    trust.load_code(bundle, allowed=True)  # the class exists: the file itself is refused
    with pytest.raises(trust.ModelRefused, match="refused"):
        trust.load_file(bundle / "model.safetensors")


def test_train_py_replays_the_same_weights(bundle: Path, tmp_path: Path) -> None:
    out = tmp_path / "again.safetensors"
    done = subprocess.run([sys.executable, str(bundle / "train.py"), "--output", str(out)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    from safetensors.torch import load

    again, shipped = load(out.read_bytes()), load((bundle / "model.safetensors").read_bytes())
    assert again.keys() == shipped.keys()
    assert all(torch.equal(again[k], shipped[k]) for k in again)  # seeded: the same training
    assert pytorch._header(out.read_bytes(), "again")["__metadata__"]["class"] == "MLP"


def test_whole_flow_gate_production_serve_monitor_retrain(trained: Shell,
                                                         tmp_path: Path) -> None:
    """Registry, metric gate, production (fresh-venv verification installs the pinned CPU
    wheel), the bundle served over HTTP, monitoring, and a retrain gated against the champion
    take a torch module unchanged; the champion gate loads both modules without the notebook's
    class (rebuilt from the code slice, as export does)."""
    store = trained.store()
    with pytest.raises(mlops.MLOpsError, match="accuracy"):
        mlops.promote("mlp", name="wine-mlp", stage="production", gate="accuracy >= 1.01",
                      reason="test", store=store)
    version = mlops.promote("mlp", name="wine-mlp", stage="production",
                            gate="accuracy >= 0.85", reason="test", store=store)
    assert version.stage == "production"
    register = next(e for e in store.events("wine-mlp") if e.action == "register")
    assert "served from a fresh virtualenv" in register.detail["verification"]
    bundle = mlops.export_bundle("wine-mlp@production", tmp_path / "served", store=store)
    port = free_port()
    server = subprocess.Popen([sys.executable, str(bundle / "serve.py"), "--port", str(port),
                               "--trust-code"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", server, 60)
        rows = trained.ns["X_test"]
        body = json.dumps({"dataframe_split": json.loads(rows.to_json(orient="split",
                                                                      index=False))})
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations",
                                         body.encode(), {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert json.loads(answer.read())["predictions"] == _predicted(trained)
    finally:
        stop(server, timeout=10)
    watched = mlops.monitor("wine-mlp@production", trained.ns["X_test"],
                            labels=trained.ns["y_test"], store=store)
    assert watched.performance["accuracy"]["current"] > 0.85
    assert np.isfinite(watched.performance["accuracy"]["current"])
    assert trained.run("del MLP").result.success  # the kernel restarted: the class is gone
    X, y = trained.ns["X_train"], trained.ns["y_train"]
    retrained = mlops.retrain("mlp", data={"X_train": X, "y_train": y}, gate="champion",
                              promote_to="production", verify=False, store=store)
    _, fmt, types = store.model_artifact(retrained.run_id, "model")
    assert fmt == "pytorch" and types == ["__main__.MLP"], retrained.warnings
    assert retrained.parent_run_id == store.get_run("mlp").run_id
    gate = next(e.detail["gate"] for e in store.events("wine-mlp") if "gate" in e.detail)
    assert gate["champion"].startswith("wine-mlp/1") and gate["rows"] == 37, gate
    assert "vs wine-mlp/1 (wine-mlp@production)" in retrained.tags["promotion"]  # re-scored
    assert get_version(store, "wine-mlp@production").version == 1  # refused (seeded): stays


def test_a_better_module_wins_the_champion_gate_and_serves_production(shell: Shell) -> None:
    """Given a barely trained module in production, a wider one trained longer on the same
    data and evaluated on the same --eval X y beats it through the champion gate: it becomes
    the production version, loads and predicts, and the audit log keeps the verdict."""
    weak = TRAIN.replace("mlp", "weak").replace("hidden=16", "hidden=2").replace(
        "range(40)", "range(2)").replace("lr=0.02", "lr=0.001")
    for cell in (DATA, MODULE, weak, "%mlops promote weak --name wine-mlp --stage production "
                 "--no-verify", TRAIN):
        ran = shell.run(cell)
        assert ran.result.success, ran.stderr
    store = shell.store()
    challenger, champion = store.get_run("mlp"), store.get_run("weak")
    assert challenger.metrics["roc_auc"] > champion.metrics["roc_auc"]
    done = shell.run("%mlops promote mlp --name wine-mlp --stage production --gate champion "
                     "--no-verify")
    assert done.result.success and not done.stderr, done.stderr
    production = get_version(store, "wine-mlp@production")
    assert (production.version, production.run_id) == (2, challenger.run_id)
    assert get_version(store, "wine-mlp/1").stage != "production"
    loaded = mlops.load_model("wine-mlp@production", store=store)
    assert isinstance(loaded, shell.ns["MLP"])
    with torch.no_grad():
        answers = loaded(torch.tensor(shell.ns["X_test"].to_numpy(), dtype=torch.float32))
    assert answers.argmax(dim=1).tolist() == _predicted(shell)
    register = next(e for e in store.events("wine-mlp") if e.action == "register"
                    and e.subject == "wine-mlp/2")
    gate = register.detail["gate"]
    assert gate["passed"] and gate["decided_by"] == "roc_auc" and gate["rows"] == 54, gate
    assert gate["champion"].startswith("wine-mlp/1") and gate["challenger"] > gate[
        "champion_value"]
    assert gate["verdict"].startswith("roc_auc decided on 54 rows: challenger ")
    assert "(better by " in gate["verdict"]


def test_the_command_line_monitors_it_without_the_notebook(trained: Shell,
                                                          tmp_path: Path) -> None:
    """Outside the kernel the class is rebuilt from the run's code slice, as export does."""
    mlops.promote("mlp", name="wine-cli", stage="staging", reason="test",
                  store=trained.store())
    batch = trained.ns["X_test"].assign(target=trained.ns["y_test"])
    batch.to_csv(tmp_path / "batch.csv", index=False)
    done = subprocess.run([str(Path(sys.executable).with_name("jupyter-mlops")), "monitor",
                           "wine-cli@staging", str(tmp_path / "batch.csv"), "--label-column",
                           "target", "--json"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode in (0, 1) and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert json.loads(done.stdout)["performance"]["accuracy"]["current"] > 0.85


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed command line (``jupyter-mlops`` beside this python), store from the env."""
    return subprocess.run([str(Path(sys.executable).with_name("jupyter-mlops")), *args],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


def test_the_command_line_retrains_it_by_replaying_the_class_cell(trained: Shell,
                                                                  tmp_path: Path) -> None:
    """``jupyter-mlops retrain`` replays the code slice (the cell defining MLP, then the
    training cell) outside the kernel: on the same rows, the same weights (seeded); on new
    rows with a held-out part, a module judged against the production one."""
    store = trained.store()
    X, y = trained.ns["X_train"], trained.ns["y_train"]
    X.to_csv(tmp_path / "X.csv", index=False)
    np.savetxt(tmp_path / "y.csv", y, fmt="%d", header="target", comments="")
    done = _cli("retrain", "mlp", "--data", f"X_train={tmp_path / 'X.csv'}", "--data",
                f"y_train={tmp_path / 'y.csv'}", "--holdout", "0", cwd=tmp_path)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    again = store.get_run(done.stdout.split("retrained: run ")[1].split()[0])
    original = store.get_run("mlp")
    assert again.parent_run_id == original.run_id and again.status == "finished"
    assert again.params["epochs"] == 40 and again.params["optimizer"] == "Adam"
    assert [int(m.step) for m in store.metric_history(again.run_id, "train_loss")] == list(
        range(40))
    data, fmt, types = store.model_artifact(again.run_id, "model")
    assert fmt == "pytorch" and types == ["__main__.MLP"], again.warnings
    assert json.loads(pytorch._header(data, "again")["__metadata__"]["init"]) == {
        "args": [13], "kwargs": {"hidden": 16}}
    loaded = store.load_model(again.run_id)  # in the kernel: the notebook's class
    assert isinstance(loaded, trained.ns["MLP"])
    for key, value in trained.ns["model"].state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)  # the same rows: the same weights
    assert again.metrics["accuracy"] == original.metrics["accuracy"]

    mlops.promote("mlp", name="wine-mlp", stage="production", reason="test", verify=False,
                  store=store)
    gated = _cli("retrain", "mlp", "--data", f"X_train={tmp_path / 'X.csv'}", "--data",
                 f"y_train={tmp_path / 'y.csv'}", "--promote-to", "production", "--no-verify",
                 cwd=tmp_path)
    assert gated.returncode == 0 and "Traceback" not in gated.stderr, gated.stderr[-2000:]
    child = store.get_run(gated.stdout.split("retrained: run ")[1].split()[0])
    assert child.tags["eval_data"].startswith("the last 37 of the 124 new rows of X_train")
    assert "vs wine-mlp/1 (wine-mlp@production)" in child.tags["promotion"], child.tags
    assert get_version(store, "wine-mlp@production").version == 1  # trained on fewer rows
    assert isinstance(store.load_model(child.run_id), trained.ns["MLP"])


@pytest.mark.parametrize(("distribution", "version", "index"), [
    ("torch", "2.13.0+cpu", "https://download.pytorch.org/whl/cpu"),
    ("torchvision", "0.20.1+cu121", "https://download.pytorch.org/whl/cu121"),
    ("torch", "2.5.1+rocm6.2", "https://download.pytorch.org/whl/rocm6.2"),
    ("torch", "2.13.0", None),  # on the package index
    ("torch", "2.13.0+local", None),  # a build of one's own: no index has it
    ("numpy", "2.1.0+cpu", None),  # not a PyTorch build
])
def test_a_pytorch_build_names_the_wheel_index_that_has_it(distribution: str, version: str,
                                                           index: str | None) -> None:
    assert pytorch.wheel_index(distribution, version) == index


def test_what_counts_as_a_model_and_how_it_scores() -> None:
    assert not pytorch.is_native(torch.nn.CrossEntropyLoss())  # no parameters: not a model
    assert not pytorch.owns(torch.nn.Linear)  # the class itself
    regressor = pytorch.scorer(torch.nn.Linear(3, 1))
    X = np.ones((4, 3), dtype=np.float64)
    assert regressor._estimator_type == "regressor" and regressor.predict(X).shape == (4,)
    classifier = pytorch.scorer(torch.nn.Linear(3, 2))
    assert classifier._estimator_type == "classifier"
    np.testing.assert_allclose(classifier.predict_proba(X).sum(axis=1), 1.0)
    assert set(classifier.predict(X)) <= {0, 1}
