"""Realistic notebooks make bundles that predict what the kernel predicted, everywhere.

Each notebook is tracked in a real IPython shell, exported, then scored on the notebook's own
test frame by ``load_bundle``, by the real MLflow in a fresh process, and by the bundle's
``serve.py`` in one fresh virtualenv (shared by the module: installing it is the slow part).
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import Shell, json_split
from processes import stop

import jupyter_mlops as mlops
from jupyter_mlops.bundle.verify import (
    _install,
    free_port,
    post_json,
    verify_bundle,
    wait_until_healthy,
)

SALES = """
import numpy as np, pandas as pd
rng = np.random.default_rng(7)
n = 5000
stores = [f"S{i:03d}" for i in range(183)]
promo = pd.array(rng.integers(0, 40, n), dtype="Int64")
promo[rng.random(n) < 0.03] = pd.NA
sales = pd.DataFrame({
    "store": pd.Categorical(rng.choice(stores, n), categories=stores),
    "holiday": rng.random(n) < 0.1,
    "open_late": pd.array(np.where(rng.random(n) < 0.05, None, rng.random(n) < 0.3),
                          dtype="boolean"),
    "note": pd.array([f"call {rng.integers(1000, 9999)} re order {i}" for i in range(n)],
                     dtype="string"),
    "promo_units": promo,
    "date": pd.to_datetime("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D"),
    "price": rng.normal(20, 4, n).round(2),
})
sales["units"] = (50 + 30 * sales.holiday + 5 * sales.open_late.fillna(False).astype(float)
                  + sales.promo_units.fillna(0).astype(float) - sales.price
                  + rng.normal(0, 5, n))
train, test = sales.iloc[:4000], sales.iloc[4000:].reset_index(drop=True)
"""
SALES_TRAIN = """%%track sales-ridge
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, SplineTransformer, StandardScaler
features = ColumnTransformer([
    ("store", OneHotEncoder(handle_unknown="ignore"), ["store"]),
    ("promo", make_pipeline(SimpleImputer(), StandardScaler()), ["promo_units"]),
    ("date", make_pipeline(StandardScaler(), SplineTransformer(n_knots=6)), ["date"]),
    ("numbers", StandardScaler(), ["price", "holiday"]),
    ("flag", make_pipeline(SimpleImputer(strategy="most_frequent"), StandardScaler()),
     ["open_late"]),
], remainder="drop")
X, y = train.drop(columns="units"), train["units"]
model = make_pipeline(features, Ridge(alpha=1.0)).fit(X, y)
X_test = test.drop(columns="units")
"""

PENGUINS = """
import numpy as np, pandas as pd
rng = np.random.default_rng(3)
n = 344
species = rng.choice(["Adelie", "Chinstrap", "Gentoo"], n)
penguins = pd.DataFrame({
    "island": rng.choice(["Biscoe", "Dream", "Torgersen"], n),
    "bill_length_mm": rng.normal(44, 5, n) + (species == "Gentoo") * 3,
    "flipper_length_mm": rng.normal(200, 14, n) + (species == "Gentoo") * 15,
    "body_mass_g": rng.normal(4200, 800, n),
    # object dtype, as read from older files or built from Python lists (pandas 3 says str)
    "sex": pd.Series(rng.choice(["male", "female", None], n, p=[0.48, 0.48, 0.04]),
                     dtype=object),
    "species": species,
})
penguins.loc[rng.random(n) < 0.02, ["bill_length_mm", "flipper_length_mm"]] = np.nan
cols = ["island", "bill_length_mm", "flipper_length_mm", "body_mass_g", "sex"]
p_train, p_test = penguins.iloc[:240], penguins.iloc[240:].reset_index(drop=True)
"""
PENGUINS_TRAIN = """%%track penguins-forest
from sklearn.compose import make_column_transformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
prep = make_column_transformer(
    (make_pipeline(SimpleImputer(strategy="most_frequent"),
                   OneHotEncoder(handle_unknown="infrequent_if_exist")), ["island", "sex"]),
    (SimpleImputer(), ["bill_length_mm", "flipper_length_mm", "body_mass_g"]),
)
forest = make_pipeline(prep, RandomForestClassifier(n_estimators=25, random_state=0))
forest.fit(p_train[cols], p_train.species)
"""

# A function defined in an earlier cell of the notebook, used by the model (the bundle carries
# it as code/notebook_functions.py), and HistGradientBoosting on a pandas category column.
SALES_FUNCTIONS = SALES + """
hgb_columns = ["store", "price", "holiday", "promo_units", "date"]
def date_features(frame):
    out = frame[["store", "price"]].copy()
    out["holiday"] = frame["holiday"].astype(float)
    out["promo_units"] = frame["promo_units"].astype("float64")
    out["day"] = frame["date"].dt.day_of_year
    out["weekday"] = frame["date"].dt.day_of_week
    return out
