"""Shadow, canary and A/B serving: the rollout bundle, its routing over real HTTP on loopback,
the assignment function, a failing arm, the admin endpoint, and the rollout report."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Shell
from processes import stop
from test_bundle import DATA, TRAIN

import jupyter_mlops as mlops
from jupyter_mlops.bundle import rollout
from jupyter_mlops.bundle.rollout_export import export_rollout
from jupyter_mlops.bundle.verify import free_port, wait_until_healthy

CHALLENGER = """%%track churn_small --eval frame target
from sklearn.compose import make_column_transformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
small = make_pipeline(
    make_column_transformer((OneHotEncoder(), ["city"]), remainder="passthrough"),
    RandomForestClassifier(n_estimators=3, max_depth=1, random_state=1),
).fit(frame, target)
"""


@pytest.fixture
def arms(shell: Shell) -> Shell:
    """A champion (churn@production) and a different challenger (churn@staging)."""
    for cell in (DATA, TRAIN, CHALLENGER):
        assert shell.run(cell).result.success
    store = shell.store()
    mlops.promote("churn", name="churn", stage="production", reason="test", store=store,
                  verify=False)
    mlops.promote("churn_small", name="churn", stage="staging", reason="test", store=store)
    return shell


def rows_with_keys(shell: Shell, n: int) -> list[dict[str, Any]]:
    """``n`` training rows as records, each with a ``customer`` key the models do not use."""
    frame = shell.ns["frame"].head(n).assign(customer=[f"c{i}" for i in range(n)])
    return json.loads(frame.to_json(orient="records"))


def post(url: str, payload: Any, headers: dict[str, str] | None = None
         ) -> tuple[int, Any, Any]:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), headers={
        "Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers, json.loads(error.read() or b"{}")


@pytest.fixture
def started() -> Iterator[Any]:
    """Start ``python ROLLOUT/serve.py ARGS...`` and return its URL; stopped afterwards."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(bundle: Path, *args: str, env: dict[str, str] | None = None) -> str:
        port = free_port()
        process = subprocess.Popen([sys.executable, str(bundle / "serve.py"), "--port",
                                    str(port), *args], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, env=env)
        processes.append(process)
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(url, process, 60)
        return url

    yield start
    for process in processes:
        stop(process, timeout=10)


def read_log(path: Path, events: bool = False) -> list[dict[str, Any]]:
    """The log's rows (or, with ``events``, its event lines)."""
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return [line for line in lines if ("_event" in line) == events]


def wait_for_lines(path: Path, count: int, timeout: float = 30) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(lines := read_log(path)) >= count:
            return lines
        time.sleep(0.1)
    raise AssertionError(f"{path} did not reach {count} lines")


def test_shadow_rollout_runs_alone_and_logs_both_arms(arms: Shell, tmp_path: Path,
                                                      started: Any) -> None:
    # Given a shadow rollout of churn@production against churn@staging
    bundle = export_rollout("churn@production", "churn@staging", tmp_path / "rollout",
                            mode="shadow", sticky_key="customer", store=arms.store())
    manifest = json.loads((bundle / "MANIFEST.json").read_text())
    assert manifest["kind"] == "rollout" and manifest["policy"]["mode"] == "shadow"
    assert {"champion/model.skops", "challenger/model.skops", "policy.json", "serve.py",
            "code/mlops_serve.py", "code/mlops_trust.py"} <= set(manifest["files"])
    log = tmp_path / "requests.jsonl"
    url = started(bundle, "--log-requests", str(log))
    rows = rows_with_keys(arms, 40)
    frame = arms.ns["frame"].head(40)
    champion = arms.ns["model"].predict(frame).tolist()
    challenger = arms.ns["small"].predict(frame).tolist()
    assert champion != challenger  # the arms can be told apart
    # When rows are scored one request at a time
    for i, row in enumerate(rows):
        status, headers, answer = post(url + "/invocations", {"dataframe_records": [row]},
                                       {"X-Request-Id": f"r{i}"})
        # Then the champion answers, and says so
        assert status == 200 and answer["predictions"] == [champion[i]]
        assert headers["X-MLOps-Arm"] == answer["arm"] == "champion"
        assert headers["X-MLOps-Request-Id"] == f"r{i}"
    # And the challenger's predictions of the same rows are logged off the request path
    lines = wait_for_lines(log, 80)
    shadow = {line["_request_id"]: line for line in lines if line["_arm"] == "challenger"}
    answered = {line["_request_id"]: line for line in lines if line["_arm"] == "champion"}
    assert [shadow[f"r{i}"]["_prediction"] for i in range(40)] == challenger
    assert not any(line["_answered"] for line in shadow.values())
    assert answered["r0"]["customer"] == "c0" and "customer" not in shadow["r0"]
    assert all(line["_latency_ms"] > 0 and line["_error"] is None for line in lines)
    with urllib.request.urlopen(url + "/rollout") as response:
        state = json.loads(response.read())
    assert state["arms"]["challenger"]["rows"] == 40 and "salt" not in state["policy"]
    assert state["arms"]["challenger"]["model"]["version"] == "churn/2"
    # The log starts with the arms' models
    [start] = read_log(log, events=True)
    assert start["_event"] == "start" and start["_mode"] == "shadow"
    assert {arm: model["version"] for arm, model in start["_arms"].items()} == {
        "champion": "churn/1", "challenger": "churn/2"}


