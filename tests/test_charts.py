"""Charts: the figures hold the expected traces, and their values match scikit-learn."""

from __future__ import annotations

import json
import re

import numpy as np
import plotly.graph_objects as go
import pytest
from conftest import Shell, track_chain
from recorded import record_run
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from jupyter_mlops import Entity, Store, charts
from jupyter_mlops.errors import NoPredictionsError, RunNotFoundError

CANCER = """
import numpy as np, pandas as pd
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.model_selection import train_test_split
X, y = load_breast_cancer(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
"""
LOGISTIC = """%%track lr -e cancer --eval X_test y_test
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
model = make_pipeline(StandardScaler(), LogisticRegression(C=0.3, max_iter=500))
model.fit(X_train, y_train)
"""


def trace(fig: go.Figure, pattern: str) -> go.BaseTraceType:
    found = [t for t in fig.data if t.name and re.search(pattern, t.name)]
    assert len(found) == 1, [t.name for t in fig.data]
    return found[0]


def number_in(name: str) -> float:
    return float(re.search(r"\d+\.\d+", name).group())  # type: ignore[union-attr]


# -- classifier diagnostics ----------------------------------------------------------------
def test_binary_classifier_diagnostics_match_sklearn(shell: Shell) -> None:
    shell.run(CANCER)
    assert shell.run(LOGISTIC).result.success
    store = shell.store()
    run = store.get_run("lr")
    model, X_test, y_test = shell.ns["model"], shell.ns["X_test"], shell.ns["y_test"]
    score = model.predict_proba(X_test)[:, 1]

    fig = charts.classifier_diagnostics(store, run.run_id)

    assert [a.text for a in fig.layout.annotations][:4] == [
        "confusion matrix", "ROC (positive class 1)", "precision-recall", "calibration"]
    heatmap = fig.data[0]
    assert heatmap.type == "heatmap" and list(heatmap.x) == ["0", "1"]
    np.testing.assert_array_equal(
        heatmap.z, skm.confusion_matrix(y_test, model.predict(X_test), labels=[0, 1]))
    roc = trace(fig, r"^ROC \(AUC")
    assert number_in(roc.name) == pytest.approx(skm.roc_auc_score(y_test, score), abs=5e-5)
    assert number_in(roc.name) == pytest.approx(run.metrics["roc_auc"], abs=5e-5)
    fpr, tpr, _ = skm.roc_curve(y_test, score)
    np.testing.assert_allclose(roc.x, fpr)
    np.testing.assert_allclose(roc.y, tpr)
    pr = trace(fig, r"^precision-recall \(AP")
    assert number_in(pr.name) == pytest.approx(skm.average_precision_score(y_test, score),
                                               abs=5e-5)
    observed, predicted = calibration_curve(y_test, score, n_bins=10)
    calibration = trace(fig, "^calibration$")
    np.testing.assert_allclose(calibration.x, predicted)
    np.testing.assert_allclose(calibration.y, observed)
    assert "lr" in fig.layout.title.text and "X_test" in fig.layout.title.text
    assert len(fig.to_json()) < 100_000


def test_multiclass_diagnostics_have_one_roc_per_class(shell: Shell) -> None:
    shell.run(CANCER + "Xi, yi = load_iris(return_X_y=True)\n"
              "Xi_train, Xi_test, yi_train, yi_test = train_test_split("
              "Xi, yi, test_size=0.4, random_state=1)")
    shell.run("%%track iris --eval Xi_test yi_test\n"
              "from sklearn.linear_model import LogisticRegression\n"
              "clf = LogisticRegression(C=0.05, max_iter=1000).fit(Xi_train, yi_train)")
    clf, X_test, y_test = shell.ns["clf"], shell.ns["Xi_test"], shell.ns["yi_test"]
    proba = clf.predict_proba(X_test)

    fig = charts.classifier_diagnostics(shell.store(), "iris")

    np.testing.assert_array_equal(fig.data[0].z, skm.confusion_matrix(y_test, clf.predict(X_test)))
    for label in range(3):
        roc = trace(fig, rf"^class {label} \(AUC")
        expected = skm.roc_auc_score(y_test == label, proba[:, label])
        assert number_in(roc.name) == pytest.approx(expected, abs=5e-5)