"""
SALES_HGB_TRAIN = """%%track sales-hgb
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
hgb = make_pipeline(FunctionTransformer(date_features),
                    HistGradientBoostingRegressor(categorical_features="from_dtype",
                                                  max_iter=40, random_state=0))
hgb.fit(train[hgb_columns], train["units"])
"""


def _notebook(shell: Shell, data: str, cell: str, model: str, frame: str) -> dict[str, Any]:
    assert shell.run(data).result.success
    done = shell.run(cell)
    assert done.result.success, done.stderr
    test = eval(frame, shell.ns).copy()  # noqa: S307 (the notebook's own expression)
    return {"model": shell.ns[model], "test": test,
            "expected": shell.ns[model].predict(test).tolist()}


NOTEBOOKS = {
    "sales": (SALES, SALES_TRAIN, "model", "X_test"),
    "penguins": (PENGUINS, PENGUINS_TRAIN, "forest", "p_test[cols]"),
    "sales-hgb": (SALES_FUNCTIONS, SALES_HGB_TRAIN, "hgb", "test[hgb_columns]"),
}
TRAINING_FRAME = {"sales": "train", "penguins": "p_train", "sales-hgb": "train"}


def _trusts_code(case: dict[str, Any]) -> bool:
    """Whether the bundle carries notebook functions (run only when the loader says so)."""
    return (case["bundle"] / "code" / "notebook_functions.py").exists()


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Each notebook run in a real shell and exported: its bundle, test frame, predictions,
    and the training frame (to look for its rows in the bundle)."""
    from IPython import get_ipython
    from IPython.testing.globalipapp import start_ipython

    root = tmp_path_factory.mktemp("realistic")
    previous = os.environ.get("JUPYTER_MLOPS_STORE")
    os.environ["JUPYTER_MLOPS_STORE"] = str(root / "store")
    ip = start_ipython() or get_ipython()
    ip.reset(new_session=True)
    ip.run_cell("%reload_ext jupyter_mlops")
    shell = Shell(ip)
    patch = pytest.MonkeyPatch()  # a kernel's user namespace is __main__ (functions live there)
    patch.setitem(sys.modules, "__main__", ip.user_module)
    try:
        cases: dict[str, Any] = {}
        for name, (data, cell, model, frame) in NOTEBOOKS.items():
            case = _notebook(shell, data, cell, model, frame)
            run = cell.split()[1]
            case["bundle"] = mlops.export_bundle(run, root / name, store=shell.store())
            case["training"] = shell.ns[TRAINING_FRAME[name]]
            case["run"] = shell.store().get_run(run)
            case["store"] = root / "store"
            cases[name] = case
        yield cases
    finally:
        patch.undo()
        ip.run_cell("%unload_ext jupyter_mlops")
        if previous is None:
            os.environ.pop("JUPYTER_MLOPS_STORE", None)
        else:
            os.environ["JUPYTER_MLOPS_STORE"] = previous


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_load_bundle_predicts_what_the_kernel_predicted(exported: dict[str, Any],
                                                        name: str) -> None:
    case = exported[name]
    # notebook code runs because this store recorded it at export (no trust_code= needed)
    loaded = mlops.load_bundle(case["bundle"])
    assert loaded.predict(case["test"]).tolist() == case["expected"]