def test_rollout_refuses_a_changed_arm(arms: Shell, tmp_path: Path) -> None:
    bundle = export_rollout("churn@production", "churn@staging", tmp_path / "rollout",
                            mode="canary", store=arms.store())
    with (bundle / "challenger" / "schema.json").open("a") as handle:
        handle.write(" ")
    done = subprocess.run([sys.executable, str(bundle / "serve.py"), "--port",
                           str(free_port())], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "challenger/schema.json does not match MANIFEST.json" in done.stderr


@pytest.mark.parametrize("share", [0.01, 0.1, 0.25, 0.5, 0.9])
def test_assignment_shares_within_two_points(share: float) -> None:
    for salt in ("", "a", "rollout-2"):
        picked = [rollout.assign(f"user-{i}", share, salt) for i in range(10_000)]
        assert abs(picked.count("challenger") / 10_000 - share) <= 0.02


def test_assignment_is_sticky_and_monotonic_in_the_share() -> None:
    keys = [f"k{i}" for i in range(2000)]
    low = {k for k in keys if rollout.assign(k, 0.1, "s") == "challenger"}
    assert low == {k for k in keys if rollout.assign(k, 0.1, "s") == "challenger"}
    high = {k for k in keys if rollout.assign(k, 0.3, "s") == "challenger"}
    assert low < high  # raising the share only moves keys to the challenger
    other = {k for k in keys if rollout.assign(k, 0.1, "t") == "challenger"}
    assert low != other  # another rollout's salt picks other keys


def test_canary_routes_by_sticky_key_and_share_changes_at_runtime(
        arms: Shell, tmp_path: Path, started: Any) -> None:
    bundle = export_rollout("churn@production", "churn@staging", tmp_path / "rollout",
                            mode="canary", share=0.2, sticky_key="customer",
                            store=arms.store())
    salt = json.loads((bundle / "policy.json").read_text())["salt"]
    token = "t" * 24
    url = started(bundle, env={**__import__("os").environ,
                               rollout.TOKEN_VARIABLE: token})
    rows = rows_with_keys(arms, 300)
    # Each request's arm is the one the hash of its key picks, and stays so
    seen = {}
    for row in rows:
        status, headers, answer = post(url + "/invocations", [row])
        assert status == 200
        assert headers["X-MLOps-Arm"] == rollout.assign(row["customer"], 0.2, salt)
        seen[row["customer"]] = headers["X-MLOps-Arm"]
    assert 0.1 < list(seen.values()).count("challenger") / len(seen) < 0.3
    for row in rows[:50]:
        assert post(url + "/invocations", [row])[1]["X-MLOps-Arm"] == seen[row["customer"]]
    # A request with several keys is answered row by row
    status, headers, answer = post(url + "/invocations", rows[:30])
    assert answer["arm"] == headers["X-MLOps-Arm"] == "mixed"
    assert answer["arms"] == [seen[row["customer"]] for row in rows[:30]]
    # The share changes only with the admin token
    assert post(url + "/admin/share", {"share": 0.6})[0] == 401
    assert post(url + "/admin/share", {"share": 0.6},
                {"Authorization": "Bearer " + "x" * 24})[0] == 401
    assert post(url + "/admin/share", {"share": 2},
                {"Authorization": f"Bearer {token}"})[0] == 400
    assert post(url + "/admin/share", {"share": 0.6, "pad": "x" * 2000},
                {"Authorization": f"Bearer {token}"})[0] == 413
    # a request id the client sends is kept only when it is plain
    headers = post(url + "/invocations", [rows[0]], {"X-Request-Id": "a b\u00e9" * 30})[1]
    assert len(headers["X-MLOps-Request-Id"]) == 32 and " " not in headers["X-MLOps-Request-Id"]
    status, _, state = post(url + "/admin/share", {"share": 0.6},
                            {"Authorization": f"Bearer {token}"})
    assert status == 200 and state["policy"]["share"] == 0.6
    for row in rows[:100]:
        arm = post(url + "/invocations", [row])[1]["X-MLOps-Arm"]
        assert arm == rollout.assign(row["customer"], 0.6, salt)
        assert seen[row["customer"]] == "champion" or arm == "challenger"


def test_admin_endpoint_is_off_without_a_token(arms: Shell, tmp_path: Path,
                                               started: Any) -> None:
    bundle = export_rollout("churn@production", "churn@staging", tmp_path / "rollout",
                            mode="ab", store=arms.store())
    env = {k: v for k, v in __import__("os").environ.items() if k != rollout.TOKEN_VARIABLE}
    url = started(bundle, env=env)
    status, _, answer = post(url + "/admin/share", {"share": 0.6},
                             {"Authorization": "Bearer " + "x" * 24})
    assert status == 403 and rollout.TOKEN_VARIABLE in answer["error"]


class Served:
    """A rollout app served by uvicorn on a thread, on loopback."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def broken(features: Any) -> Any:
    raise RuntimeError("the arm is broken")


def test_a_failing_arm_does_not_break_the_other(arms: Shell, tmp_path: Path) -> None:
    bundle = export_rollout("churn@production", "churn@staging", tmp_path / "rollout",
                            mode="canary", share=1.0, store=arms.store())
    log_path = tmp_path / "requests.jsonl"
    served = rollout.Rollout(bundle, rollout.serve.RequestLog(log_path))
    served.arms["challenger"].predictor = broken  # a challenger that raises on every row
    row = rows_with_keys(arms, 1)[0]
    del row["customer"]
    expected = arms.ns["model"].predict(arms.ns["frame"].head(1)).tolist()
    with Served(rollout.create_app(served, token="t" * 16)) as url:
        # Every request goes to the challenger, which raises: the champion answers
        status, headers, answer = post(url + "/invocations", [row], {"X-Request-Id": "a"})
        assert status == 200 and answer["predictions"] == expected
        assert headers["X-MLOps-Arm"] == "champion"
        lines = read_log(log_path)
        failed = next(line for line in lines if line["_arm"] == "challenger")
        assert failed["_error"] == "RuntimeError: the arm is broken"
        assert failed["_prediction"] is None and not failed["_answered"]
        # A broken champion fails its own requests only; the challenger's still work
        served.arms["challenger"].predictor = served.arms["champion"].predictor
        served.arms["champion"].predictor = broken
        assert post(url + "/invocations", [row])[0] == 200
        served.set_share(0.0)
        status, _, answer = post(url + "/invocations", [row])
        assert status == 500 and "the arm is broken" in answer["error"]
        assert post(url + "/invocations", [{"age": "x"}])[0] == 422  # bad input: a 4xx
        served.set_share(1.0)
        assert post(url + "/invocations", [row])[0] == 200  # the server outlived them
    assert served.state()["arms"]["champion"]["errors"] == 1


def test_shadow_batches_give_each_request_its_own_answers(arms: Shell, tmp_path: Path) -> None:
    bundle = export_rollout("churn@production", "churn@staging", tmp_path / "rollout",
                            mode="shadow", store=arms.store())
    model = rollout.serve.Model(bundle / "challenger")
    frame = arms.ns["frame"]
    requests = [frame.iloc[0:1], frame.iloc[1:4], frame.iloc[4:5]]
    alone = [rollout.score(model, rows).predictions for rows in requests]
    # Scored together: each request gets its own rows' predictions, the batch's time
    together = rollout.score_together(model, requests)
    assert [outcome.predictions for outcome in together] == alone
    assert len({outcome.latency_ms for outcome in together}) == 1
    # A request the model refuses fails alone; the others are still answered
    refused = frame.iloc[5:6].assign(age="old")
    outcomes = rollout.score_together(model, [requests[0], refused, requests[2]])
    assert [o.predictions for o in outcomes] == [alone[0], None, alone[2]]
    assert "must be a number" in str(outcomes[1].error)
    # Requests with other columns are scored one by one, as they came
    extra = requests[1].assign(customer="c")
    mixed = rollout.score_together(model, [requests[0], extra], sticky_key="customer")
    assert [o.predictions for o in mixed] == alone[:2]
    assert rollout.score_together(model, []) == []


def stream(mode: str, n: int, champion_acc: float, challenger_acc: float, seed: int,
           share: float = 0.5) -> tuple[Any, dict[str, int]]:
    """A synthetic rollout log of ``n`` single-row requests, as the server writes it, where
    each arm is right with its given probability, and the labels by request id."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    right = {"champion": rng.random(n) < champion_acc,
             "challenger": rng.random(n) < challenger_acc}
    lines = []
    for i in range(n):
        scored = ["champion", "challenger"] if mode == "shadow" else [
            "challenger" if rng.random() < share else "champion"]
        for arm in scored:
            lines.append({"_request_id": f"r{i}", "_row": 0, "_arm": arm, "_mode": mode,
                          "_answered": mode != "shadow" or arm == "champion", "_share": share,
                          "_prediction": int(labels[i] if right[arm][i] else 1 - labels[i]),
                          "_latency_ms": float(rng.gamma(2, 1 if arm == "champion" else 2)),
                          "_error": None})
    return pd.DataFrame(lines), {f"r{i}": int(labels[i]) for i in range(n)}