def test_classifier_without_predict_proba_gets_its_confusion_matrix(shell: Shell) -> None:
    shell.run(CANCER)
    shell.run("%%track ridge-clf --eval X_test y_test\n"
              "from sklearn.linear_model import RidgeClassifier\n"
              "clf = RidgeClassifier().fit(X_train, y_train)")
    fig = charts.classifier_diagnostics(shell.store(), "ridge-clf")
    assert [t.type for t in fig.data] == ["heatmap"]
    expected = skm.confusion_matrix(shell.ns["y_test"], shell.ns["clf"].predict(shell.ns["X_test"]))
    np.testing.assert_array_equal(fig.data[0].z, expected)
    assert "predict_proba" in fig.layout.title.text


def test_long_roc_and_pr_curves_are_thinned(store: Store) -> None:
    rng = np.random.default_rng(3)
    y_true = rng.integers(0, 2, 20_000)
    score = np.clip(y_true * 0.3 + rng.random(20_000) * 0.7, 0, 1)
    proba = np.column_stack([1 - score, score])
    run_id = record_run(store, "big", predictions={
        "y_true": y_true, "y_pred": (score > 0.5).astype(int), "proba": proba,
        "classes": np.array([0, 1])})

    fig = charts.classifier_diagnostics(store, run_id)

    roc = trace(fig, r"^ROC \(AUC")
    assert len(roc.x) <= 1_000 and (roc.x[0], roc.y[0]) == (0, 0) and roc.x[-1] == 1
    assert number_in(roc.name) == pytest.approx(skm.roc_auc_score(y_true, score), abs=5e-5)
    assert len(trace(fig, "^precision-recall").x) <= 1_000
    assert len(fig.to_json()) < 200_000


def test_multiclass_skips_roc_of_a_class_absent_from_y(store: Store) -> None:
    y_true = np.array([0, 1, 0, 1, 0, 1])
    proba = np.array([[.8, .1, .1], [.2, .7, .1], [.6, .2, .2], [.1, .8, .1], [.5, .3, .2],
                      [.3, .3, .4]])
    run_id = record_run(store, "three", predictions={
        "y_true": y_true, "y_pred": proba.argmax(axis=1), "proba": proba,
        "classes": np.array([0, 1, 2])})
    fig = charts.classifier_diagnostics(store, run_id)
    assert fig.data[0].z.shape == (3, 3) and fig.data[0].z[2].sum() == 0
    assert sorted(t.name for t in fig.data if t.name and t.name.startswith("class")) == [
        f"class 0 (AUC {skm.roc_auc_score(y_true == 0, proba[:, 0]):.4f})",
        f"class 1 (AUC {skm.roc_auc_score(y_true == 1, proba[:, 1]):.4f})"]


def test_string_class_labels(store: Store) -> None:
    y_true = np.array(["no", "yes", "yes", "no", "yes", "no"])
    score = np.array([0.1, 0.9, 0.4, 0.35, 0.8, 0.2])
    run_id = record_run(store, "labels", predictions={
        "y_true": y_true, "y_pred": np.where(score > 0.5, "yes", "no"),
        "proba": np.column_stack([1 - score, score]), "classes": np.array(["no", "yes"])})
    fig = charts.classifier_diagnostics(store, run_id)
    assert list(fig.data[0].x) == ["no", "yes"] and fig.data[0].z.tolist() == [[3, 0], [1, 2]]
    roc = trace(fig, r"^ROC \(AUC")
    assert number_in(roc.name) == pytest.approx(skm.roc_auc_score(y_true == "yes", score))
    assert fig.layout.annotations[1].text == "ROC (positive class yes)"


