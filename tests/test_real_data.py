"""The whole flow on a real table: palmerpenguins (344 rows, categorical island/sex, NaNs).

Two notebooks run in real kernels (nbclient), as a data scientist would split the work: one
prepares the data and writes it to a CSV file; the other reads the file inside a tracked
cell, trains models through an imputing pipeline, compares and promotes them through a metric
gate and the champion gate, checks drift on a random split and on a shifted batch, monitors
many batches and retrains. The tests then read what the store recorded.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from palmerpenguins import load_penguins

import jupyter_mlops as mlops
from jupyter_mlops import Store, open_store
from jupyter_mlops.lifecycle.monitoring import drift_history

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "notebooks"))
from run import execute  # noqa: E402

PREP = [
    "%load_ext jupyter_mlops",
    "from palmerpenguins import load_penguins\npenguins = load_penguins()",
    "%%track penguins-prep -e penguins\nfrom pathlib import Path\n"
    "Path('data').mkdir(exist_ok=True)\n"
    "clean = penguins.drop(columns=['year'])\n"
    "clean.to_csv('data/penguins.csv', index=False)",
]

SETUP = """\
import numpy as np, pandas as pd
import jupyter_mlops as mlops
from sklearn.compose import make_column_transformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
NUMERIC = ['bill_length_mm', 'bill_depth_mm', 'flipper_length_mm', 'body_mass_g']
CATEGORICAL = ['island', 'sex']

def make_model(classifier, numeric, categorical):
    parts = [(make_pipeline(SimpleImputer(strategy='most_frequent'),
                            OneHotEncoder(handle_unknown='ignore')), categorical)]
    if numeric:
        parts.append((make_pipeline(SimpleImputer(), StandardScaler()), numeric))
    return make_pipeline(make_column_transformer(*parts), classifier)
