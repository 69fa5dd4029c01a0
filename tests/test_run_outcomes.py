"""What a run claims when its cell fails or its options go wrong: only what it really made."""

from __future__ import annotations

import pytest
from conftest import Shell

import jupyter_mlops as mlops
from jupyter_mlops.errors import UnfinishedRunError

DATA = """\
import numpy as np, pandas as pd
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression, SGDClassifier
X, y = load_iris(return_X_y=True, as_frame=True)
clf = SGDClassifier(random_state=0).fit(X, y)
"""


def test_a_failed_cell_claims_only_what_it_made_before_the_error(shell: Shell) -> None:
    # Given a model an earlier cell made
    shell.run(DATA)
    # When a tracked cell fails before it rebinds that name
    cell = shell.run("%%track broken --model clf --eval X y\n"
                     "C = -1\nclf = LogisticRegression(C=C).fit(X, y)\n"
                     "acc = clf.score(X, y)")
    assert not cell.result.success  # the exception still reaches the user
    run = shell.store().get_run("broken")
    # Then the run names neither the earlier model nor its params, and says it is partial
    assert run.status == "failed" and "InvalidParameterError" in (run.error or "")
    assert [e for e in run.outputs if e.kind == "model"] == []
    assert run.params == {"C": -1}
    assert run.metrics == {}
    assert run.tags["partial"] and any("partial run" in w for w in run.warnings)
    assert "model SGDClassifier" not in cell.stdout


def test_a_failed_cell_keeps_the_model_it_fitted_before_the_error(shell: Shell) -> None:
    shell.run(DATA)
    shell.run("%%track late-failure\nmodel = LogisticRegression(max_iter=500).fit(X, y)\n"
              "acc = model.score(X, y)\nraise RuntimeError('plotting failed')\nlater = 1")
    run = shell.store().get_run("late-failure")
    assert [(e.name, e.detail["class"]) for e in run.outputs if e.kind == "model"] == [
        ("model", "LogisticRegression")]
    assert run.params["C"] == 1.0 and "later" not in run.params
    assert run.metrics["acc"] > 0.9


def test_a_failed_run_cannot_be_promoted_or_bundled(shell: Shell, tmp_path) -> None:
    shell.run(DATA)
    shell.run("%%track late-failure\nmodel = LogisticRegression(max_iter=500).fit(X, y)\n"
              "raise RuntimeError('boom')")
    store = shell.store()
    with pytest.raises(UnfinishedRunError, match=r"failed \(RuntimeError: boom\): only"):
        mlops.promote("late-failure", name="iris", store=store)
    with pytest.raises(UnfinishedRunError, match="finished run can be promoted or bundled"):
        mlops.export_bundle("late-failure", tmp_path / "bundle", store=store)
    text = shell.run("%mlops promote late-failure --name iris").stderr
    assert "(late-failure) failed" in text and "Traceback" not in text
    assert store.models().empty


def test_an_eval_failure_loses_only_the_eval_metrics(shell: Shell) -> None:
    # A model trained on encoded labels, scored by the cell itself, evaluated on string labels
    shell.run(DATA + "from sklearn.preprocessing import LabelEncoder\n"
              "names = pd.Series(np.array(['setosa', 'versicolor', 'virginica'])[y])\n"
              "encoder = LabelEncoder().fit(names)")
    cell = shell.run("%%track encoded --eval X names\n"
                     "model = LogisticRegression(max_iter=500).fit(X, encoder.transform(names))\n"
                     "model_acc = model.score(X, encoder.transform(names))")
    assert cell.result.success
    run = shell.store().get_run("encoded")
    assert run.status == "finished" and list(run.metrics) == ["model_acc"]
    warning = next(w for w in run.warnings if w.startswith("--eval X names"))
    assert "could not score the model" in warning and "metrics the cell computed are kept" \
        in warning
    assert "⚠ --eval X names" in cell.stdout


def test_a_mistyped_option_name_is_the_first_thing_said(shell: Shell) -> None:
    shell.run(DATA + "X_test, y_test = X, y")
    cell = shell.run("%%track typo --eval X_tst y_test --model clff\n"
                     "model = LogisticRegression(max_iter=500).fit(X, y)\nmodel")
    assert cell.result.success
    expected = ("--eval X_tst: no variable X_tst exists, and the cell does not assign it "
                "(did you mean X_test?); --eval ignores it")
    # Said before the cell runs (so above its result), once: not again in the summary
    assert cell.stderr.count(expected) == 1 and expected not in cell.stdout
    run = shell.store().get_run("typo")
    assert run.status == "finished" and run.warnings[0] == expected
    assert run.warnings[1].startswith("--model clff: no variable clff exists")
    assert not [w for w in run.warnings if "after the cell ran" in w]  # said once
    # A name the cell itself binds is not a typo
    shell.run("%%track fine --eval Xv yv\nXv, yv = X, y\n"
              "model = LogisticRegression(max_iter=500).fit(X, y)")
    fine = shell.store().get_run("fine")
    assert fine.warnings == [] and "accuracy" in fine.metrics
