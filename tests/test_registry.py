"""Registry, gates and the audit log, on real runs in a real shell and real SQLite files."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Shell, run_workers

import jupyter_mlops as mlops
from jupyter_mlops.errors import GateError, NotFoundError, PromotionError
from jupyter_mlops.lifecycle.gates import evaluate_gate

TRAIN = """
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
X, y = load_breast_cancer(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
"""
GOOD = ("%%track good --eval X_test y_test\nfrom sklearn.linear_model import LogisticRegression\n"
        "good = LogisticRegression(max_iter=5000).fit(X_train, y_train)")
WEAK = ("%%track weak --eval X_test y_test\nfrom sklearn.tree import DecisionTreeClassifier\n"
        "weak = DecisionTreeClassifier(max_depth=1).fit(X_train, y_train)")


@pytest.fixture
def trained(shell: Shell) -> Shell:
    for cell in (TRAIN, GOOD, WEAK):
        assert shell.run(cell).result.success
    return shell


def test_versions_stages_and_aliases(trained: Shell) -> None:
    store = trained.store()
    v1 = mlops.promote("good", name="cancer", stage="production", verify=False, store=store)
    v2 = mlops.promote("weak", name="cancer", stage="staging", store=store)
    assert (v1.version, v1.stage, v2.version, v2.stage) == (1, "production", 2, "staging")
    v2 = mlops.transition("cancer", 2, "production", "weak but fast", verify=False,
                          store=store)
    assert v2.stage == "production"
    assert store.load_model("cancer@production").__class__.__name__ == "DecisionTreeClassifier"
    assert store.load_model("cancer/1").__class__.__name__ == "LogisticRegression"
    from jupyter_mlops.store.registry import get_version

    assert get_version(store, "cancer/1").stage == "archived"
    mlops.transition("cancer", 1, "champion", store=store)
    mlops.transition("cancer", 2, "champion", store=store)
    assert get_version(store, "cancer/1").aliases == []
    assert get_version(store, "cancer@champion").version == 2
    models = store.models()
    assert list(models["version"]) == [2, 1]
    assert models.set_index("version").loc[2, "aliases"] == "champion"
    mlops.transition("cancer", 2, "blessed", store=store)
    assert get_version(store, "cancer/2").aliases == ["blessed", "champion"]
    with pytest.raises(NotFoundError, match="no model version 'cancer@canary'"):
        store.load_model("cancer@canary")


def test_expression_gate_pass_fail_and_force(trained: Shell) -> None:
    store = trained.store()
    passed = mlops.promote("good", name="m", gate="auc>=0.95 and f1>0.9", store=store)
    assert passed.gate is not None and passed.gate["passed"]
    with pytest.raises(PromotionError, match=r"auc >= 0.99: 0.88\d+ \(FAILED, off by 0.1"):
        mlops.promote("weak", name="m", gate="auc >= 0.99", store=store)
    assert len(store.models()) == 1  # nothing registered
    with pytest.raises(PromotionError, match="needs a reason .*--reason TEXT"):
        mlops.promote("weak", name="m", gate="auc >= 0.99", force=True, store=store)
    forced = mlops.promote("weak", name="m", gate="auc >= 0.99", force=True,
                           reason="needed for the demo", store=store)
    actions = [e.action for e in store.events("m")]
    assert "gate-override" in actions and "promotion-refused" in actions
    assert forced.version == 2 and forced.reason == "needed for the demo"


@pytest.mark.parametrize("gate, message", [
    ("auc >=", "not a valid expression"),
    ("auc >= banana", "no metric 'banana'"),
    ("__import__('os')", "expected a comparison"),
    ("auc >= 0.9 + 0.01", "only metric names and numbers"),
    ("auc in [1]", "unsupported comparison"),
    ("", "non-empty expression"),
])
def test_bad_gates_are_clear_errors(gate: str, message: str) -> None:
    with pytest.raises(GateError, match=message):
        evaluate_gate(gate, {"roc_auc": 0.9})


def test_gate_language() -> None:
    metrics = {"roc_auc": 0.91, "f1": 0.7, "loss": 0.2}
    assert evaluate_gate("auc > 0.9 and (f1 > 0.8 or loss < 0.3)", metrics).passed
    assert not evaluate_gate("not loss < 0.3", metrics).passed
    result = evaluate_gate("0.5 < f1 <= 0.65", metrics)
    assert not result.passed and [c.passed for c in result.conditions] == [True, False]


def test_champion_gate_rescores_on_the_same_data(trained: Shell) -> None:
    store = trained.store()
    data = (trained.ns["X_test"], trained.ns["y_test"])
    mlops.promote("weak", name="c", stage="production", gate="champion", data=data,
                  verify=False, store=store)  # no champion yet: passes
    better = mlops.promote("good", name="c", stage="production", gate="champion", data=data,
                           verify=False, store=store)
    assert better.gate is not None and "roc_auc" in better.gate["conditions"][0]["text"]
    with pytest.raises(PromotionError, match=r"roc_auc decided on \d+ rows: challenger [\d.]+ "
                                             r"vs c/2 \(c@production\) [\d.]+ \(worse by"):
        mlops.promote("weak", name="c", stage="production", gate="champion", data=data,
                      verify=False, store=store)
    with pytest.raises(PromotionError, match="data=\\(X, y\\)"):
        mlops.promote("weak", name="c", stage="production", gate="champion", store=store)


def test_magic_promote_finds_eval_data_and_reports_refusals(trained: Shell) -> None:
    ok = trained.run("%mlops promote weak --name mg --stage production --no-verify")
    assert "promoted: mg/1 [production] ← run weak (" in ok.stdout
    better = trained.run("%mlops promote good --name mg --stage production --gate champion "
                         "--no-verify --reason 'beats the tree'")
    assert "promoted: mg/2 [production]" in better.stdout
    assert "gate champion (mg@production): passed (roc_auc decided on " in better.stdout
    assert " vs mg/1 (mg@production) " in better.stdout
    refused = trained.run("%mlops promote weak --name mg --stage production --gate champion")
    assert "UsageError" in refused.stderr + refused.stdout
    assert "(worse by " in refused.stderr + refused.stdout
    assert "--name" in trained.run("%mlops promote weak").stderr
    models = trained.run("%mlops models").value
    assert list(models["version"]) == [2, 1] and list(models["run_name"]) == ["good", "weak"]
    del trained.ns["X_test"]  # a fresh kernel: the evaluation data is not defined yet
    missing = trained.run("%mlops promote weak --name mg --stage production --gate champion")
    assert "define them as they were when weak was evaluated" in missing.stderr
    assert "X_test and y_test" in missing.stderr
    # the CLI's transition, delete-version and events, from the notebook
    moved = trained.run("%mlops transition mg 1 staging --reason 'back to staging'")
    assert "moved: mg/1 [staging]" in moved.stdout, moved.stderr
    assert "deleted mg/1" in trained.run("%mlops delete-version mg 1 --reason test").stdout
    unknown = trained.run("%mlops events nosuch").stdout
    assert "no events for 'nosuch'; the audit log has events for mg (`%mlops events`" in unknown


def test_audit_log_is_append_only_and_tamper_evident(trained: Shell) -> None:
    store = trained.store()
    mlops.promote("good", name="audited", stage="staging", reason="first", store=store)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.conn.execute("UPDATE events SET reason = 'changed'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.conn.execute("DELETE FROM events")
    store.conn.rollback()
    assert store.check() == []
    with store.transaction() as conn:
        conn.execute("DROP TRIGGER events_no_update")
        conn.execute("UPDATE events SET reason = 'forged' WHERE action = 'register'")
    problems = store.check()
    assert any("event 2 (register audited/1) was altered" in p for p in problems)
    done = subprocess.run([sys.executable, "-m", "jupyter_mlops.cli", "--store",
                           str(store.directory), "doctor"], capture_output=True, text=True)
    assert done.returncode == 1 and "was altered" in done.stdout


PROMOTE_MANY = """
import json, sys
import jupyter_mlops as mlops
directory, worker, run_ids = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
store = mlops.open_store(directory)
versions = []
for i, run_id in enumerate(run_ids * 5):
    stage = "production" if (i + worker) % 2 else "staging"
    versions.append(mlops.promote(run_id, name="race", stage=stage, verify=False,
                                  store=store).version)
print(json.dumps(versions))
"""


def test_concurrent_promotions_keep_stages_unique(trained: Shell) -> None:
    store = trained.store()
    run_ids = ",".join(store.runs()["run_id"])
    outputs = run_workers(PROMOTE_MANY, [[str(store.directory), str(w), run_ids]
                                         for w in range(2)])
    numbers = sorted(v for out in outputs for v in json.loads(out))
    assert numbers == list(range(1, 21))
    stages = store.conn.execute("SELECT stage, count(*) FROM model_versions WHERE name = 'race' "
                                "GROUP BY stage").fetchall()
    counts = dict(stages)
    assert counts["production"] == 1 and counts["staging"] == 1 and counts["archived"] == 18
    assert store.check() == []


def test_cli_promote_transition_models_events(trained: Shell, store_dir: Path) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "jupyter_mlops.cli", "--store",
                               str(store_dir), *args], capture_output=True, text=True)

    promoted = cli("promote", "good", "--name", "viacli", "--gate", "auc>=0.9",
                   "--reason", "from the terminal")
    assert promoted.returncode == 0, promoted.stderr
    assert "viacli/1" in promoted.stdout
    second = cli("promote", "weak", "--name", "viacli", "--reason", "to be deleted")
    assert second.returncode == 0, second.stderr
    assert cli("delete-version", "viacli", "2").returncode == 2  # a reason is required
    deleted = cli("delete-version", "viacli", "2", "--reason", "promoted by mistake")
    assert deleted.returncode == 0 and "deleted viacli/2" in deleted.stdout
    assert cli("delete-version", "viacli", "2", "--reason", "again").returncode == 2
    refused = cli("promote", "weak", "--name", "viacli", "--gate", "auc>=0.99")
    assert refused.returncode == 2 and "FAILED" in refused.stderr
    assert cli("transition", "viacli", "1", "staging").returncode == 0
    assert "staging" in cli("models").stdout
    events = cli("events", "viacli").stdout
    assert "register" in events and "promotion-refused" in events and "transition" in events
    assert "delete" in events and "promoted by mistake" in events