"""

TRAIN = [
    "%load_ext jupyter_mlops",
    SETUP,
    "%%track penguins-split -e penguins\n"
    "data = pd.read_csv('data/penguins.csv')\n"
    "X, y = data.drop(columns=['species']), data['species']\n"
    "X_train, X_test, y_train, y_test = train_test_split(\n"
    "    X, y, test_size=0.3, stratify=y, random_state=0)",
    # A weak baseline (island only), then two real models; all read the same split.
    "%%track penguins-weak -e penguins --eval X_test y_test\n"
    "weak = make_model(LogisticRegression(max_iter=1000), [], ['island'])\n"
    "weak.fit(X_train, y_train)",
    "%%track penguins-lr -e penguins --eval X_test y_test\n"
    "lr = make_model(LogisticRegression(max_iter=1000), NUMERIC, CATEGORICAL)\n"
    "lr.fit(X_train, y_train)",
    "%%track penguins-rf -e penguins --eval X_test y_test\n"
    "rf = make_model(RandomForestClassifier(n_estimators=50, random_state=0), NUMERIC,\n"
    "                CATEGORICAL).fit(X_train, y_train)",
    "compared = mlops.open_store().runs('penguins', status='finished')\n"
    "print(compared[['name', 'metrics.accuracy']].to_string())\n"
    "%mlops compare penguins-weak penguins-lr penguins-rf --metric accuracy",
    # Promotion: a metric gate that refuses, one that passes; then the champion gate.
    ("%mlops promote penguins-weak --name penguins-baseline --gate \"accuracy>=0.9\"", True),
    "%mlops promote penguins-rf --name penguins-baseline --gate \"accuracy>=0.9\"",
    "%mlops promote penguins-weak --name penguins --stage production --no-verify "
    "--reason baseline",
    "%mlops promote penguins-lr --name penguins --stage production --gate champion --no-verify",
    ("%mlops promote penguins-weak --name penguins --stage production --gate champion "
     "--no-verify", True),
    # Drift: a random split is not drift; a shifted batch is, against the stored profile.
    "split_report = mlops.drift(X_train, X_test)\nprint('split:', split_report)",
    "shifted = X_test.assign(body_mass_g=X_test.body_mass_g + 1500,\n"
    "                        flipper_length_mm=X_test.flipper_length_mm + 25, island='Biscoe')\n"
    "%mlops drift penguins@production shifted",
    "print('shifted columns:', mlops.drift(X_train, shifted).drifted_columns)",
    # Monitoring: ten random batches of known penguins, then three shifted ones.
    "quiet, loud = [], []\n"
    "for day in range(10):\n"
    "    batch = X.sample(60, random_state=day)\n"
    "    quiet.append(mlops.monitor('penguins@production', batch, labels=y[batch.index]))\n"
    "for day in range(3):\n"
    "    batch = X.sample(60, random_state=100 + day)\n"
    "    batch = batch.assign(body_mass_g=batch.body_mass_g + 1500,\n"
    "                         flipper_length_mm=batch.flipper_length_mm + 25, island='Biscoe')\n"
    "    loud.append(mlops.monitor('penguins@production', batch, labels=y[batch.index]))\n"
    "def count(results, kind):\n"
    "    return sum(any(a.kind == kind for a in r.alerts) for r in results)\n"
    "print('quiet drift alerts:', count(quiet, 'drift'))\n"
    "print('quiet performance alerts:', count(quiet, 'performance'))\n"
    "print('loud drift alerts:', count(loud, 'drift'))\n"
    "print('loud performance alerts:', count(loud, 'performance'))",
    # Retraining on new data, gated against the champion.
    "new = X.sample(frac=0.8, random_state=7)\n"
    "retrained = mlops.retrain('penguins-lr', data={'X_train': new, 'y_train': y[new.index]},\n"
    "                          gate='champion', promote_to='production', verify=False)\n"
    "print('retrained:', retrained.run_id, retrained.status, retrained.tags.get('promotion'))",
    # ... and again: the name still means the original run, which is retrained a second time.
    "newer = X.sample(frac=0.8, random_state=8)\n"
    "again = mlops.retrain('penguins-lr', data={'X_train': newer, 'y_train': y[newer.index]},\n"
    "                      gate='champion', promote_to='production', verify=False)\n"
    "print('retrained again:', again.run_id, again.status)",
]


def _notebook(path: Path, cells: list[str | tuple[str, bool]]) -> Path:
    notebook = nbformat.v4.new_notebook()
    for cell in cells:
        source, raises = cell if isinstance(cell, tuple) else (cell, False)
        node = nbformat.v4.new_code_cell(source)
        if raises:  # a refusal the user is meant to see; the notebook goes on
            node.metadata["tags"] = ["raises-exception"]
        notebook.cells.append(node)
    nbformat.write(notebook, path)
    return path


def _outputs(cell: Any) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output["output_type"] == "error":
            parts.append(f"{output['ename']}: {output['evalue']}")
        else:
            parts.append(output.get("text", "") or str(output.get("data", {}).get(
                "text/plain", "")))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Both notebooks executed once; their outputs by cell source, and the store."""
    work = tmp_path_factory.mktemp("penguins")
    patch = pytest.MonkeyPatch()
    patch.setenv("JUPYTER_MLOPS_STORE", str(work / "store"))
    try:
        prep = execute(_notebook(work / "prep.ipynb", PREP))
        train = execute(_notebook(work / "train.ipynb", TRAIN))
    finally:
        patch.undo()
    outputs = {c.source: _outputs(c) for nb in (prep, train) for c in nb.cells}
    with open_store(work / "store") as store:
        yield work, outputs, store


def _ids(store: Store) -> dict[str, str]:
    frame = store.runs("penguins")
    # newest first, so a name retraining reused maps to its first (original) run
    return dict(zip(frame["name"], frame["run_id"], strict=False))


def _output_of(outputs: dict[str, str], start: str) -> str:
    return next(text for source, text in outputs.items() if source.startswith(start))


def test_tracked_runs_record_the_real_table(flow: Any) -> None:
    _, outputs, store = flow
    ids = _ids(store)
    lr = store.get_run(ids["penguins-lr"])
    assert lr.status == "finished" and lr.metrics["accuracy"] > 0.95
    assert lr.params["logisticregression__max_iter"] == 1000
    train = {e.name: e for e in lr.inputs}["X_train"]
    profile = store.get_dataset(train.fingerprint)["profile"]["columns"]
    assert profile["sex"]["nulls"] > 0 and profile["island"]["type"] == "categorical"
    weak = store.get_run(ids["penguins-weak"])
    assert weak.metrics["accuracy"] < 0.8
    table = _output_of(outputs, "compared =")
    assert "penguins-lr" in table and "penguins-rf" in table


def test_lineage_crosses_notebooks_through_the_csv_file(flow: Any) -> None:
    work, _, store = flow
    ids = _ids(store)
    prep = store.get_run(ids["penguins-prep"])
    written = [e for e in prep.outputs if e.detail.get("written")]
    assert [e.name for e in written] == ["data/penguins.csv"]
    assert prep.notebook == str(work / "prep.ipynb")
    assert store.upstream(ids["penguins-split"]) == [ids["penguins-prep"]]
    for model in ("penguins-weak", "penguins-lr", "penguins-rf"):
        assert store.upstream(ids[model]) == [ids["penguins-prep"], ids["penguins-split"]]
    # siblings that read the same split are not linked to each other
    downstream = store.downstream(ids["penguins-split"])
    assert {store.get_run(r).name for r in downstream} >= {
        "penguins-weak", "penguins-lr", "penguins-rf"}
    assert ids["penguins-rf"] not in store.downstream(ids["penguins-weak"])
    assert ids["penguins-lr"] not in store.downstream(ids["penguins-weak"])