def test_notebook_functions_travel_with_the_bundle(exported: dict[str, Any]) -> None:
    bundle = exported["sales-hgb"]["bundle"]
    assert _trusts_code(exported["sales-hgb"]) and not _trusts_code(exported["sales"])
    assert "def date_features(frame):" in (bundle / "code/notebook_functions.py").read_text()
    assert "date_features" in (bundle / "model_card.md").read_text()
    with pytest.raises(mlops.MLOpsError, match="date_features"):  # another store: opt in
        mlops.load_bundle(bundle, store=mlops.open_store(exported["sales-hgb"]["store"].parent
                                                         / "other-store"))


def test_schema_holds_what_the_model_needs(exported: dict[str, Any]) -> None:
    schema = json.loads((exported["sales"]["bundle"] / "schema.json").read_text())
    columns = {c["name"]: c for c in schema["columns"]}
    assert len(columns["store"]["categories"]) == 183  # every store, not the top 50
    assert columns["store"]["unknown"] == "accepted"  # OneHotEncoder(handle_unknown="ignore")
    assert columns["note"]["kind"] == "string" and columns["note"]["used"] is False
    assert "categories" not in columns["note"]
    assert columns["promo_units"]["nullable"] and columns["date"]["kind"] == "datetime"
    penguins = json.loads((exported["penguins"]["bundle"] / "schema.json").read_text())
    sex = next(c for c in penguins["columns"] if c["name"] == "sex")
    assert sex["categories"] == ["female", "male"] and sex["unknown"] == "accepted"


def test_unseen_values_where_the_model_handles_them(exported: dict[str, Any]) -> None:
    case = exported["sales"]
    frame = case["test"].head(3).copy()
    frame["note"] = pd.array(["never seen", None, "x"], dtype="string")
    frame["store"] = frame["store"].cat.add_categories(["S999"])
    frame.loc[0, "store"] = "S999"
    loaded = mlops.load_bundle(case["bundle"])
    assert loaded.predict(frame).tolist() == case["model"].predict(frame).tolist()


def test_signature_reads_the_real_dtypes(exported: dict[str, Any]) -> None:
    import yaml

    mlmodel = yaml.safe_load((exported["sales"]["bundle"] / "MLmodel").read_text())
    inputs = {c["name"]: c for c in json.loads(mlmodel["signature"]["inputs"])}
    assert inputs["price"] == {"type": "double", "name": "price", "required": True}
    assert inputs["holiday"]["type"] == "boolean" and inputs["date"]["type"] == "datetime"
    assert inputs["store"]["type"] == "any" and inputs["promo_units"]["type"] == "any"
    assert inputs["open_late"] == {"type": "any", "name": "open_late", "required": False}
    assert inputs["promo_units"]["required"] is False and inputs["note"]["required"] is False


