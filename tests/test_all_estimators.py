"""Every estimator scikit-learn fits by itself is bundled without ``trusted=``: recorded from a
small mixed frame, exported, loaded back with ``load_bundle``, and predicting the same.

Classifiers and regressors end a Pipeline behind a OneHotEncoder; transformers sit between
that encoder and a linear model, the way they are deployed. ``SKIPPED`` lists every estimator
this test does not bundle, with the reason; a new scikit-learn estimator that fails here
fails the test until it is handled or listed.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import is_classifier, is_regressor
from sklearn.utils import all_estimators

import jupyter_mlops as mlops
from jupyter_mlops import Store, open_store
from jupyter_mlops.capture import RunRecorder, TrackOptions
from jupyter_mlops.capture.cells import CellHistory
from jupyter_mlops.errors import BundleError

SKIPPED = {
    "Birch": "skops cannot serialize it (export refuses it: see test_unsafe_format_is_refused)",
    "ClassifierChain": "needs a multi-output target",
    "RegressorChain": "needs a multi-output target",
    "MultiOutputClassifier": "needs a multi-output target",
    "MultiOutputRegressor": "needs a multi-output target",
    "MultiTaskElasticNet": "needs a multi-output target",
    "MultiTaskElasticNetCV": "needs a multi-output target",
    "MultiTaskLasso": "needs a multi-output target",
    "MultiTaskLassoCV": "needs a multi-output target",
    "ColumnTransformer": "a meta-estimator needing its transformers (covered by every case)",
    "FeatureUnion": "a meta-estimator needing its transformers (see test_composites)",
    "SparseCoder": "needs a fixed dictionary argument",
    "DictVectorizer": "takes dicts, not a frame",
    "FeatureHasher": "takes dicts or strings, not a frame",
    "LabelBinarizer": "transforms targets, not features",
    "LabelEncoder": "transforms targets, not features",
    "MultiLabelBinarizer": "transforms targets, not features",
    "IsotonicRegression": "takes exactly one feature",
    "KernelCenterer": "takes a kernel matrix",
    "HashingVectorizer": "takes text documents, not a frame",
    "PatchExtractor": "takes images, not a frame",
    "TSNE": "has no transform: it cannot score new rows",
    "MissingIndicator": "outputs no feature for data without missing values",
    "PLSSVD": "its transform returns 3-D output for a single target: not a Pipeline step",
}
# Arguments an estimator needs to fit a 40-row frame (or a base estimator to wrap).
ARGUMENTS: dict[str, dict[str, Any]] = {
    "CCA": {"n_components": 1}, "PLSCanonical": {"n_components": 1},
    "PLSSVD": {"n_components": 1}, "PLSRegression": {"n_components": 1},
    "GaussianRandomProjection": {"n_components": 2},
    "SparseRandomProjection": {"n_components": 2},
    "QuadraticDiscriminantAnalysis": {"reg_param": 0.1},
    "RANSACRegressor": {"min_samples": 10},
}
# Transformers are fitted on class labels (feature selectors score against them) and deployed
# before a LogisticRegression; these need a numeric target and sit before a Ridge instead.
NUMERIC_TARGET = {"CCA", "PLSCanonical"}


def _frame() -> tuple[pd.DataFrame, np.ndarray, pd.Series]:
    rng = np.random.default_rng(0)
    n = 40
    X = pd.DataFrame({"a": rng.uniform(0.1, 3, n), "b": rng.uniform(1, 5, n),
                      "c": rng.choice(["x", "y", "z"], n)})
    labels = np.array(["no", "yes"], dtype=object)[(X["a"] > 1.5).to_numpy().astype(int)]
    return X, labels, X["a"] * 2 + X["b"]


def _base(name: str) -> Any:
    """The estimator a meta-estimator named ``name`` wraps."""
    from sklearn.linear_model import LogisticRegression, Ridge

    return Ridge() if "Regressor" in name else LogisticRegression()


def _estimator(name: str, cls: type) -> Any:
    parameters = inspect.signature(cls).parameters
    arguments = dict(ARGUMENTS.get(name, {}))
    for key in ("estimator", "base_estimator"):
        if key in parameters and parameters[key].default in (inspect.Parameter.empty, None):
            arguments[key] = _base(name)
    if "estimators" in parameters and parameters["estimators"].default is inspect.Parameter.empty:
        arguments["estimators"] = [("one", _base(name)), ("two", _base(name))]
    return cls(**arguments)


def _pipeline(name: str, estimator: Any) -> Any:
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    encode = make_column_transformer((OneHotEncoder(sparse_output=False), ["c"]),
                                     remainder="passthrough")
    if is_classifier(estimator) or is_regressor(estimator):
        return make_pipeline(encode, estimator)
    return make_pipeline(encode, estimator,
                         Ridge() if name in NUMERIC_TARGET else LogisticRegression())


CASES = sorted(name for name, _ in all_estimators(
    type_filter=["classifier", "regressor", "transformer"]))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    with open_store(tmp_path_factory.mktemp("estimators") / "store") as opened:
        yield opened


def record(store: Store, name: str, model: Any, X: pd.DataFrame, y: Any) -> str:
    """Record a run that fits ``model`` on ``X, y`` (the recorder %%track uses)."""
    namespace: dict[str, Any] = {"X": X, "y": y, "unfitted": model}
    source = "model = unfitted.fit(X, y)"
    recorder = RunRecorder(store, TrackOptions(name=name, models=["model"]), source,
                           namespace, CellHistory())
    recorder.prepare()
    recorder.begin()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(source, namespace)  # noqa: S102 - the cell under test
    recorder.finish()
    return recorder.run_id


def round_trip(store: Store, tmp_path: Path, name: str, model: Any, X: pd.DataFrame,
               y: Any) -> None:
    run_id = record(store, name, model, X, y)
    bundle = mlops.export_bundle(run_id, tmp_path / name, store=store)  # no trusted=
    loaded = mlops.load_bundle(bundle)
    fitted = store.load_model(run_id)
    np.testing.assert_array_equal(loaded.predict(X), fitted.predict(X))


@pytest.mark.parametrize("name", CASES)
def test_every_estimator_is_bundled_without_trusted(name: str, store: Store,
                                                    tmp_path: Path) -> None:
    if name in SKIPPED:
        pytest.skip(SKIPPED[name])
    cls = dict(all_estimators())[name]
    X, labels, values = _frame()
    estimator = _estimator(name, cls)
    target = values if is_regressor(estimator) or name in NUMERIC_TARGET else labels
    round_trip(store, tmp_path, name, _pipeline(name, estimator), X, target)


def test_composites(store: Store, tmp_path: Path) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import (
        HistGradientBoostingRegressor,
        RandomForestClassifier,
        StackingClassifier,
    )
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, make_pipeline
    from sklearn.preprocessing import (
        FunctionTransformer,
        OneHotEncoder,
        StandardScaler,
    )

    X, labels, values = _frame()
    categories = X.assign(c=X["c"].astype("category"))
    round_trip(store, tmp_path, "hgb_categories", HistGradientBoostingRegressor(
        categorical_features="from_dtype", max_iter=20), categories, values)
    columns = ColumnTransformer([
        ("numbers", make_pipeline(FunctionTransformer(np.log1p), StandardScaler()), ["a", "b"]),
        ("city", OneHotEncoder(handle_unknown="ignore"), ["c"]),
    ])
    union = FeatureUnion([("scaled", StandardScaler()), ("logged", FunctionTransformer(
        np.expm1))])
    stack = StackingClassifier([("forest", RandomForestClassifier(n_estimators=5)),
                                ("linear", LogisticRegression())])
    round_trip(store, tmp_path, "column_transformer",
               make_pipeline(columns, union, stack), X, labels)


def test_unsafe_format_is_refused(store: Store, tmp_path: Path) -> None:
    from sklearn.cluster import Birch

    X, _, _ = _frame()
    run_id = record(store, "birch", Birch(), X[["a", "b"]], None)
    with pytest.raises(BundleError, match="Birch.*skops"):
        mlops.export_bundle(run_id, tmp_path / "birch", store=store)