def test_diagnostics_explain_what_is_missing(shell: Shell) -> None:
    shell.run(CANCER)
    shell.run("%%track no-eval\nfrom sklearn.linear_model import LogisticRegression\n"
              "m = LogisticRegression(max_iter=50).fit(X_train.iloc[:, :3], y_train)")
    shell.run("%%track reg --eval Xd yd\nfrom sklearn.linear_model import Ridge\n"
              "Xd, yd = load_diabetes(return_X_y=True)\nr = Ridge().fit(Xd, yd)")
    shell.run(LOGISTIC)
    store = shell.store()
    with pytest.raises(NoPredictionsError, match="%%track --eval X_test y_test"):
        charts.classifier_diagnostics(store, "no-eval")
    with pytest.raises(NoPredictionsError, match="no-eval"):
        charts.regressor_diagnostics(store, "no-eval")
    with pytest.raises(RunNotFoundError):
        charts.classifier_diagnostics(store, "no-such-run")
    with pytest.raises(ValueError, match=r"regressor.*regressor_diagnostics"):
        charts.classifier_diagnostics(store, "reg")
    with pytest.raises(ValueError, match=r"classifier.*classifier_diagnostics"):
        charts.regressor_diagnostics(store, "lr")


def test_single_class_y_has_no_roc(store: Store) -> None:
    run_id = record_run(store, "one-class", predictions={
        "y_true": np.ones(10, dtype=int), "y_pred": np.ones(10, dtype=int),
        "proba": np.tile([0.2, 0.8], (10, 1)), "classes": np.array([0, 1])})
    with pytest.raises(ValueError, match="only one class"):
        charts.classifier_diagnostics(store, run_id)


# -- regressor diagnostics -----------------------------------------------------------------
def test_regressor_diagnostics_plot_the_kept_predictions(shell: Shell) -> None:
    shell.run(CANCER + "Xd, yd = load_diabetes(return_X_y=True)\n"
              "Xd_train, Xd_test, yd_train, yd_test = train_test_split(Xd, yd, random_state=0)")
    shell.run("%%track ridge --eval Xd_test yd_test\nfrom sklearn.linear_model import Ridge\n"
              "reg = Ridge(alpha=0.5).fit(Xd_train, yd_train)")
    y_true = shell.ns["yd_test"]
    y_pred = shell.ns["reg"].predict(shell.ns["Xd_test"])

    fig = charts.regressor_diagnostics(shell.store(), "ridge")

    scatter, identity, residuals, zero, histogram = fig.data
    np.testing.assert_allclose(scatter.x, y_true, rtol=1e-6)
    np.testing.assert_allclose(scatter.y, y_pred, rtol=1e-6)
    low, high = min(y_true.min(), y_pred.min()), max(y_true.max(), y_pred.max())
    assert identity.name == "identity"
    np.testing.assert_allclose([identity.x, identity.y], [[low, high], [low, high]])
    np.testing.assert_allclose(residuals.y, y_true - y_pred, rtol=1e-5, atol=1e-4)
    assert list(zero.y) == [0, 0]
    assert histogram.type == "bar" and histogram.y.sum() == len(y_true)
    rmse = np.sqrt(skm.mean_squared_error(y_true, y_pred))
    assert f"RMSE {rmse:.4g}" in fig.layout.title.text
    assert f"R² {skm.r2_score(y_true, y_pred):.4f}" in fig.layout.title.text


def test_large_regressor_scatter_is_sampled_and_histogram_counts_all(store: Store) -> None:
    rng = np.random.default_rng(5)
    y_true = rng.normal(size=20_000)
    run_id = record_run(store, "big-reg", predictions={
        "y_true": y_true, "y_pred": y_true + rng.normal(scale=0.3, size=20_000)})
    fig = charts.regressor_diagnostics(store, run_id)
    assert len(fig.data[0].x) == 5_000 and len(fig.data[2].x) == 5_000
    assert fig.data[4].y.sum() == 20_000 and len(fig.data[4].y) <= 60
    assert "5,000 sampled rows" in fig.layout.title.text
    assert len(fig.to_json()) < 200_000


