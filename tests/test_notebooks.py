"""The shipped notebooks, executed end to end in a real kernel with nbclient."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest

import jupyter_mlops as mlops
from jupyter_mlops import open_store
from jupyter_mlops.ci import CIConfig, run_ci

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
sys.path.insert(0, str(NOTEBOOKS))

from run import execute  # noqa: E402


def copied(name: str, directory: Path) -> Path:
    """The shipped notebook, copied into a test's directory: what it writes (bundles, batch
    files) stays there and goes with it, never into the project's notebooks/."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    target.write_bytes((NOTEBOOKS / name).read_bytes())
    return target


@pytest.fixture
def notebook_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where a test runs its copy of a notebook: apart from its store (a bundle may not be
    written inside a store)."""
    return tmp_path_factory.mktemp("notebooks")


@pytest.fixture
def shipped(tmp_path: Path, notebook_dir: Path, monkeypatch: pytest.MonkeyPatch):
    """Run a shipped notebook's copy (in ``notebook_dir``) with its store in ``tmp_path``."""
    monkeypatch.setenv("JUPYTER_MLOPS_STORE", str(tmp_path))
    return lambda name: execute(copied(name, notebook_dir))


@pytest.fixture
def passes_ci(tmp_path: Path, notebook_dir: Path):
    """Check a shipped notebook's copy with ``jupyter-mlops ci`` against the store its run left
    (as ``make demo`` leaves it), the champion gate included: nothing changed, so every check
    passes or is skipped."""
    def check(name: str) -> None:
        config = CIConfig(notebooks=[name], store=str(tmp_path), gates=["champion"])
        result = run_ci(config, root=notebook_dir)
        assert result.passed, [(c.name, c.subject, c.message) for c in result.checks if c.failed]
        champion = [c for c in result.checks if c.name == "gate" and c.status == "passed"]
        assert champion and all("(the same answers: no regression)" in c.message
                                for c in champion)
    return check


def outputs_text(notebook) -> str:
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            parts.append(output.get("text", "") or str(data.get("text/plain", "")))
            assert output["output_type"] != "error", output
    return "\n".join(parts)


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory):
    store_dir = tmp_path_factory.mktemp("quickstart-store")
    patch = pytest.MonkeyPatch()
    patch.setenv("JUPYTER_MLOPS_STORE", str(store_dir))
    try:
        path = copied("quickstart.ipynb", tmp_path_factory.mktemp("quickstart"))
        notebook = execute(path)
    finally:
        patch.undo()
    return notebook, store_dir, path


def test_promote_and_deploy(tmp_path: Path, notebook_dir: Path, shipped,  # noqa: ANN001
                            passes_ci) -> None:  # noqa: ANN001
    notebook = shipped("promote_and_deploy.ipynb")
    text = "\n".join(
        output.get("text", "") for cell in notebook.cells for output in cell.get("outputs", []))
    assert "FAILED, off by" in text  # the refused gate, shown to the user
    assert "promoted: wine/2 [production]" in text and "{'predictions': [" in text
    with open_store(tmp_path) as store:
        assert store.load_model("wine@production").__class__.__name__ == \
            "RandomForestClassifier"
        register = next(e for e in store.events("wine/2") if e.action == "register")
        assert "fresh virtualenv" in register.detail["verification"]
        assert "promotion-refused" in [e.action for e in store.events("wine")]
        assert store.check() == []
    bundle = notebook_dir / "bundles" / "wine"
    assert mlops.load_bundle(bundle).metadata["model"]["version"] == "wine/2"
    passes_ci("promote_and_deploy.ipynb")


def test_drift_and_performance(tmp_path: Path, shipped, passes_ci) -> None:  # noqa: ANN001
    notebook = shipped("drift_and_performance.ipynb")
    outputs_text(notebook)  # no error outputs
    plotly = [output for cell in notebook.cells for output in cell.get("outputs", [])
              if "application/vnd.plotly.v1+json" in output.get("data", {})]
    assert len(plotly) >= 5
    raw = json.dumps(nbformat.from_dict(notebook))
    assert "cdn.plot.ly" not in raw and "<script src=" not in raw  # offline: no CDN
    report = next(output["data"]["text/html"] for cell in notebook.cells
                  for output in cell.get("outputs", []) if "DriftReport" in str(
                      output.get("data", {}).get("text/plain", "")))
    assert "alcohol" in report and "color_intensity" in report
    passes_ci("drift_and_performance.ipynb")


def test_continuous_training(tmp_path: Path, shipped, passes_ci) -> None:  # noqa: ANN001
    notebook = shipped("continuous_training.ipynb")
    text = outputs_text(notebook)
    assert "2026-11-01.csv: ok · 0 alert(s) · no drift" in text
    assert "2026-11-08.csv: DRIFT" in text and "promoted as cancer/2 (production)" in text
    with open_store(tmp_path) as store:
        assert list(store.models()["version"]) == [2, 1]
        version = mlops.open_store(tmp_path).models().iloc[0]
        child = store.get_run(version["run_id"])
        assert child.parent_run_id and child.tags["retrain_of"] == child.parent_run_id
        actions = [e.action for e in store.events("cancer")]
        assert {"alert", "watch", "register", "transition"} <= set(actions)
        assert store.check() == []
    passes_ci("continuous_training.ipynb")


