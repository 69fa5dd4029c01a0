"""Retraining by replaying a run's recorded cells on new data, gated against the champion."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Shell

import jupyter_mlops as mlops
from jupyter_mlops.retrain import RetrainError, retrain

SETUP = """
import numpy as np, pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
X, y = load_breast_cancer(return_X_y=True, as_frame=True)
"""
SPLIT = "X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)"
TRAIN = """%%track lr -e cancer --eval X_test y_test
from sklearn.linear_model import LogisticRegression
C = 0.5
model = LogisticRegression(C=C, max_iter=5000).fit(X_train, y_train)
"""


@pytest.fixture
def champion(shell: Shell) -> Shell:
    for cell in (SETUP, SPLIT, TRAIN, "%mlops promote lr --name bc --stage production "
                 "--no-verify"):
        assert shell.run(cell).result.success
    return shell


def test_retrain_on_new_data_makes_a_child_run_with_lineage(champion: Shell) -> None:
    store = champion.store()
    original = store.get_run("lr")
    ns = champion.ns
    small_X, small_y = ns["X_train"].iloc[:60], ns["y_train"].iloc[:60]
    new = retrain(original.run_id, data={"X_train": small_X, "y_train": small_y}, store=store)
    assert new.parent_run_id == original.run_id and new.run_id != original.run_id
    assert new.tags["retrain_of"] == original.run_id
    assert new.params["C"] == 0.5 and new.params["max_iter"] == 5000  # the original params
    inputs = {e.name: e.fingerprint for e in new.inputs}
    assert inputs["X_train"] != {e.name: e.fingerprint for e in original.inputs}["X_train"]
    assert "roc_auc" in new.metrics  # evaluated on the original --eval data
    assert new.source == original.source
    assert any("train_test_split" in c.source for c in new.code_slice)
    assert store.load_model(new.run_id).n_features_in_ == 30
    assert "not promoted" in new.tags["promotion"]
    assert store.load_model("bc@production").__class__.__name__ == "LogisticRegression"


def test_gated_retrain_that_loses_is_not_promoted(champion: Shell) -> None:
    store = champion.store()
    ns = champion.ns
    worse = retrain("lr", data={"X_train": ns["X_train"].iloc[:25],
                                "y_train": ns["y_train"].iloc[:25]},
                    promote_to="production", store=store)
    assert worse.tags["promotion"].startswith("refused: gate refused")
    assert mlops.open_store(store.directory).models()["version"].tolist() == [1]
    assert "promotion-refused" in [e.action for e in store.events("bc")]


def test_gated_retrain_that_wins_is_promoted(champion: Shell) -> None:
    store = champion.store()
    ns = champion.ns
    champion.run("%%track weak -e cancer --eval X_test y_test\n"
                 "from sklearn.tree import DecisionTreeClassifier\n"
                 "weak = DecisionTreeClassifier(max_depth=1).fit(X_train, y_train)")
    champion.run("%mlops promote weak --name stumps --stage production --no-verify")
    better = retrain("weak", data={"X_train": ns["X_train"], "y_train": ns["y_train"]},
                     promote_to="production", gate="roc_auc >= 0.5", store=store)
    assert better.tags["promotion"] == "promoted as stumps/2 (production)"
    assert store.load_model("stumps@production") is not None


def test_missing_inputs_are_named_and_nothing_runs(champion: Shell) -> None:
    store = champion.store()
    champion.ns["injected"] = champion.ns["X_train"]  # bound without any recorded cell
    champion.run("%%track sneaky\nfrom sklearn.linear_model import LogisticRegression\n"
                 "m = LogisticRegression(max_iter=5000).fit(injected, y_train)")
    before = store.count_runs()
    with pytest.raises(RetrainError, match=r"it reads injected, which no recorded cell "
                                           r"defines. Pass them with data=\{'injected': \.\.\.\}"):
        retrain("sneaky", store=store)
    assert store.count_runs() == before
    assert retrain("sneaky", data={"injected": champion.ns["X_train"]},
                   store=store).status == "finished"


def test_a_replay_that_fails_is_recorded_and_reported(champion: Shell) -> None:
    store = champion.store()
    with pytest.raises(RetrainError, match="failed run"):
        retrain("lr", data={"X_train": champion.ns["X_train"].iloc[:50],
                            "y_train": champion.ns["y_train"]}, store=store)
    assert store.runs()["status"].iloc[0] == "failed"


def test_magic_and_cli(champion: Shell, store_dir: Path, tmp_path: Path) -> None:
    champion.run("X_new = X_train.iloc[:80]\ny_new = y_train.iloc[:80]")
    cell = champion.run("%mlops retrain lr --data X_train=X_new --data y_train=y_new "
                        "--promote-to production")
    assert "retrained: run" in cell.stdout and "refused" in cell.stdout
    assert "--data needs VAR=VALUE" in champion.run("%mlops retrain lr --data oops").stderr
    champion.ns["X_train"].to_csv(tmp_path / "X.csv", index=False)
    champion.ns["y_train"].to_csv(tmp_path / "y.csv", index=False)
    done = subprocess.run([sys.executable, "-m", "jupyter_mlops.cli", "--store", str(store_dir),
                           "retrain", "lr", "--data", f"X_train={tmp_path / 'X.csv'}",
                           "--data", f"y_train={tmp_path / 'y.csv'}"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "retrained: run" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "jupyter_mlops.cli", "--store", str(store_dir),
                          "retrain", "lr", "--data", "X_train=data.xlsx"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "use a .csv, .parquet or .jsonl file" in bad.stderr
