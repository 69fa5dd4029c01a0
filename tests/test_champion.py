"""The champion gate: primary metric, tie-breakers, minimum improvement, paired tests."""

from __future__ import annotations

import re

import pytest
from conftest import Shell

import jupyter_mlops as mlops
from jupyter_mlops.errors import GateError, PromotionError
from jupyter_mlops.lifecycle.champion import (
    ChampionRule,
    compare_models,
    compare_predictions,
    parse_champion,
)
from jupyter_mlops.lifecycle.gates import evaluate_gate

# Two classes a long way apart: every logistic regression ranks them perfectly (roc_auc 1.0),
# a barely regularised one is far more confident (lower log_loss) than a heavily regularised one.
SEPARABLE = """
import numpy as np
from sklearn.linear_model import LogisticRegression
rng = np.random.default_rng(0)
X = np.r_[rng.uniform(-3, -1, (60, 1)), rng.uniform(1, 3, (60, 1))]
y = np.r_[np.zeros(60, int), np.ones(60, int)]
X_test, y_test = X[::2], y[::2]
"""
SOFT = "%%track soft --eval X_test y_test\nsoft = LogisticRegression(C=0.01).fit(X, y)"
SHARP = "%%track sharp --eval X_test y_test\nsharp = LogisticRegression(C=100).fit(X, y)"


@pytest.fixture
def tied(shell: Shell) -> Shell:
    for cell in (SEPARABLE, SOFT, SHARP):
        assert shell.run(cell).result.success
    store = shell.store()
    assert store.get_run("soft").metrics["roc_auc"] == store.get_run("sharp").metrics[
        "roc_auc"] == 1.0
    return shell


def test_a_tie_on_roc_auc_is_broken_by_log_loss_in_favour_of_the_challenger(tied: Shell
                                                                            ) -> None:
    # Given the soft model in production, when the sharper one (same roc_auc 1.0, lower
    # log_loss) is promoted through the champion gate, then log_loss decides and it wins.
    assert tied.run("%mlops promote soft --name sep --stage production --no-verify"
                    ).result.success
    done = tied.run("%mlops promote sharp --name sep --stage production --gate champion "
                    "--no-verify")
    assert done.result.success, done.stderr
    version = mlops.open_store().models().iloc[0]
    assert (version["version"], version["stage"], version["run_name"]) == (2, "production",
                                                                           "sharp")
    gate = next(e for e in tied.store().events("sep") if e.action == "register"
                and e.subject == "sep/2").detail["gate"]
    assert gate["passed"] and gate["decided_by"] == "log_loss" and gate["tied"] == ["roc_auc"]
    assert gate["verdict"].startswith("log_loss decided after a tie on roc_auc at 1 on 60 "
                                      "rows: challenger ")
    assert "(better by " in gate["verdict"]


def test_a_tie_on_roc_auc_is_broken_by_log_loss_against_the_challenger(tied: Shell) -> None:
    # Given the sharp model in production, the soft one (same roc_auc, higher log_loss) loses,
    # and the refusal says which metric decided and by how much.
    tied.run("%mlops promote sharp --name sep --stage production --no-verify")
    store = tied.store()
    with pytest.raises(PromotionError) as refused:
        mlops.promote("soft", name="sep", stage="production", gate="champion", verify=False,
                      data=(tied.ns["X_test"], tied.ns["y_test"]), store=store)
    message = str(refused.value)
    assert "log_loss decided after a tie on roc_auc at 1 on 60 rows" in message
    assert "vs sep/1 (sep@production)" in message
    assert "(worse by " in message and "lower is better" in message
    assert store.models()["version"].tolist() == [1]


def test_min_improvement_and_an_all_tied_comparison_refuse(tied: Shell) -> None:
    ns = tied.ns
    soft, sharp, X, y = ns["soft"], ns["sharp"], ns["X_test"], ns["y_test"]
    strict = compare_models(sharp, soft, X, y, rule=parse_champion(
        "champion(min_improvement=5)"), champion_label="sep/1")
    assert not strict.passed and strict.decided_by == "log_loss"
    assert "less than the required min_improvement 5" in strict.describe()
    same = compare_models(soft, soft, X, y, champion_label="sep/1")
    assert not same.passed and same.decided_by is None
    assert same.describe() == ("no metric decided on 60 rows: tied with sep/1 on roc_auc, "
                               "log_loss, brier, accuracy; the champion stays")


def test_recorded_answers_decide_as_re_scoring_does(tied: Shell) -> None:
    # CI judges from the answers both runs kept on their --eval rows: the same verdict
    store = tied.store()
    kept = {name: store.eval_predictions(name).arrays for name in ("soft", "sharp")}
    ns = tied.ns
    for new, old in (("sharp", "soft"), ("soft", "sharp"), ("soft", "soft")):
        rescored = compare_models(ns[new], ns[old], ns["X_test"], ns["y_test"],
                                  champion_label=old)
        recorded = compare_predictions(kept[new], kept[old], champion_label=old)
        assert (recorded.passed, recorded.describe()) == (rescored.passed, rescored.describe())
    other_rows = {**kept["soft"], "y_true": kept["soft"]["y_true"][::-1]}
    with pytest.raises(GateError, match="evaluated on different rows"):
        compare_predictions(kept["sharp"], other_rows)


NOISY = """
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
X, y = make_classification(n_samples=300, n_features=5, flip_y=0.3, random_state=1)
X_train, y_train, X_test, y_test = X[:200], y[:200], X[200:], y[200:]
"""