def test_quickstart_runs_and_records_everything(quickstart) -> None:
    notebook, store_dir, path = quickstart
    text = outputs_text(notebook)
    assert text.count(" · finished ") == 4
    assert "lineage of run" in text and "best run:" in text
    with open_store(store_dir) as store:
        runs = store.runs("quickstart")
        assert sorted(runs["name"]) == ["boosting", "forest", "logreg", "prepare"]
        assert (runs["status"] == "finished").all()
        assert runs.set_index("name").loc["logreg", "metrics.roc_auc"] > 0.95
        ids = dict(zip(runs["name"], runs["run_id"], strict=True))
        for model_run in ("logreg", "forest", "boosting"):
            assert store.upstream(ids[model_run]) == [ids["prepare"]]
            assert store.load_model(ids[model_run]) is not None
        forest = store.get_run(ids["forest"])
        assert len(forest.metric_history("test_accuracy")) == 10
        assert forest.notebook == str(path)
        assert [c.source.splitlines()[0] for c in forest.code_slice] == [
            "import jupyter_mlops as mlops", "from sklearn.model_selection import train_test_split"]
        assert store.check() == []


def test_a_mistyped_option_is_said_once_in_a_real_notebook(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_MLOPS_STORE", str(tmp_path / "store"))
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("%load_ext jupyter_mlops"),
        nbformat.v4.new_code_cell(
            "from sklearn.linear_model import LogisticRegression\n"
            "X_test, y_test = [[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1]"),
        nbformat.v4.new_code_cell("%%track typo --eval X_tst y_test\n"
                                  "model = LogisticRegression().fit(X_test, y_test)"),
    ])
    path = tmp_path / "typo.ipynb"
    nbformat.write(notebook, path)
    text = outputs_text(execute(path, timeout=120))
    assert text.count("--eval X_tst: no variable X_tst exists") == 1, text


def test_gradient_boosting(tmp_path: Path, shipped, passes_ci) -> None:  # noqa: ANN001
    for framework in ("lightgbm", "xgboost", "catboost"):
        pytest.importorskip(framework)
    notebook = shipped("gradient_boosting.ipynb")
    text = outputs_text(notebook)
    assert "bundle predicts like the kernel: True" in text
    assert "lightgbm:" in text and "model.lgb" in text
    with open_store(tmp_path) as store:
        booster = store.get_run("lgbm-train")
        assert booster.params["num_boost_round"] == 300
        assert len(store.metric_history(booster.run_id, "test.binary_logloss")) > \
            booster.metrics["best_iteration"] > 0
        sklearn_api = store.get_run("lgbm-sklearn")
        assert len(store.metric_history(sklearn_api.run_id, "valid_0.binary_logloss")) > 1
        assert sklearn_api.metrics["accuracy"] > 0.9 and booster.metrics["accuracy"] > 0.9
        xgb = store.get_run("xgb-sklearn")
        assert len(store.metric_history(xgb.run_id, "validation_0.logloss")) > 1
        assert xgb.metrics["accuracy"] > 0.9 and "best_iteration" in xgb.metrics
        cat = store.get_run("catboost")
        assert len(store.metric_history(cat.run_id, "validation.Logloss")) == 20
        assert cat.metrics["accuracy"] > 0.9
    assert "xgb-sklearn: model.ubj; bundle predicts like the kernel: True" in text
    assert "catboost: model.cbm; bundle predicts like the kernel: True" in text
    passes_ci("gradient_boosting.ipynb")


def test_the_quickstart_passes_ci_from_the_command_line(quickstart, tmp_path: Path) -> None:
    _, store_dir, path = quickstart
    done = subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli", "ci", str(path), "--store", str(store_dir),
         "--gate", "roc_auc >= 0.9", "--gate", "champion", "--junit", "ci.xml", "--summary",
         "ci.md"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "ok: " in done.stdout and ", 0 failed, 1 notebook(s)" in done.stdout
    summary = (tmp_path / "ci.md").read_text()
    assert "✅ **all checks passed**" in summary and "### Metric deltas" in summary
    assert summary.count("champion: tied with the baseline") == 3  # logreg, forest, boosting
    cases = ET.parse(tmp_path / "ci.xml").getroot().findall("./testsuite/testcase")
    names = {case.get("name") for case in cases}
    assert {"execution", "schema", "ranges", "drift", "metrics", "reproducibility", "gate",
            "bundle", "recorded cells"} <= names
    with open_store(store_dir) as opened:  # the demo store is as it was: CI ran on a copy
        assert not opened.conn.execute("SELECT 1 FROM tags WHERE key = 'ci'").fetchall()