def test_report_promotes_a_challenger_better_by_a_known_margin_in_shadow() -> None:
    from jupyter_mlops.lifecycle.rollout import rollout_report

    log, labels = stream("shadow", 4000, 0.80, 0.85, seed=1)
    report = rollout_report(log, labels)
    assert report.mode == "shadow" and report.verdict == "promote challenger"
    comparison = report.comparison
    assert comparison is not None and comparison.paired and comparison.rows == 4000
    assert comparison.low > 0 and comparison.low < 0.05 < comparison.high
    assert abs(report.arms.loc["challenger", "accuracy"] - 0.85) < 0.02
    assert 0.6 < report.agreement < 0.8  # type: ignore[operator]
    assert report.arms.loc["challenger", "latency_p50_ms"] > \
        report.arms.loc["champion", "latency_p50_ms"]
    assert "confidence sequence" in report.summary()
    figure = report.figure()
    assert len(figure.data) == 5 and "promote challenger" in figure.layout.title.text


def test_report_promotes_in_canary_and_rolls_back_a_worse_challenger() -> None:
    from jupyter_mlops.lifecycle.rollout import rollout_report

    log, labels = stream("canary", 10_000, 0.70, 0.85, seed=2, share=0.5)
    report = rollout_report(log, labels)
    assert report.verdict == "promote challenger" and not report.comparison.paired  # type: ignore[union-attr]
    log, labels = stream("ab", 10_000, 0.85, 0.70, seed=3, share=0.5)
    assert rollout_report(log, labels).verdict == "roll back"


