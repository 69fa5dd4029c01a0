"""A run records the data each model was fitted on, however the cell built it."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Shell

import jupyter_mlops as mlops
from jupyter_mlops.capture.fits import FitWatcher, watching

DATA = """
import numpy as np, pandas as pd
from sklearn.linear_model import LinearRegression, LogisticRegression
rng = np.random.default_rng(0)
df = pd.DataFrame(rng.normal(size=(300, 4)), columns=["a", "b", "c", "d"])
df["target"] = (df.a + df.b > 0).astype(int)
df["id"] = np.arange(300)
"""


def _fitted(shell: Shell, run: str) -> list[tuple[str, list[int]]]:
    record = shell.store().get_run(run)
    return [(e.name, e.detail["shape"]) for e in record.inputs if e.detail.get("fit_of")]


@pytest.mark.parametrize("cell, expected", [
    ("X, y = df.drop(columns=['target', 'id']), df['target']\n"
     "model = LogisticRegression().fit(X, y)", ("X", [300, 4])),
    ("model = LogisticRegression()\nmodel.fit(df[['a', 'b']], df.target)",
     ("model.fit(X)", [300, 2])),
    ("def train(frame):\n    return LogisticRegression().fit(frame[['a', 'c', 'd']], "
     "frame.target)\nmodel = train(df[df.id < 200])", ("model.fit(X)", [200, 3])),
])
def test_the_fit_input_is_recorded_and_exportable(shell: Shell, tmp_path: Path, cell: str,
                                                  expected: tuple[str, list[int]]) -> None:
    assert shell.run(DATA).result.success
    assert shell.run("%%track fit-here\n" + cell).result.success
    assert _fitted(shell, "fit-here") == [expected]
    assert "df" in {e.name for e in shell.store().get_run("fit-here").inputs}  # upstream
    bundle = mlops.export_bundle("fit-here", tmp_path / "b", store=shell.store())
    loaded = mlops.load_bundle(bundle)
    frame = shell.ns["df"][loaded.columns].head(5)
    assert loaded.predict(frame).tolist() == shell.ns["model"].predict(frame).tolist()
    reference = mlops.reference_profile(shell.store(), "fit-here")  # drift: what it saw
    assert list(reference["columns"]) == loaded.columns


def test_fits_inside_libraries_are_not_mistaken(shell: Shell) -> None:
    assert shell.run(DATA).result.success
    cell = ("%%track search\n"
            "from sklearn.model_selection import GridSearchCV\n"
            "search = GridSearchCV(LogisticRegression(), {'C': [0.1, 1.0]}, cv=3)\n"
            "search.fit(df[['a', 'b', 'c']], df.target)\n")
    assert shell.run(cell).result.success
    fitted = {e.detail["fit_of"]: e.detail["shape"]
              for e in shell.store().get_run("search").inputs if e.detail.get("fit_of")}
    assert fitted == {"search": [300, 3]}  # not the cross-validation folds


def test_a_subclass_calling_super_fit_records_the_outer_call() -> None:
    namespace: dict[str, object] = {}
    watcher = FitWatcher(namespace)
    with watching(watcher):
        exec(DATA + "class Mine(LinearRegression):\n"  # noqa: S102 (a notebook's cells)
             "    def fit(self, X, y):\n"
             "        return super().fit(X[['a']], y)\n"
             "mine = Mine().fit(df[['a', 'b']], df.target)\n", namespace)
    assert watcher.fitted_on(namespace["mine"]).shape == (300, 2)


def test_fit_methods_are_restored_after_the_cell(shell: Shell) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    before = (LogisticRegression.__dict__["fit"], Pipeline.__dict__["fit"])
    assert shell.run(DATA).result.success
    failing = shell.run("%%track boom\nLogisticRegression().fit(df[['a']], df.target)\n"
                        "raise ValueError('boom')")
    assert not failing.result.success
    assert (LogisticRegression.__dict__["fit"], Pipeline.__dict__["fit"]) == before
    from sklearn.base import BaseEstimator

    assert "__init_subclass__" not in BaseEstimator.__dict__