def test_the_fit_input_is_recorded_with_its_upstream(exported: dict[str, Any]) -> None:
    run = exported["penguins"]["run"]  # fitted on p_train[cols], built inside fit(...)
    fitted = [e for e in run.inputs if e.detail.get("fit_of") == "forest"]
    assert [e.name for e in fitted] == ["forest.fit(X)"] and fitted[0].detail["shape"] == [240, 5]
    assert "p_train" in {e.name for e in run.inputs}  # the frame it was derived from
    sales = exported["sales"]["run"]
    assert [e.name for e in sales.inputs if e.detail.get("fit_of")] == ["X"]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_mlflow_scores_the_notebook_frame(exported: dict[str, Any], name: str,
                                          tmp_path: Path, mlflow_python: str) -> None:
    case = exported[name]
    (tmp_path / "frame.pkl").write_bytes(pickle.dumps(case["test"]))
    code = (
        "import json, pickle, sys, mlflow.pyfunc\n"
        f"model = mlflow.pyfunc.load_model({str(case['bundle'])!r}, "
        f"model_config={{'trust_code': {_trusts_code(case)}}})\n"
        f"frame = pickle.load(open({str(tmp_path / 'frame.pkl')!r}, 'rb'))\n"
        "print(json.dumps(model.predict(frame).tolist()))\n"
    )
    done = subprocess.run([mlflow_python, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "DO_NOT_TRACK": "1"}, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == case["expected"]


@pytest.fixture(scope="module")
def fresh_python(exported: dict[str, Any]) -> Iterator[Path]:
    """One fresh virtualenv with every bundle's requirements.txt installed."""
    with tempfile.TemporaryDirectory(prefix="mlops-venv-") as scratch:
        first, *others = [case["bundle"] for case in exported.values()]
        python = _install(first, Path(scratch) / "venv")
        for bundle in others:
            subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                            "--disable-pip-version-check", "-r", str(bundle / "requirements.txt")],
                           check=True, capture_output=True, timeout=900)
        yield python


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_serve_from_a_fresh_venv_predicts_the_same(exported: dict[str, Any], name: str,
                                                   fresh_python: Path) -> None:
    case = exported[name]
    port = free_port()
    trust = ["--trust-code"] if _trusts_code(case) else []
    process = subprocess.Popen([str(fresh_python), str(case["bundle"] / "serve.py"),
                                "--port", str(port), *trust],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(url, process, 60)
        split = json_split(case["test"])
        status, answer = post_json(url + "/invocations", {"dataframe_split": split})
        assert status == 200, answer
        assert answer["predictions"] == case["expected"]
    finally:
        stop(process, timeout=10)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_promotion_verification_passes(exported: dict[str, Any], name: str,
                                       fresh_python: Path) -> None:
    case = exported[name]  # what promote(stage="production") runs, in the shared venv
    outcome = verify_bundle(case["bundle"], case["model"], python=fresh_python,
                            trust_code=_trusts_code(case))
    assert outcome.ok, outcome.detail


def _bundle_texts(bundle: Path) -> dict[str, str]:
    """Every file of a bundle as text, model.skops' members included."""
    texts = {}
    for path in sorted(p for p in bundle.rglob("*") if p.is_file()):
        name = path.relative_to(bundle).as_posix()
        if name == "model.skops":
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    texts[f"model.skops/{member}"] = archive.read(member).decode("latin-1")
        else:
            texts[name] = path.read_text(encoding="utf-8")
    return texts


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_no_training_rows_in_the_bundle(exported: dict[str, Any], name: str) -> None:
    case = exported[name]
    training: pd.DataFrame = case["training"]
    texts = _bundle_texts(case["bundle"])
    assert "No training rows" in texts["model_card.md"]
    assert "synthesized from the schema" in texts["model_card.md"]
    text_columns = [c for c in training.columns
                    if not pd.api.types.is_numeric_dtype(training[c])
                    and not pd.api.types.is_datetime64_any_dtype(training[c])]
    for column in text_columns:  # values seen fewer than 5 times must not be anywhere
        counts = training[column].astype(object).value_counts()
        for value in counts[counts < 5].index:
            leaks = [f for f, text in texts.items() if json.dumps(str(value))[1:-1] in text]
            assert not leaks, f"{column} value {value!r} found in {leaks}"
    example = json.loads((case["bundle"] / "input_example.json").read_text())
    values = [c for c in example["columns"] if c not in text_columns]
    for row in example["data"]:  # values may be quantiles; together they are no real row
        record = dict(zip(example["columns"], row, strict=True))
        same = np.all([(training[c] == (pd.Timestamp(record[c]) if "date" in c else record[c]))
                       .fillna(False).to_numpy(dtype=bool) for c in values], axis=0)
        assert not same.any(), f"input example row {row} is a training row"


def test_input_example_can_be_chosen(exported: dict[str, Any], tmp_path: Path) -> None:
    case = exported["penguins"]
    chosen = case["test"].head(2)
    bundle = mlops.export_bundle(case["run"].run_id, tmp_path / "chosen", input_example=chosen,
                                 store=mlops.open_store(case["store"]))
    example = json.loads((bundle / "input_example.json").read_text())
    assert len(example["data"]) == 2
    assert "chosen by the exporter" in (bundle / "model_card.md").read_text()
