"""Monitoring, the request log, and the continuous-training loop, on real runs and files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import Shell
from processes import stop

import jupyter_mlops as mlops
from jupyter_mlops.bundle.serve import RequestLog
from jupyter_mlops.bundle.verify import free_port, post_json, wait_until_healthy
from jupyter_mlops.lifecycle.monitoring import MonitorError, drift_history, monitor
from jupyter_mlops.lifecycle.watch import watch

DATA = """
import numpy as np, pandas as pd
rng = np.random.default_rng(0)
n = 3000
frame = pd.DataFrame({
    "age": rng.normal(45, 12, n).round(),
    "income": rng.lognormal(10.5, 0.4, n),
    "city": rng.choice(["paris", "lyon", "nice"], n, p=[0.5, 0.3, 0.2]),
    "score": rng.uniform(0, 1, n),
})
label = ((frame.income > 38_000) ^ (frame.city == "nice")).astype(int)
X_train, X_test = frame.iloc[:2000], frame.iloc[2000:]
y_train, y_test = label.iloc[:2000], label.iloc[2000:]
"""
TRAIN = """%%track churn --eval X_test y_test
from sklearn.compose import make_column_transformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
model = make_pipeline(
    make_column_transformer((OneHotEncoder(handle_unknown="ignore"), ["city"]),
                            remainder="passthrough"),
    RandomForestClassifier(n_estimators=40, random_state=0),
).fit(X_train, y_train)
"""


@pytest.fixture
def deployed(shell: Shell) -> Shell:
    for cell in (DATA, TRAIN, "%mlops promote churn --name churn --stage production "
                 "--no-verify"):
        assert shell.run(cell).result.success
    return shell


def shifted(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    out = frame.copy()
    if kind == "mean":
        out["age"] += 15
        out["income"] *= 1.8
    elif kind == "variance":
        out["age"] = 45 + (out["age"] - 45) * 3
        out["score"] = out["score"] ** 4
    elif kind == "category mix":
        out["city"] = np.where(np.arange(len(out)) % 10 < 8, "nice", "paris")
        out["income"] *= 2
    elif kind == "missingness":
        out.loc[out.index[::2], ["age", "income", "score"]] = np.nan
    return out


def test_same_distribution_is_not_flagged(deployed: Shell) -> None:
    result = monitor("churn@production", deployed.ns["X_test"], store=deployed.store())
    assert not result.drifted and result.alerts == [] and result.rows == 1000
    assert result.batch_id == 1


@pytest.mark.parametrize("kind", ["mean", "variance", "category mix", "missingness"])
def test_shifts_are_flagged(deployed: Shell, kind: str) -> None:
    result = monitor("churn@production", shifted(deployed.ns["X_test"], kind),
                     store=deployed.store())
    assert result.drifted, result.report.to_frame()
    assert result.alerts and result.alerts[0].kind == "drift"
    events = deployed.store().events("churn")
    assert events[0].action == "alert" and events[0].detail["batch"] == result.batch_id


def test_performance_alert_with_labels(deployed: Shell) -> None:
    ns = deployed.ns
    fine = monitor("churn@production", ns["X_test"], labels=ns["y_test"],
                   store=deployed.store())
    assert fine.performance["accuracy"]["current"] == pytest.approx(
        fine.performance["accuracy"]["training"])
    assert not [a for a in fine.alerts if a.kind == "performance"]
    flipped = monitor("churn@production", ns["X_test"], labels=1 - ns["y_test"],
                      thresholds={"accuracy": 0.1}, store=deployed.store())
    messages = [a.message for a in flipped.alerts if a.kind == "performance"]
    assert any(m.startswith("accuracy fell from") for m in messages)


def test_batches_make_drift_over_time_a_query(deployed: Shell) -> None:
    store = deployed.store()
    for kind in ("none", "mean", "none"):
        data = deployed.ns["X_test"] if kind == "none" else shifted(deployed.ns["X_test"], kind)
        monitor("churn@production", data, store=store)
    history = drift_history(store, "churn")
    assert history["batch"].nunique() == 3 and set(history["column"]) == {
        "age", "income", "city", "score"}
    for ref in ("churn@production", "churn/1"):  # as monitored, not only the bare name
        assert drift_history(store, ref).equals(history)
    assert history.groupby("batch")["batch_drifted"].first().tolist() == [False, True, False]
    from jupyter_mlops.charts import drift_over_time

    figure = drift_over_time(history, model="churn")
    assert {trace.name for trace in figure.data} >= {"age", "income", "city", "score"}


@pytest.mark.parametrize("change, message", [
    (lambda f: f.iloc[:0], "the batch is empty"),
    (lambda f: f.drop(columns="age"), "missing column(s) age"),
    (lambda f: f.assign(extra=1), "unexpected column(s) extra.*--label-column extra"),
    (lambda f: f.assign(age="old"), "column 'age' holds non-numbers"),
])
def test_bad_batches_are_clear_errors(deployed: Shell, change, message: str) -> None:
    with pytest.raises(MonitorError, match=message.replace("(", r"\(").replace(")", r"\)")):
        monitor("churn@production", change(deployed.ns["X_test"]), store=deployed.store())


def test_bad_labels_and_refs(deployed: Shell) -> None:
    with pytest.raises(MonitorError, match="labels have 5 values for a batch of 1000 rows"):
        monitor("churn@production", deployed.ns["X_test"], labels=[0] * 5,
                store=deployed.store())
    with pytest.raises(LookupError, match="no model version 'nope@production'"):
        monitor("nope@production", deployed.ns["X_test"], store=deployed.store())


def cli(store_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jupyter_mlops.cli", "--store",
                           str(store_dir), *args], capture_output=True, text=True)


def test_cli_monitor_exit_codes(deployed: Shell, store_dir: Path, tmp_path: Path) -> None:
    same, moved = tmp_path / "same.csv", tmp_path / "moved.jsonl"
    deployed.ns["X_test"].assign(label=deployed.ns["y_test"]).to_csv(same, index=False)
    shifted(deployed.ns["X_test"], "mean").to_json(moved, orient="records", lines=True)
    ok = cli(store_dir, "monitor", "churn@production", str(same), "--label-column", "label")
    assert ok.returncode == 0, ok.stderr
    assert "no alerts" in ok.stdout and "accuracy" in ok.stdout
    alert = cli(store_dir, "monitor", "churn@production", str(moved), "--json")
    assert alert.returncode == 1
    report = json.loads(alert.stdout)
    assert report["drifted"] and report["alerts"][0]["kind"] == "drift"
    bad = cli(store_dir, "monitor", "churn@production", str(tmp_path / "nope.csv"))
    assert bad.returncode == 2 and "cannot read" in bad.stderr


def test_served_bundle_request_log_feeds_monitor(deployed: Shell, store_dir: Path,
                                                 tmp_path: Path) -> None:
    bundle = mlops.export_bundle("churn@production", tmp_path / "bundle",
                                 store=deployed.store())
    log = tmp_path / "logs" / "requests.jsonl"
    port = free_port()
    server = subprocess.Popen([sys.executable, str(bundle / "serve.py"), "--port", str(port),
                               "--log-requests", str(log)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(url, server, 60)
        records = json.loads(deployed.ns["X_test"].to_json(orient="records"))
        for start in range(0, 600, 100):
            status, answer = post_json(url + "/invocations",
                                       {"dataframe_records": records[start:start + 100]})
            assert status == 200 and len(answer["predictions"]) == 100
    finally:
        stop(server, timeout=10)
    lines = log.read_text().splitlines()
    assert len(lines) == 600 and {"_ts", "_prediction", "age"} <= set(json.loads(lines[0]))
    done = cli(store_dir, "monitor", str(bundle), str(log))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "churn: 600 rows" in done.stdout
    history = cli(store_dir, "monitor", str(bundle), "--history")  # by the bundle's path
    assert history.returncode == 0 and "of columns drifted" in history.stdout, history.stderr


def test_request_log_rotates(tmp_path: Path) -> None:
    log = RequestLog(tmp_path / "r.jsonl", max_bytes=2_000, keep=2)
    frame = pd.DataFrame({"a": np.arange(20.0)})
    for _ in range(6):
        log.write(frame, list(range(20)))
    assert (tmp_path / "r.jsonl.1").exists() and (tmp_path / "r.jsonl.2").exists()
    assert not (tmp_path / "r.jsonl.3").exists()


def test_watch_retrains_and_promotes_on_drift(deployed: Shell, tmp_path: Path) -> None:
    ns = deployed.ns
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    ns["X_test"].assign(label=ns["y_test"]).to_csv(inbox / "01-same.csv", index=False)
    moved = shifted(ns["X_test"], "category mix")
    moved.assign(label=(moved["city"] == "paris").astype(int)).to_csv(
        inbox / "02-moved.csv", index=False)
    os.mkfifo(inbox / "01-stuck.csv")  # would block a reader for good: skipped, unopened
    steps = list(watch("churn@production", inbox, every=0, target="label", max_batches=3,
                       verify=False, store=deployed.store()))
    assert [s.drifted for s in steps] == [False, False, True]
    assert steps[0].outcome == "no drift" and steps[0].retrained_run_id is None
    assert steps[1].source == "01-stuck.csv" and "is not a regular file" in steps[1].outcome
    assert steps[2].outcome == "promoted as churn/2 (production)"
    store = deployed.store()
    child = store.get_run(steps[2].retrained_run_id)
    assert child.parent_run_id == store.get_run("churn").parent_run_id or child.parent_run_id
    assert store.load_model("churn@production").__class__.__name__ == "Pipeline"
    assert [e.action for e in store.events("churn")].count("watch") == 3  # one skipped


def test_monitor_magic(deployed: Shell) -> None:
    deployed.ns["moved"] = shifted(deployed.ns["X_test"], "mean")
    cell = deployed.run("%mlops monitor churn@production moved --labels y_test")
    assert cell.result.success, cell.stderr
    assert "ALERT data drift" in cell.stdout
    assert deployed.run("%mlops monitor churn --history").result.success
    assert deployed.run("%mlops monitor churn@production --history").result.success
    assert "no variable 'ghost'" in deployed.run("%mlops monitor churn@production ghost").stderr
    deployed.ns["richer"] = deployed.ns["X_test"].assign(income=deployed.ns["X_test"].income * 1.8)
    alerted = deployed.run("%mlops monitor churn@production richer")
    assert "ALERT column income" in alerted.stdout, alerted.stdout + alerted.stderr
    quiet = deployed.run("%mlops monitor churn@production richer --drift-alert dataset")
    assert "no alerts" in quiet.stdout and "ALERT" not in quiet.stdout, quiet.stdout


def test_history_and_summary_say_alert_for_alerted_batches(deployed: Shell, store_dir: Path,
                                                           tmp_path: Path) -> None:
    same, income = tmp_path / "same.csv", tmp_path / "income.csv"
    deployed.ns["X_test"].to_csv(same, index=False)
    deployed.ns["X_test"].assign(income=deployed.ns["X_test"]["income"] * 1.8)\
        .to_csv(income, index=False)
    assert cli(store_dir, "monitor", "churn@production", str(same)).returncode == 0
    alerted = cli(store_dir, "monitor", "churn@production", str(income))
    assert alerted.returncode == 1, alerted.stdout + alerted.stderr
    verdict = alerted.stdout.splitlines()[0]
    assert "dataset not drifted (1 of 4 columns; needs" in verdict, alerted.stdout
    assert "1 column alert: income" in verdict and "ALERT column income" in alerted.stdout
    history = cli(store_dir, "monitor", "churn", "--history")
    assert history.returncode == 0, history.stderr
    first, second = history.stdout.splitlines()
    assert "  ok  " in first and "alert" not in first, history.stdout
    assert "  ALERT  " in second and "1 alert" in second, history.stdout
    # --drift-alert dataset: only the dataset verdict alerts, so the income column does not
    dataset_rule = cli(store_dir, "monitor", "churn@production", str(income),
                       "--drift-alert", "dataset")
    assert dataset_rule.returncode == 0, dataset_rule.stdout + dataset_rule.stderr
    assert "no alerts" in dataset_rule.stdout and "1 of 4 columns" in dataset_rule.stdout
    wrong = cli(store_dir, "monitor", "churn@production", str(income), "--drift-alert", "some")
    assert wrong.returncode == 2 and "important, any, dataset" in wrong.stderr


def test_monitor_alerts_on_latency_and_errors_of_a_served_bundle(
        deployed: Shell, store_dir: Path, tmp_path: Path) -> None:
    import time

    from test_rollout import Served

    from jupyter_mlops.bundle import serve

    # Given the bundle served over HTTP by a model that raises on old customers and is slow
    # on young ones
    bundle = mlops.export_bundle("churn@production", tmp_path / "bundle",
                                 store=deployed.store())
    log = tmp_path / "requests.jsonl"
    model = serve.Model(bundle, RequestLog(log))
    real = model.predictor

    def flaky(features: pd.DataFrame) -> object:
        if (features["age"] > 70).any():
            raise RuntimeError("the model failed")
        if (features["age"] < 30).any():
            time.sleep(0.08)
        return real(features)

    model.predictor = flaky
    frame = deployed.ns["X_test"].head(300)
    records = json.loads(frame.to_json(orient="records"))
    with Served(serve.create_app(model=model)) as url:
        answers = [post_json(url + "/invocations", {"dataframe_records": [row]})[0]
                   for row in records]
        assert post_json(url + "/invocations", {"dataframe_records": [{"age": 1}]})[0] == 422
    failing, slow = int((frame.age > 70).sum()), int((frame.age < 30).sum())
    assert answers.count(500) == failing > 0 and slow > 3
    # When monitor reads the request log
    done = cli(store_dir, "monitor", str(bundle), str(log), "--threshold",
               "latency_p99_ms=50", "--json")
    # Then it alerts on the error rate and the latency p99, beside drift
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["rows"] == 300 - failing  # the answered rows are the batch
    [figures] = report["operations"]
    assert (figures["arm"], figures["requests"], figures["errors"], figures["refused"]) == (
        "model", 301, failing, 1)
    assert figures["latency_p99_ms"] > 80 > figures["latency_p50_ms"]
    kinds = {alert["kind"]: alert for alert in report["alerts"]}
    assert kinds["errors"]["value"] == pytest.approx(failing / 300)
    assert kinds["latency"]["threshold"] == 50
    # and within thresholds, no operational alert
    done = cli(store_dir, "monitor", str(bundle), str(log), "--threshold", "error_rate=0.5")
    assert "ALERT error rate" not in done.stdout and "ALERT latency" not in done.stdout
    assert "serving (model): 301 requests" in done.stdout, done.stdout + done.stderr


def test_operations_of_a_rollout_log_per_arm() -> None:
    from test_rollout import stream

    from jupyter_mlops.lifecycle.operations import breaches, split_log

    log, _ = stream("canary", 2000, 0.8, 0.8, seed=0, share=0.2)
    log["age"], log["_ts"] = 40.0, 1.0e9
    challenger = log["_arm"] == "challenger"
    log.loc[challenger & (log.index % 10 == 0), "_error"] = "RuntimeError: broken"
    log.loc[challenger & (log.index % 10 == 0), "_answered"] = False
    features, figures = split_log(log)
    assert list(features.columns) == ["age"] and len(features) == int((log["_answered"]).sum())
    assert set(figures.index) == {"champion", "challenger"}
    assert figures.loc["champion", "errors"] == 0
    assert 0.07 < figures.loc["challenger", "error_rate"] < 0.13
    assert figures is not None
    alerts = breaches(figures, {})
    assert [(a.kind, a.subject) for a in alerts] == [("errors", "challenger")]