# -- comparing runs ------------------------------------------------------------------------
def test_compare_runs_has_one_bar_panel_per_metric(store: Store) -> None:
    a = record_run(store, "a", metrics={"acc": 0.8, "rmse": 12.0})
    b = record_run(store, "b", metrics={"acc": 0.9, "loss": 0.3})

    fig = charts.compare_runs(store, [a, "b"])

    assert [t.name for t in fig.data] == ["acc", "loss", "rmse"]
    labels = list(fig.data[0].x)  # ids of one millisecond need more than 10 characters
    assert labels[0].startswith(f"a · {a[:10]}") and labels[1].startswith(f"b · {b[:10]}")
    assert labels[0] != labels[1] and a.startswith(labels[0].removeprefix("a · "))
    assert list(fig.data[0].y) == [0.8, 0.9]
    assert list(fig.data[1].y) == [None, 0.3] and list(fig.data[2].y) == [12.0, None]
    assert [t.name for t in charts.compare_runs(store, [a, b], metrics=["rmse"]).data] == [
        "rmse"]
    with pytest.raises(ValueError, match="none of these runs logged f1"):
        charts.compare_runs(store, [a, b], metrics=["f1"])
    with pytest.raises(ValueError, match="at least one run"):
        charts.compare_runs(store, [])
    with pytest.raises(RunNotFoundError):
        charts.compare_runs(store, [a, "nope"])
    with pytest.raises(ValueError, match="logged no metrics"):
        charts.compare_runs(store, record_run(store, "bare"))


def test_compare_runs_labels_tell_runs_of_the_same_millisecond_apart(store: Store) -> None:
    first = record_run(store, "x", metrics={"acc": 1.0}, run_id="01J0000000AAAAAAAAAAAAAAAA")
    second = record_run(store, "x", metrics={"acc": 0.5}, run_id="01J0000000AABBBBBBBBBBBBBB")
    labels = list(charts.compare_runs(store, [first, second]).data[0].x)
    assert labels == ["x · 01J0000000AAAA", "x · 01J0000000AABB"]


def test_run_set_reads_each_run_once_in_order(store: Store) -> None:
    a = record_run(store, "a", params={"C": 1}, metrics={"acc": 0.5}, curves={"loss": [1, 0.5]})
    b = record_run(store, "b", metrics={"acc": 0.7}, status="failed")

    runs = store.run_set([b, "a", "b"])  # by id and by name: the same run

    assert runs.ids == [b, a]
    assert [(r.name, r.experiment, r.status) for r in runs.runs] == [
        ("b", "recorded", "failed"), ("a", "recorded", "finished")]
    assert runs.metrics == {b: {"acc": 0.7}, a: {"acc": 0.5, "loss": 0.5}}
    assert runs.params == {b: {}, a: {"C": 1}}
    assert runs.curves == {b: set(), a: {"loss"}}  # acc: one point, not a curve
    with pytest.raises(ValueError, match="at least one run"):
        store.run_set([])