def test_a_tiny_noisy_improvement_is_refused_under_the_paired_test(shell: Shell) -> None:
    # Given two models 0.002 roc_auc apart on 100 noisy rows
    shell.run(NOISY)
    shell.run("%%track tight --eval X_test y_test\n"
              "tight = LogisticRegression(C=1.0).fit(X_train, y_train)")
    shell.run("%%track loose --eval X_test y_test\n"
              "loose = LogisticRegression(C=0.05).fit(X_train, y_train)")
    store = shell.store()
    gain = store.get_run("loose").metrics["roc_auc"] - store.get_run("tight").metrics["roc_auc"]
    assert 0 < gain < 0.005
    shell.run("%mlops promote tight --name noisy --stage production --no-verify")
    # then the plain gate takes the tiny improvement, the paired bootstrap does not
    plain = compare_models(shell.ns["loose"], shell.ns["tight"], shell.ns["X_test"],
                           shell.ns["y_test"])
    assert plain.passed and plain.decided_by == "roc_auc"
    refused = shell.run("%mlops promote loose --name noisy --stage production --no-verify "
                        "--gate \"champion(test='bootstrap')\"")
    assert "UsageError" in refused.stderr
    assert "roc_auc decided on 100 rows" in refused.stderr and "(better by 0.002" in \
        refused.stderr
    assert "paired bootstrap of roc_auc over 1000 resamples of the 100 rows: p=" in \
        refused.stderr and "so the improvement may be noise" in refused.stderr
    mcnemar = compare_models(shell.ns["loose"], shell.ns["tight"], shell.ns["X_test"],
                             shell.ns["y_test"], rule=ChampionRule(test="mcnemar"))
    assert not mcnemar.passed and "paired McNemar test on accuracy" in mcnemar.describe()
    assert store.models()["version"].tolist() == [1]
    refusal = next(e for e in store.events("noisy") if e.action == "promotion-refused")
    assert refusal.detail["gate"]["p_value"] > 0.05


def test_a_clear_improvement_passes_the_paired_test(shell: Shell) -> None:
    shell.run(NOISY)
    shell.run("from sklearn.dummy import DummyClassifier\n"
              "stub = DummyClassifier(strategy='stratified', random_state=0).fit(X_train, y_train)"
              "\ngood = LogisticRegression().fit(X_train, y_train)")
    result = compare_models(shell.ns["good"], shell.ns["stub"], shell.ns["X_test"],
                            shell.ns["y_test"], rule=ChampionRule(test="bootstrap"))
    assert result.passed and result.p_value is not None and result.p_value < 0.01
    assert "≤ 0.05" in result.describe()


def test_regressors_compare_rmse_then_mae() -> None:
    import numpy as np
    from sklearn.linear_model import LinearRegression
    from sklearn.tree import DecisionTreeRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = X @ [1.0, 2.0, -1.0] + rng.normal(scale=0.1, size=200)
    line = LinearRegression().fit(X, y)
    stump = DecisionTreeRegressor(max_depth=1).fit(X, y)
    won = compare_models(line, stump, X, y)
    assert won.passed and won.decided_by == "rmse" and "lower" in won.conditions[0].text
    assert not compare_models(stump, line, X, y).passed


@pytest.mark.parametrize("gate, message", [
    ("champion(min_improvement=-1)", "min_improvement is a number ≥ 0"),
    ("champion(test='t-test')", "use one of bootstrap, mcnemar"),
    ("champion(metrics=['auc'])", "unknown metric(s) auc"),
    ("champion(alpha=2)", "alpha is a level between 0 and 1"),
    ("champion(margin=1)", "unknown option 'margin'"),
    ("champion(test=open('x'))", "takes a number, a string or a list"),
    ("champion 2", "write champion, or champion(min_improvement=0.01"),
])
def test_malformed_champion_gates_are_clear_errors(gate: str, message: str) -> None:
    with pytest.raises(GateError, match=re.escape(message)):
        parse_champion(gate)


def test_the_rule_reads_back() -> None:
    assert parse_champion("auc>=0.9") is None and parse_champion("Champion") == ChampionRule()
    # a metric that happens to be called champion is gated like any other
    assert parse_champion("champion >= 0.9") is None
    assert evaluate_gate("champion >= 0.9", {"champion": 0.95}).passed
    rule = parse_champion("champion(metrics='log_loss', min_improvement=0.01, test='mcnemar')")
    assert rule == ChampionRule(("log_loss",), 0.01, "mcnemar")
    assert rule.describe() == ("champion(metrics=['log_loss'], min_improvement=0.01, "
                               "test='mcnemar', alpha=0.05)")


def test_recorded_answers_that_do_not_fit_their_rows_are_a_gate_error() -> None:
    """Answers of a tampered or odd recording: a named refusal, never an IndexError."""
    import numpy as np

    y = np.array([0, 1, 0, 1])
    champion = {"y_true": y, "y_pred": y, "proba": np.full((4, 2), 0.5),
                "classes": np.array([0, 1])}
    short = {**champion, "y_pred": y[:3]}
    with pytest.raises(GateError, match="recorded 3 answers for 4 rows"):
        compare_predictions(short, champion)
    with pytest.raises(GateError, match="recorded 3 answers for 4 rows"):
        compare_predictions(champion, short)
    few_proba = {**champion, "y_pred": 1 - y, "proba": np.full((3, 2), 0.5)}  # left out
    assert compare_predictions(few_proba, champion).decided_by == "accuracy"
