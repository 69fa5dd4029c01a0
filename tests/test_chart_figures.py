"""Charts drawn from plain data (entities, arrays, frames), with no store anywhere."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from jupyter_mlops import charts
from jupyter_mlops.entities import (
    Entity,
    LineageGraph,
    LineageNode,
    MetricPoint,
    Predictions,
    Run,
    RunSet,
    RunSummary,
)

A, B = "01J0000000AAAAAAAAAAAAAAAA", "01J0000000BBBBBBBBBBBBBBBB"


def two_runs(**changes: object) -> RunSet:
    fields = {
        "runs": [RunSummary(A, "lr", "churn", "finished", 1000.0, 1.5),
                 RunSummary(B, "forest", "churn", "failed", 2000.0, None)],
        "metrics": {A: {"acc": 0.8, "rmse": 2.0}, B: {"acc": 0.9}},
        "params": {A: {"C": 0.1, "solver": "lbfgs"}, B: {"C": 1.0, "solver": "lbfgs"}},
        "curves": {A: {"loss"}, B: {"loss"}},
    }
    return RunSet(**{**fields, **changes})  # type: ignore[arg-type]


def points(key: str, values: list[float]) -> list[MetricPoint]:
    return [MetricPoint(key, v, step, 0.0) for step, v in enumerate(values)]


def test_run_charts_draw_a_run_set() -> None:
    runs = two_runs()

    bars = charts.compare_runs_figure(runs)
    axes = charts.parallel_coordinates_figure(runs, metric="acc")

    assert [t.name for t in bars.data] == ["acc", "rmse"]
    assert list(bars.data[0].x) == ["lr · 01J0000000AA", "forest · 01J0000000BB"]
    assert list(bars.data[0].y) == [0.8, 0.9] and list(bars.data[1].y) == [2.0, None]
    assert [d.label for d in axes.data[0].dimensions] == ["C", "acc"]  # solver never differs
    assert list(axes.data[0].dimensions[0].values) == [0.1, 1.0]
    with pytest.raises(ValueError, match="logged no metrics"):
        charts.compare_runs_figure(two_runs(metrics={A: {}, B: {}}))


def test_metric_curves_draw_the_points_given() -> None:
    series = {A: {"loss": points("loss", list(np.linspace(1, 0, 8_000)))},
              B: {"loss": points("loss", [0.9, 0.5, 0.4]), "acc": points("acc", [0.7])}}

    fig = charts.metric_curves_figure(two_runs(), series)

    assert [t.name for t in fig.data] == ["lr · 01J0000000AA · loss",
                                          "forest · 01J0000000BB · acc",
                                          "forest · 01J0000000BB · loss"]
    assert len(fig.data[0].x) <= 5_000 and fig.data[0].x[-1] == 7_999
    assert list(fig.data[2].y) == [0.9, 0.5, 0.4] and "thinned" in fig.layout.title.text
    with pytest.raises(ValueError, match="logged no metrics"):
        charts.metric_curves_figure(two_runs(), {A: {}, B: {"loss": []}})


def test_comparison_document_from_runs_and_curves() -> None:
    series = {A: {"loss": points("loss", [1.0, 0.5])}, B: {"loss": points("loss", [2.0, 1.0])}}

    document = charts.comparison_document(two_runs(), series)

    assert [(r["name"], r["status"], r["duration_s"]) for r in document["runs"]] == [
        ("lr", "finished", 1.5), ("forest", "failed", None)]
    assert document["params"] == [{"key": "C", "values": [0.1, 1.0], "differs": True},
                                  {"key": "solver", "values": ["lbfgs", "lbfgs"],
                                   "differs": False}]
    assert document["metrics"][1] == {"key": "rmse", "values": [2.0, None], "differs": True}
    assert len(document["curves"]) == 1 and len(document["curves"][0]["data"]) == 2
    assert document["parallel"]["data"][0]["type"] == "parcoords"
    one = two_runs(runs=two_runs().runs[:1], metrics={A: {}}, params={A: {}}, curves={A: set()})
    with pytest.raises(ValueError, match="at least two runs"):
        charts.comparison_document(one, {})


def test_diagnostics_draw_prediction_arrays() -> None:
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 2, 400)
    score = np.clip(y_true * 0.4 + rng.random(400) * 0.6, 0, 1)
    binary = Predictions(A, "lr", {"y_true": y_true, "y_pred": (score > 0.5).astype(int),
                                   "proba": np.column_stack([1 - score, score]),
                                   "classes": np.array([0, 1])}, model="clf", X="Xt", y="yt")
    y = rng.normal(size=300)
    y_pred = y + rng.normal(0.1, 0.01, 300)
    regression = Predictions(B, "ridge", {"y_true": y, "y_pred": y_pred})

    classifier = charts.diagnostics_figure(binary)
    regressor = charts.diagnostics_figure(regression)

    roc = next(t for t in classifier.data if t.name and t.name.startswith("ROC"))
    assert roc.name == f"ROC (AUC {skm.roc_auc_score(y_true, score):.4f})"
    assert classifier.layout.title.text.startswith("lr · 01J0000000 · clf on Xt, yt (400 rows)")
    rmse = np.sqrt(skm.mean_squared_error(y, y_pred))
    assert f"RMSE {rmse:.4g} " in regressor.layout.title.text
    assert regressor.data[4].y.sum() == 300
    with pytest.raises(ValueError, match=rf"run {B} \(ridge\) evaluated a regressor"):
        charts.classifier_diagnostics_figure(regression)


def test_residuals_equal_but_for_rounding_make_one_bin() -> None:
    y = np.random.default_rng(1).normal(size=300)  # y - (y + 0.1): -0.1 give or take 1e-16
    fig = charts.regressor_diagnostics_figure(Predictions(B, "offset", {"y_true": y,
                                                                       "y_pred": y + 0.1}))
    assert list(fig.data[4].y) == [300] and "RMSE 0.1 " in fig.layout.title.text


def test_lineage_figure_draws_a_graph() -> None:
    def run(run_id: str, name: str, status: str) -> Run:
        return Run(run_id, name, "churn", status, 1000.0, 1001.0, 1.0,  # type: ignore[arg-type]
                   "", "", {}, {}, {}, [], [])

    raw = Entity("dataset", "raw", "data:raw", {"shape": [3, 2]})
    graph = LineageGraph(
        focus=A, runs=[run(A, "prep", "finished"), run(B, "train", "failed")],
        nodes={"run:" + A: LineageNode("run:" + A, "run", ["prep"]),
               "run:" + B: LineageNode("run:" + B, "run", ["train"]),
               raw.fingerprint: LineageNode(raw.fingerprint, "dataset", ["raw"], raw.detail)},
        edges=[("data:raw", "run:" + A), ("run:" + A, "run:" + B)])

    fig = charts.lineage_figure(graph)

    placed = {(t.name, text): x for t in fig.data for text, x in zip(t.text, t.x, strict=True)}
    assert placed == {("run", "prep"): 1, ("run", "train"): 2, ("dataset", "raw"): 0}
    assert len(fig.layout.annotations) == 2 and "lineage of run prep" in fig.layout.title.text


def test_drift_over_time_draws_history_frames() -> None:
    at = pd.to_datetime([1, 1, 2, 2], unit="D", utc=True)
    history = pd.DataFrame({"batch": [1, 1, 2, 2], "at": at, "column": ["age", "city"] * 2,
                            "statistic": [0.1, 0.2, 0.5, 0.1], "threshold": [0.3] * 4,
                            "drifted": [False, False, True, False]})
    performance = pd.DataFrame({"batch": [1, 2], "at": at[::2], "metric": ["accuracy"] * 2,
                                "current": [0.9, 0.7], "training": [0.9, 0.9]})

    drift_only = charts.drift_over_time(history, model="churn")
    both = charts.drift_over_time(history, performance, model="churn")

    assert [t.name for t in drift_only.data if t.showlegend is not False] == ["age", "city"]
    assert list(drift_only.data[0].marker.symbol) == ["circle", "x"]  # age drifted in batch 2
    assert drift_only.layout.title.text == "churn: drift over 2 monitoring batches"
    assert {t.name for t in both.data} >= {"accuracy", "accuracy at training"}
    assert both.layout.height > drift_only.layout.height
    with pytest.raises(ValueError, match="no monitoring batches for 'churn'"):
        charts.drift_over_time(history.iloc[:0], model="churn")


def test_charts_load_no_store() -> None:
    """Drawing plain data needs neither the store nor SQLite: charts sit below the store."""
    code = ("import sys\n"
            "from jupyter_mlops import charts\n"
            "from jupyter_mlops.entities import RunSet, RunSummary\n"
            "runs = RunSet([RunSummary('r1', 'a', 'e', 'finished', 0.0, None)], {'r1': {'m': 1.0}},"
            " {'r1': {}}, {'r1': set()})\n"
            "charts.compare_runs_figure(runs)\n"
            "print(sorted(m for m in ('sqlite3', 'jupyter_mlops.store', 'jupyter_mlops.drift',"
            " 'jupyter_mlops.lifecycle') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"