def test_parallel_coordinates_axes_follow_the_params(store: Store) -> None:
    r1 = record_run(store, "r1", params={"C": 0.1, "solver": "lbfgs", "max_iter": 100,
                                         "penalty": None},
                    metrics={"roc_auc": 0.9, "accuracy": 0.8})
    r2 = record_run(store, "r2", params={"C": 1.0, "solver": "saga", "max_iter": 100,
                                         "penalty": "l1"},
                    metrics={"roc_auc": 0.95, "accuracy": 0.85})
    r3 = record_run(store, "r3", params={"C": 10.0, "solver": "lbfgs", "max_iter": 100},
                    metrics={"accuracy": 0.7})

    fig = charts.parallel_coordinates(store, [r1, r2, r3])

    dims = {d.label: d for d in fig.data[0].dimensions}
    assert list(dims) == ["C", "penalty", "solver", "accuracy"]
    assert list(dims["C"].values) == [0.1, 1.0, 10.0] and dims["C"].ticktext is None
    assert list(dims["penalty"].ticktext) == ["(not set)", "l1", "null"]
    assert list(dims["penalty"].values) == [2, 1, 0]
    assert list(dims["solver"].ticktext) == ["lbfgs", "saga"]
    assert list(dims["solver"].values) == [0, 1, 0]
    assert list(dims["accuracy"].values) == [0.8, 0.85, 0.7]
    assert list(fig.data[0].line.color) == [0.8, 0.85, 0.7]

    by_auc = charts.parallel_coordinates(store, [r1, r2, r3], metric="roc_auc")
    assert [d.label for d in by_auc.data[0].dimensions][-1] == "roc_auc"
    assert list(by_auc.data[0].dimensions[-1].values) == [0.9, 0.95]  # r3 has no roc_auc
    chosen = charts.parallel_coordinates(store, [r1, r2], params=["max_iter", "C"])
    assert [d.label for d in chosen.data[0].dimensions] == ["max_iter", "C", "roc_auc"]
    single = charts.parallel_coordinates(store, r1)
    assert [d.label for d in single.data[0].dimensions] == [
        "C", "max_iter", "penalty", "solver", "roc_auc"]
    with pytest.raises(ValueError, match="parameter gamma"):
        charts.parallel_coordinates(store, [r1, r2], params=["gamma"])
    with pytest.raises(ValueError, match="none of these runs logged 'r2'"):
        charts.parallel_coordinates(store, [r1, r2], metric="r2")
    with pytest.raises(ValueError, match="no metrics"):
        charts.parallel_coordinates(store, record_run(store, "bare", params={"C": 1}))


def test_parallel_coordinates_numeric_mixed_with_none_is_categorical(store: Store) -> None:
    ids = [record_run(store, f"t{d}", params={"max_depth": d}, metrics={"acc": 0.5})
           for d in (10, None, 3)]
    dim = charts.parallel_coordinates(store, ids).data[0].dimensions[0]
    assert list(dim.ticktext) == ["3", "10", "null"] and list(dim.values) == [1, 2, 0]


# -- metric curves -------------------------------------------------------------------------
def test_metric_curves_plot_the_logged_steps(shell: Shell) -> None:
    for name, rate in (("slow", 1), ("fast", 3)):
        shell.run(f"%%track {name}\nimport jupyter_mlops as mlops\n"
                  f"for epoch in range(50):\n"
                  f"    mlops.log_metrics({{'loss': 1 / (epoch * {rate} + 1), "
                  f"'val_loss': 2 / (epoch + 1)}}, step=epoch)\n"
                  "acc = 0.5\n")
    store = shell.store()

    fig = charts.metric_curves(store, ["slow", "fast"])

    names = [t.name for t in fig.data]
    assert len(names) == 4 and all(n.endswith((" · loss", " · val_loss")) for n in names)
    assert not any("acc" in n for n in names)  # one point: not a curve
    fast_loss = trace(fig, r"^fast · .* · loss$")
    assert list(fast_loss.x) == list(range(50))
    np.testing.assert_allclose(fast_loss.y, [1 / (e * 3 + 1) for e in range(50)])
    only = charts.metric_curves(store, ["slow", "fast"], key="loss")
    assert len(only.data) == 2 and only.layout.yaxis.title.text == "loss"
    assert len(charts.metric_curves(store, "slow", key="acc").data) == 1
    with pytest.raises(ValueError, match="none of these runs logged 'f1'"):
        charts.metric_curves(store, "slow", key="f1")


def test_metric_curves_thin_long_curves_and_show_single_points(store: Store) -> None:
    long = record_run(store, "long", curves={"loss": np.linspace(1, 0, 12_000)})
    fig = charts.metric_curves(store, long)
    curve = fig.data[0]
    assert len(curve.x) <= 5_000 and curve.x[0] == 0 and curve.x[-1] == 11_999
    assert curve.y[-1] == 0 and "thinned" in fig.layout.title.text
    points = charts.metric_curves(store, record_run(store, "pts", metrics={"a": 1, "b": 2}))
    assert [t.name.rsplit(" · ", 1)[1] for t in points.data] == ["a", "b"]
    with pytest.raises(ValueError, match="logged no metrics"):
        charts.metric_curves(store, record_run(store, "bare"))