@pytest.mark.parametrize("mode", ["shadow", "canary"])
@pytest.mark.parametrize("seed", range(5))
def test_report_does_not_promote_equal_models(mode: str, seed: int) -> None:
    from jupyter_mlops.lifecycle.rollout import rollout_report

    log, labels = stream(mode, 4000, 0.8, 0.8, seed=seed)
    # read after every 500 labelled rows, as a user checking the report would
    for seen in range(500, 4001, 500):
        partial = {k: v for k, v in labels.items() if int(k[1:]) < seen}
        assert rollout_report(log, partial).verdict == "keep"


def test_report_without_labels_keeps_and_reads_the_log_file(tmp_path: Path) -> None:
    from jupyter_mlops.lifecycle.rollout import rollout_report

    log, _ = stream("shadow", 20, 0.8, 0.8, seed=0)
    path = tmp_path / "log.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in log.to_dict("records")))
    report = rollout_report(path)
    assert report.verdict == "keep" and "no labels yet" in report.reasons[0]
    assert report.comparison is None and report.arms.loc["champion", "rows"] == 20


def test_cli_serves_a_rollout_of_a_model_and_reports_it(arms: Shell, store_dir: Path,
                                                        tmp_path: Path) -> None:
    temporary = tmp_path / "tmp"  # the server's own: no other process writes there
    temporary.mkdir()
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyter_mlops.cli", "serve", "churn", "--champion",
         "@production", "--challenger", "@staging", "--mode", "shadow", "--sticky-key",
         "customer", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
        env={**os.environ, "TMPDIR": str(temporary)})
    url = f"http://127.0.0.1:{port}"
    rows = rows_with_keys(arms, 30)
    try:
        wait_until_healthy(url, process, 90)
        assert [p.name[:22] for p in temporary.iterdir()] == ["jupyter-mlops-rollout-"]
        for i, row in enumerate(rows):
            assert post(url + "/invocations", [row], {"X-Request-Id": f"q{i}"})[0] == 200
        wait_for_lines(store_dir / "rollouts" / "churn.jsonl", 60)
    finally:
        stop(process)
    # the rollout bundle was written to a temporary directory, removed when the server stops
    assert not any(temporary.iterdir())
    target = arms.ns["target"].head(30).tolist()
    (tmp_path / "labels.csv").write_text("request_id,label\n" + "".join(
        f"q{i},{label}\n" for i, label in enumerate(target)))
    done = subprocess.run([sys.executable, "-m", "jupyter_mlops.cli", "rollout", "churn",
                           "--labels", str(tmp_path / "labels.csv")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("rollout (shadow): ")
    assert "30 labelled paired rows" in done.stdout
    # monitor reads the same log: the answered rows (without the sticky key) and each arm's
    # latency and errors
    done = subprocess.run([sys.executable, "-m", "jupyter_mlops.cli", "monitor",
                           "churn@production", str(store_dir / "rollouts" / "churn.jsonl")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "churn: 30 rows" in done.stdout
    assert "serving (champion): 30 requests, 0 failed" in done.stdout
    assert "serving (challenger): 30 requests, 0 failed" in done.stdout
    # the magic shows the same report, with its figure
    arms.ns["labels"] = {f"q{i}": label for i, label in enumerate(target)}
    shown = arms.run("%mlops rollout churn --labels labels")
    assert shown.result.success and "rollout (shadow): " in shown.stdout
    done = subprocess.run([sys.executable, "-m", "jupyter_mlops.cli", "serve", "churn",
                           "--champion", "@production", "--mode", "canary"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--champion, --challenger and --mode together" in done.stderr
    for option, message in ((["--mode", "blue"], "unknown rollout mode 'blue': use one of shadow, "
                             "canary, ab"),
                            (["--mode", "canary", "--share", "2"], "the share must be a number "
                             "from 0 to 1, got 2.0")):
        done = subprocess.run([sys.executable, "-m", "jupyter_mlops.cli", "serve", "churn",
                               "--champion", "@production", "--challenger", "@staging",
                               *option], capture_output=True, text=True, timeout=120)
        assert (done.returncode, done.stderr) == (2, f"jupyter-mlops: {message}\n")


def write_rollout_log(path: Path, log: Any, arms: dict[str, Any]) -> None:
    """A rollout log as the server writes it: a start event naming the arms, then the rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    start = {"_ts": time.time(), "_event": "start", "_mode": str(log["_mode"].iloc[0]),
             "_share": 0.5, "_arms": arms}
    path.write_text("".join(json.dumps(line) + "\n"
                            for line in [start, *log.to_dict("records")]))


def test_promote_gate_rollout_follows_the_report(arms: Shell, store_dir: Path,
                                                 tmp_path: Path) -> None:
    from jupyter_mlops.errors import PromotionError
    from jupyter_mlops.store.registry import get_version

    store = arms.store()
    champion, challenger = (get_version(store, f"churn@{stage}")
                            for stage in ("production", "staging"))
    models = {"champion": {"run_id": champion.run_id, "version": champion.ref},
              "challenger": {"run_id": challenger.run_id, "version": challenger.ref}}
    log_path = store_dir / "rollouts" / "churn.jsonl"
    # Given a served rollout where the challenger is as good as the champion
    log, labels = stream("shadow", 2000, 0.8, 0.8, seed=4)
    write_rollout_log(log_path, log, models)
    # Then the rollout gate refuses, with the report's reason
    with pytest.raises(PromotionError, match="rollout verdict 'keep': no difference shown yet "
                       "on 2000 labelled rows"):
        mlops.promote("churn@staging", name="churn", stage="production", gate="rollout",
                      labels=labels, reason="rollout", verify=False, store=store)
    with pytest.raises(PromotionError, match="no labels yet"):
        mlops.promote("churn@staging", name="churn", stage="production", gate="rollout",
                      reason="rollout", verify=False, store=store)
    # and a model that is not the rollout's challenger cannot use its verdict
    log, labels = stream("shadow", 4000, 0.80, 0.85, seed=1)
    write_rollout_log(log_path, log, models)
    with pytest.raises(PromotionError, match=f"the rollout's challenger is {challenger.ref} "
                       rf"\(run {challenger.run_id}\), not run {champion.run_id}: its verdict "
                       r"\('promote challenger'\) is about another model"):
        mlops.promote("churn@production", name="churn", stage="production", gate="rollout",
                      labels=labels, reason="rollout", verify=False, store=store)
    # When the challenger is better by a known margin, it is promoted (the CLI's --labels)
    (tmp_path / "labels.csv").write_text("request_id,label\n" + "".join(
        f"{key},{label}\n" for key, label in labels.items()))
    done = subprocess.run([sys.executable, "-m", "jupyter_mlops.cli", "transition", "churn",
                           str(challenger.version), "production", "--gate",
                           "rollout(min_improvement=0.001)", "--labels",
                           str(tmp_path / "labels.csv"), "--reason", "won the rollout",
                           "--no-verify"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert get_version(store, "churn@production").version == challenger.version
    event = store.events(challenger.ref)[0]
    assert event.detail["gate"]["verdict"] == "promote challenger"
    assert event.detail["gate"]["expression"] == "rollout(min_improvement=0.001) (churn)"
    with pytest.raises(PromotionError, match="labels are what the rollout gate judges"):
        mlops.promote("churn_small", name="churn", labels=labels, store=store)


def test_share_changes_are_audited_in_the_log_and_the_store(arms: Shell, store_dir: Path,
                                                            tmp_path: Path) -> None:
    import os

    token = "s" * 24
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyter_mlops.cli", "serve", "churn", "--champion",
         "@production", "--challenger", "@staging", "--mode", "canary", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
        env={**os.environ, rollout.TOKEN_VARIABLE: token})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process, 90)
        status, _, state = post(url + "/admin/share", {"share": 0.3},
                                {"Authorization": f"Bearer {token}"})
        assert status == 200 and state["policy"]["share"] == 0.3
    finally:
        stop(process)
    # the rollout's log records the change after its start
    start, change = read_log(store_dir / "rollouts" / "churn.jsonl", events=True)
    assert (start["_event"], start["_share"]) == ("start", 0.1)
    assert (change["_event"], change["_previous"], change["_share"], change["_client"]) == (
        "share", 0.1, 0.3, "127.0.0.1")
    # and the store's audit log, the rollout being of a registered model
    [event] = arms.store().events("rollout:churn")
    assert event.action == "rollout-share"
    assert (event.detail["previous"], event.detail["share"]) == (0.1, 0.3)
    assert event.detail["arms"]["challenger"]["version"] == "churn/2"


def test_a_share_change_that_cannot_be_audited_is_not_made(arms: Shell, tmp_path: Path
                                                           ) -> None:
    bundle = export_rollout("churn@production", "churn@staging", tmp_path / "rollout",
                            mode="canary", store=arms.store())
    served = rollout.Rollout(bundle, rollout.serve.RequestLog(tmp_path / "log.jsonl"))

    def refuse(change: dict[str, Any]) -> None:
        raise OSError("the store is read-only")

    served.on_share = refuse
    with Served(rollout.create_app(served, token="t" * 16)) as url:
        status, _, answer = post(url + "/admin/share", {"share": 0.5},
                                 {"Authorization": "Bearer " + "t" * 16})
    assert status == 503 and "could not be audited: OSError" in answer["error"]
    assert served.policy.share == 0.1
    assert [e["_event"] for e in read_log(tmp_path / "log.jsonl", events=True)] == ["start"]


def test_a_shadow_rollout_loads_the_challenger_once(arms: Shell, tmp_path: Path) -> None:
    bundle = export_rollout("churn@production", "churn@staging", tmp_path / "rollout",
                            mode="shadow", sticky_key="customer", store=arms.store())
    threads = set(threading.enumerate())
    served = rollout.Rollout(bundle, rollout.serve.RequestLog(tmp_path / "log.jsonl"))
    try:
        # only in its shadow process: this one holds the champion alone
        assert set(served.arms) == {"champion"} and served.shadow is not None
        assert served.shadow.process.is_alive()
        assert served.state()["arms"]["challenger"]["model"]["version"] == "churn/2"
        for i, row in enumerate(rows_with_keys(arms, 20)):
            served.predict({"dataframe_records": [row]}, f"r{i}")
        # and feeding it wakes no thread here (none to compete with the next request)
        assert set(threading.enumerate()) == threads
    finally:
        served.close()
    assert served.state()["arms"]["challenger"] == {
        "model": served.models()["challenger"], "rows": 20, "errors": 0}
    assert len([line for line in read_log(tmp_path / "log.jsonl")
                if line["_arm"] == "challenger"]) == 20


def test_a_full_shadow_feed_drops_rows_and_counts_them(arms: Shell, tmp_path: Path) -> None:
    # Given a shadow whose feed holds a few requests, and that reads none for a while
    bundle = export_rollout("churn@production", "churn@staging", tmp_path / "rollout",
                            mode="shadow", sticky_key="customer", store=arms.store())
    served = rollout.Rollout(bundle, rollout.serve.RequestLog(tmp_path / "log.jsonl"),
                             shadow_bytes=2000)
    assert served.shadow is not None
    os.kill(served.shadow.process.pid, signal.SIGSTOP)
    try:
        for i, row in enumerate(rows_with_keys(arms, 50)):
            answer = served.predict({"dataframe_records": [row]}, f"r{i}")
            assert answer["arm"] == "champion"  # every request is answered all the same
    finally:
        os.kill(served.shadow.process.pid, signal.SIGCONT)
        served.close()
    # Then what did not fit is dropped and counted, and what did is scored
    shadowed = [line for line in read_log(tmp_path / "log.jsonl") if line["_arm"] == "challenger"]
    assert shadowed and served.shadow_dropped > 0
    assert len(shadowed) + served.shadow_dropped == 50
    assert served.state()["shadow_dropped"] == served.shadow_dropped


def gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (reaped, or a zombie nobody reaped)."""
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_the_shadow_process_ends_with_a_killed_server(arms: Shell, tmp_path: Path) -> None:
    bundle = export_rollout("churn@production", "churn@staging", tmp_path / "rollout",
                            mode="shadow", store=arms.store())
    server = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\n"
         "from pathlib import Path\n"
         "from jupyter_mlops.bundle.rollout import Rollout\n"
         "served = Rollout(Path(sys.argv[1]))\n"
         "print(served.shadow.process.pid, flush=True)\n"
         "time.sleep(600)", str(bundle)], stdout=subprocess.PIPE, text=True)
    try:
        shadow = int(server.stdout.readline())  # type: ignore[union-attr]
        assert not gone(shadow)
    finally:
        server.kill()  # no chance to stop its shadow process
        server.wait()
    deadline = time.monotonic() + 20
    while not gone(shadow) and time.monotonic() < deadline:
        time.sleep(0.1)
    if not gone(shadow):
        os.kill(shadow, signal.SIGKILL)  # left behind by no test
        raise AssertionError("the shadow process outlived its server")


def test_the_shadow_feed_keeps_frames_in_order_around_its_ring() -> None:
    import multiprocessing

    feed = rollout.Feed(multiprocessing.get_context("spawn"), 100)
    assert not feed.put(b"x" * 93)  # with its 8-byte length, one byte too many
    sent = [bytes([i]) * (i % 40 + 1) for i in range(60)]
    received = []
    for frame in sent:  # each frame written and read at another place of the ring
        assert feed.put(frame) and feed.put(b"y")
        received += [feed.get(), feed.get()]
    assert received[::2] == sent and set(received[1::2]) == {b"y"}
    assert feed.put(b"a" * 40) and feed.put(b"b" * 40) and not feed.put(b"c")  # 96 bytes held
    assert feed.get() == b"a" * 40 and feed.put(b"c") and feed.get() == b"b" * 40
    assert feed.get() == b"c" and feed.get() is None
