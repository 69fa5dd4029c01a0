"""Retraining by replaying a run's recorded cells on new data, gated against the champion."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Shell

import jupyter_mlops as mlops
from jupyter_mlops.lifecycle.retrain import RetrainError, retrain

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
    assert "roc_auc" in new.metrics  # evaluated on the last 18 of the 60 new rows
    assert new.tags["eval_data"] == ("the last 18 of the 60 new rows of X_train, y_train, held "
                                     "out from training")
    assert new.source == original.source
    kept = retrain(original.run_id, data={"X_train": small_X, "y_train": small_y}, holdout=0,
                   store=store)  # no hold-out: --eval uses X_test as the recorded cells make it
    assert any("train_test_split" in c.source for c in kept.code_slice)
    assert "evaluation data of run" in kept.tags["eval_data"]
    with pytest.raises(ValueError, match="holdout is the share of the new training rows"):
        retrain(original.run_id, data={"X_train": small_X, "y_train": small_y}, holdout=30,
                store=store)  # a percentage, not a share: said, not silently ignored
    assert store.load_model(new.run_id).n_features_in_ == 30
    assert "not promoted" in new.tags["promotion"]
    assert store.load_model("bc@production").__class__.__name__ == "LogisticRegression"


def test_gated_retrain_that_loses_is_not_promoted(champion: Shell) -> None:
    store = champion.store()
    ns = champion.ns
    worse = retrain("lr", data={"X_train": ns["X_train"].iloc[:25],
                                "y_train": ns["y_train"].iloc[:25]},
                    promote_to="production", holdout=0, store=store)  # judged on X_test
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
    halves = subprocess.run([sys.executable, "-m", "jupyter_mlops.cli", "--store", str(store_dir),
                             "retrain", "lr", "--data", f"X_train={tmp_path / 'X.csv'}",
                             "--data", f"y_train={tmp_path / 'y.csv'}", "--holdout", "0.5"],
                            capture_output=True, text=True)
    assert halves.returncode == 0, halves.stderr
    child = champion.store().get_run(halves.stdout.split("retrained: run ")[1].split()[0])
    assert child.tags["eval_data"].startswith("the last 213 of the 426 new rows of X_train")
    wrong = subprocess.run([sys.executable, "-m", "jupyter_mlops.cli", "--store", str(store_dir),
                            "retrain", "lr", "--data", f"X_train={tmp_path / 'X.csv'}",
                            "--holdout", "30"], capture_output=True, text=True)
    assert wrong.returncode == 2 and "holdout is the share" in wrong.stderr
    bad = subprocess.run([sys.executable, "-m", "jupyter_mlops.cli", "--store", str(store_dir),
                          "retrain", "lr", "--data", "X_train=data.xlsx"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "use a .csv, .parquet or .jsonl file" in bad.stderr


DRIFTING = """
import numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression
rng = np.random.default_rng(0)
X = pd.DataFrame({"a": rng.normal(size=400), "b": rng.normal(size=400)})
y = pd.Series((X.a > 0).astype(int), name="y")
X_train, y_train, X_test, y_test = X[:300], y[:300], X[300:], y[300:]
"""
CONCEPT_SHIFT = """
X_new = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
y_new = pd.Series((X_new.a < 0).astype(int), name="y")
"""


@pytest.fixture
def drifting(shell: Shell) -> Shell:
    for cell in (DRIFTING, "%%track churn-lr -e shift --tag team=fraud --eval X_test y_test\n"
                 "model = LogisticRegression().fit(X_train, y_train)",
                 "%mlops promote churn-lr --name churn --stage production --no-verify",
                 CONCEPT_SHIFT):
        assert shell.run(cell).result.success
    return shell


def test_the_champion_gate_of_a_retrain_judges_on_held_out_new_rows(drifting: Shell) -> None:
    # Given a model of the old concept in production and data of a new concept, when it is
    # retrained with the champion gate, then both models are judged on new rows the new
    # model did not train on (where the old one is wrong), so the retrained one is promoted.
    store = drifting.store()
    ns = drifting.ns
    new = retrain("churn-lr", data={"X_train": ns["X_new"], "y_train": ns["y_new"]},
                  gate="champion", promote_to="production", verify=False, store=store)
    assert new.tags["promotion"] == "promoted as churn/2 (production)", new.tags["promotion"]
    assert new.tags["eval_data"] == ("the last 90 of the 300 new rows of X_train, y_train, "
                                     "held out from training")
    assert new.metrics["accuracy"] > 0.9  # its --eval metrics are on those new rows too
    assert {e.name: e.detail.get("shape") for e in new.inputs}["X_train"] == [210, 2]
    gate = next(e for e in store.events("churn") if e.action == "register"
                and e.subject == "churn/2").detail["gate"]
    assert gate["rows"] == 90 and gate["decided_by"] == "roc_auc"


def test_a_retrained_run_keeps_its_own_story(drifting: Shell, store_dir: Path) -> None:
    store = drifting.store()
    ns = drifting.ns
    original = store.get_run("churn-lr")
    first = retrain("churn-lr", data={"X_train": ns["X_new"], "y_train": ns["y_new"]},
                    promote_to="staging", verify=False, store=store)
    assert first.tags["promotion"].startswith("promoted as churn/2")
    # A name means the latest run tracked under it (the root of its retraining lineage),
    # not the retrained run that took the same name.
    assert store.resolve_run_id("churn-lr") == original.run_id
    second = retrain("churn-lr", data={"X_train": ns["X_new"], "y_train": ns["y_new"]},
                     store=store)
    assert second.parent_run_id == original.run_id
    assert second.tags["retrain_of"] == original.run_id
    assert second.tags["promotion"] == "not promoted (no promote_to)"
    assert second.tags["team"] == "fraud"  # the user's tags are inherited
    # A retrain of a retrained run that fails: it carries none of its parent's history.
    with pytest.raises(RetrainError, match="failed run"):
        retrain(first.run_id, data={"X_train": ns["X_new"].iloc[:50], "y_train": ns["y_new"],
                                    "X_test": ns["X_new"], "y_test": ns["y_new"]},
                holdout=0, store=store)
    failed = store.get_run(store.runs(limit=1)["run_id"][0])
    assert failed.status == "failed" and failed.parent_run_id == first.run_id
    assert "promotion" not in failed.tags
    assert failed.tags["eval_data"] == "X_test, y_test as given in data="  # its own
    assert failed.tags["retrain_of"] == first.run_id and failed.tags["team"] == "fraud"
    # show says which run a name with several picked; model references are run references
    cli = [sys.executable, "-m", "jupyter_mlops.cli", "--store", str(store_dir)]
    shown = subprocess.run([*cli, "show", "churn-lr"], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"(name 'churn-lr' has 4 runs: picked {original.run_id} "
                                   "(the latest run tracked under that name, started ")
    assert "3 other run(s), 3 of them retrained: " in shown.stdout
    staged = subprocess.run([*cli, "show", "churn@staging"], capture_output=True, text=True)
    assert staged.returncode == 0, staged.stderr
    assert f"run {first.run_id}  churn-lr" in staged.stdout
    assert "(churn@staging is churn/2, the model of run" in staged.stdout
    lineage = subprocess.run([*cli, "lineage", "churn@staging"], capture_output=True,
                             text=True)
    assert lineage.returncode == 0, lineage.stderr
    assert "retrained from (its cells replayed on new data):\n" \
           f"    {original.run_id[:10]} churn-lr [finished]" in lineage.stdout
    root = subprocess.run([*cli, "lineage", "churn-lr"], capture_output=True, text=True)
    assert "  retrained as:\n" in root.stdout and first.run_id[:10] in root.stdout


def test_a_retrain_checks_its_promotion_before_replaying(champion: Shell) -> None:
    store = champion.store()
    ns = champion.ns
    champion.run("%%track unpromoted -e cancer --eval X_test y_test\n"
                 "from sklearn.tree import DecisionTreeClassifier\n"
                 "tree = DecisionTreeClassifier(max_depth=2).fit(X_train, y_train)")
    before = store.count_runs()
    new_data = {"X_train": ns["X_train"], "y_train": ns["y_train"]}
    for bad, message in (
        ({}, r"run \w+ \(unpromoted\) was never promoted: pass name= \(--name\)"),
        ({"name": "bc", "gate": "auc >>= 1"}, "is not a valid expression"),
        ({"name": "bc", "promote_to": "no stage"}, "invalid stage or alias 'no stage'"),
        ({"name": "bc", "gate": "champion(test='z')"}, "use one of bootstrap, mcnemar"),
    ):
        options = {"promote_to": "production", **bad}
        with pytest.raises((RetrainError, ValueError), match=message):
            retrain("unpromoted", data=new_data, store=store, **options)
    assert store.count_runs() == before  # nothing was replayed or stored
    # retraining "lr" twice, the first refused: the second retrains the same root, which
    # was promoted, so it knows the registered name
    root = store.get_run("lr").run_id
    refused = retrain("lr", data={"X_train": ns["X_train"].iloc[:25],
                                  "y_train": ns["y_train"].iloc[:25]},
                      promote_to="production", holdout=0, store=store)
    assert refused.tags["promotion"].startswith("refused: gate refused")
    again = retrain("lr", data=new_data, promote_to="staging", gate=None, store=store)
    assert again.parent_run_id == root and again.tags["promotion"] == "promoted as bc/2 (staging)"
    # the name of a run promoted before is found through the run it was retrained from
    child = retrain("lr", data=new_data, store=store)
    grandchild = retrain(child.run_id, data=new_data, promote_to="staging", gate=None,
                         store=store)
    assert grandchild.tags["promotion"] == "promoted as bc/3 (staging)"


def test_lineage_of_a_retrained_run_shows_its_parent_and_replayed_cells(
        champion: Shell, store_dir: Path) -> None:
    store = champion.store()
    ns = champion.ns
    original = store.get_run("lr")
    new = retrain("lr", data={"X_train": ns["X_train"].iloc[:100],
                              "y_train": ns["y_train"].iloc[:100]}, holdout=0, store=store)
    counts = [c.execution_count for c in original.code_slice]
    assert [c.execution_count for c in new.code_slice] == counts and None not in counts
    done = subprocess.run([sys.executable, "-m", "jupyter_mlops.cli", "--store",
                           str(store_dir), "lineage", new.run_id], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    assert "[None]" not in done.stdout
    labels = " ".join(f"[{n}]" for n in counts)
    assert f"  code slice (replayed): cells {labels} then this cell" in done.stdout
    assert f"retrained from (its cells replayed on new data):\n    {original.run_id[:10]} lr" \
        in done.stdout