# -- lineage -------------------------------------------------------------------------------
def nodes_and_edges(fig: go.Figure) -> tuple[dict[tuple[str, str], tuple[float, float]],
                                             set[tuple[str, str]]]:
    at: dict[tuple[float, float], str] = {}
    nodes: dict[tuple[str, str], tuple[float, float]] = {}
    for t in fig.data:
        for x, y, text in zip(t.x, t.y, t.text, strict=True):
            at[(x, y)] = text
            nodes[(t.name, text)] = (x, y)
    edges = {(at[(a.ax, a.ay)], at[(a.x, a.y)]) for a in fig.layout.annotations}
    return nodes, edges


def test_lineage_graph_of_a_prepare_train_score_chain(shell: Shell) -> None:
    track_chain(shell)
    shell.run("%%track broken\ntotal = clean.a.sum()\nraise ValueError('boom')")
    store = shell.store()

    fig = charts.lineage_graph(store, "train")

    nodes, edges = nodes_and_edges(fig)
    # train also read what its model was fitted on: clean[['a']], recorded as tree.fit(X)
    assert set(nodes) == {("run", "prep"), ("run", "train"), ("run", "score"),
                          ("dataset", "raw"), ("dataset", "clean"), ("model", "tree"),
                          ("dataset", "preds"), ("dataset", "tree.fit(X)")}
    assert edges == {("raw", "prep"), ("prep", "clean"), ("clean", "train"), ("train", "tree"),
                     ("tree", "score"), ("clean", "score"), ("score", "preds"),
                     ("tree.fit(X)", "train")}
    depth = {name: x for (_, name), (x, _) in nodes.items()}
    assert depth == {"raw": 0, "prep": 1, "clean": 2, "train": 3, "tree": 4, "score": 5,
                     "preds": 6, "tree.fit(X)": 0}
    runs = next(t for t in fig.data if t.name == "run")
    sizes = dict(zip(runs.text, runs.marker.size, strict=True))
    assert sizes["train"] > sizes["prep"] == sizes["score"]
    hover = dict(zip(runs.text, runs.hovertext, strict=True))
    assert "status finished" in hover["score"] and store.resolve_run_id("score") in hover["score"]
    clean = next(t for t in fig.data if t.name == "dataset")
    clean_hover = dict(zip(clean.text, clean.hovertext, strict=True))["clean"]
    assert "data:" in clean_hover and "shape [89, 2]" in clean_hover

    from_prep = charts.lineage_graph(store, "prep")
    runs = next(t for t in from_prep.data if t.name == "run")
    outline = dict(zip(runs.text, runs.marker.line.color, strict=True))
    assert sorted(outline) == ["broken", "prep", "score", "train"]
    assert outline["broken"] != outline["prep"] == outline["train"]
    with pytest.raises(RunNotFoundError):
        charts.lineage_graph(store, "nope")


def test_lineage_graph_survives_content_produced_twice(store: Store) -> None:
    f1 = Entity("dataset", "one", "data:one", {"shape": [3]})
    f2 = Entity("dataset", "two", "data:two", {"shape": [3]})
    record_run(store, "a", inputs=[f2], outputs=[f1], started_at=1000.0)
    b = record_run(store, "b", inputs=[f1], outputs=[f2], started_at=2000.0)

    fig = charts.lineage_graph(store, b)

    nodes, edges = nodes_and_edges(fig)
    assert set(nodes) == {("run", "a"), ("run", "b"), ("dataset", "one"), ("dataset", "two")}
    assert edges == {("two", "a"), ("a", "one"), ("one", "b"), ("b", "two")}
    assert len(set(nodes.values())) == 4