def test_promotion_through_a_metric_gate_and_the_champion_gate(flow: Any) -> None:
    _, outputs, store = flow
    ids = _ids(store)
    refused = _output_of(outputs, "%mlops promote penguins-weak --name penguins-baseline")
    assert "accuracy" in refused and "refused" in refused
    assert "promoted: penguins-baseline/1" in _output_of(
        outputs, "%mlops promote penguins-rf --name penguins-baseline")
    assert "promoted: penguins/2" in _output_of(outputs, "%mlops promote penguins-lr")
    beaten = _output_of(outputs, "%mlops promote penguins-weak --name penguins --stage "
                                 "production --gate champion")
    assert "gate refused" in beaten and "vs penguins/2 (penguins@production)" in beaten
    models = store.models().set_index(["name", "version"])
    assert models.loc[("penguins", 2), "run_id"] == ids["penguins-lr"]
    assert models.loc[("penguins", 1), "stage"] == "archived"
    actions = [e.action for e in store.events("penguins")]
    assert "promotion-refused" in actions and "register" in actions


def test_drift_on_a_random_split_and_on_a_shifted_batch(flow: Any) -> None:
    _, outputs, _ = flow
    split = _output_of(outputs, "split_report =")
    assert "dataset not drifted" in split
    assert "dataset drifted" in _output_of(outputs, "shifted = X_test.assign")
    columns = _output_of(outputs, "print('shifted columns:'")
    for column in ("body_mass_g", "flipper_length_mm", "island"):
        assert column in columns


def test_monitoring_many_batches(flow: Any) -> None:
    _, outputs, store = flow
    text = _output_of(outputs, "quiet, loud = [], []")
    assert "quiet performance alerts: 0" in text and "quiet drift alerts: 0" in text
    assert "loud drift alerts: 3" in text and "loud performance alerts: 3" in text
    history = drift_history(store, "penguins")
    assert history["batch"].nunique() == 13


def test_retraining_is_recorded_as_a_child_of_its_run(flow: Any) -> None:
    _, outputs, store = flow
    ids = _ids(store)
    text = _output_of(outputs, "new = X.sample")
    run_id = text.split("retrained:")[1].split()[0]
    child = store.get_run(run_id)
    assert child.status == "finished" and child.parent_run_id == ids["penguins-lr"]
    assert child.tags["retrain_of"] == ids["penguins-lr"]
    assert child.metrics["accuracy"] > 0.9 and "promotion" in child.tags
    train = {e.name: e for e in child.inputs}["X_train"]
    # it trained on the first 70 % of the 275 new rows; metrics and gate use the other 83
    assert store.get_dataset(train.fingerprint)["shape"] == [192, 6]
    assert child.tags["eval_data"] == ("the last 83 of the 275 new rows of X_train, y_train, "
                                       "held out from training")


def test_retraining_twice_retrains_the_original_run(flow: Any) -> None:
    _, outputs, store = flow
    ids = _ids(store)
    first = _output_of(outputs, "new = X.sample").split("retrained:")[1].split()[0]
    text = _output_of(outputs, "newer = X.sample")
    second, status = text.split("retrained again:")[1].split()[:2]
    assert status == "finished" and second != first
    child = store.get_run(second)
    # its parent is the original run, not the first retrain (the name means the root)
    assert child.parent_run_id == ids["penguins-lr"] != first
    assert child.tags["retrain_of"] == ids["penguins-lr"]


def test_the_bundle_carries_the_lineage_and_serves_rows_with_nans(
        flow: Any, tmp_path: Path) -> None:
    _, _, store = flow
    bundle = mlops.export_bundle("penguins/2", tmp_path / "bundle", store=store)
    lineage = json.loads((bundle / "lineage.json").read_text())
    assert [r["name"] for r in lineage["upstream"]] == ["penguins-prep", "penguins-split"]
    rows = load_penguins().drop(columns=["species", "year"]).head(5)  # row 3 is all NaN
    assert rows.isna().any(axis=None)
    assert len(mlops.load_bundle(bundle).predict(rows)) == 5