def test_lineage_labels_are_short_and_escaped(store: Store) -> None:
    csv = Entity("dataset", "/data/raw/customers_with_a_very_long_file_name.csv", "file:abc",
                 {"path": "/data/raw/customers_with_a_very_long_file_name.csv", "size": 10})
    run_id = record_run(store, "<load>", inputs=[csv])
    fig = charts.lineage_graph(store, run_id)
    labels = {t.name: list(t.text) for t in fig.data}
    assert labels == {"run": ["&lt;load&gt;"], "dataset": ["customers_with_a_very_long_…"]}
    assert "path /data/raw/customers_with_a_very_long_file_name.csv" in fig.data[1].hovertext[0]


def test_magics_display_figures(shell) -> None:  # noqa: ANN001
    shell.run("from sklearn.datasets import load_diabetes\nX, y = load_diabetes(return_X_y=True)")
    shell.run("%%track a --eval X y\nfrom sklearn.linear_model import Ridge\n"
              "import jupyter_mlops as mlops\nm = Ridge(alpha=1.0).fit(X, y)\n"
              "for i in range(3): mlops.log_metric('loss', 1 / (i + 1))")
    shell.run("%%track b --eval X y\nfrom sklearn.linear_model import Ridge\n"
              "m2 = Ridge(alpha=9.0).fit(X, y)")
    shell.run("%mlops promote a --name diabetes --stage staging")
    shown = []
    shell.ip.display_pub.publish = lambda data, **kw: shown.append(data)
    try:
        for line in ("%mlops compare a b --metric r2", "%mlops curves a --metric loss",
                     "%mlops lineage diabetes@staging"):
            cell = shell.run(line)
            assert cell.result.success, cell.stderr
    finally:
        del shell.ip.display_pub.publish
    assert len(shown) == 3
    assert all("application/vnd.plotly.v1+json" in data for data in shown)
    assert "UsageError" in shell.run("%mlops curves a --metric x --metric y").stderr


def test_drift_magic_and_report_figure(shell) -> None:  # noqa: ANN001
    shell.run("import numpy as np, pandas as pd\nrng = np.random.default_rng(0)\n"
              "ref = pd.DataFrame({'a': rng.normal(size=500), 'b': rng.choice(['x', 'y'], 500)})\n"
              "cur = ref.assign(a=ref.a + 2)")
    shown = []
    shell.ip.display_pub.publish = lambda data, **kw: shown.append(data)
    try:
        cell = shell.run("%mlops drift ref cur")
        assert cell.result.success, cell.stderr
    finally:
        del shell.ip.display_pub.publish
    assert any("DriftReport" in data.get("text/plain", "") for data in shown)
    figure = [d for d in shown if "application/vnd.plotly.v1+json" in d][0]
    names = {trace.get("name") for trace in figure["application/vnd.plotly.v1+json"]["data"]}
    assert {"reference", "current"} <= names
    assert "usage: %mlops drift" in shell.run("%mlops drift onlyone").stderr


def test_track_summary_points_at_the_charts(shell) -> None:  # noqa: ANN001
    shell.run("from sklearn.datasets import load_diabetes\nX, y = load_diabetes(return_X_y=True)")
    cell = shell.run("%%track r --eval X y\nfrom sklearn.linear_model import Ridge\n"
                     "import jupyter_mlops as mlops\nreg = Ridge().fit(X, y)\n"
                     "for i in range(3): mlops.log_metric('loss', 1 / (i + 1))")
    run_id = shell.store().runs()["run_id"][0][:10]
    hints = cell.stdout.strip().splitlines()[-1]
    assert hints == (f"  charts: %mlops lineage {run_id} · %mlops curves {run_id} · "
                     f"%mlops diagnostics {run_id}")
    shown = []
    shell.ip.display_pub.publish = lambda data, **kw: shown.append(data)
    try:
        assert shell.run(f"%mlops diagnostics {run_id}").result.success
    finally:
        del shell.ip.display_pub.publish
    assert "predicted vs actual" in json.dumps(shown[0]["application/vnd.plotly.v1+json"])
