"""Sync with a real MLflow tracking server (SQLite backend, local artifact root, loopback):
push a store, check every item through MLflow's client, push again, pull into a second store."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import Shell, mlflow_python_or_skip
from processes import stop

import jupyter_mlops as mlops
from jupyter_mlops.bundle.verify import free_port, wait_until_healthy
from jupyter_mlops.cli import main
from jupyter_mlops.errors import MissingExtraError, NotFoundError, SyncError
from jupyter_mlops.store import RunResult, Store, open_store
from jupyter_mlops.store.registry import versions
from jupyter_mlops.sync.remote import MAX_ENTITIES, MAX_METRICS, MAX_PARAMS, MAX_TAGS, batches


@contextmanager
def mlflow_server(root: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A real `mlflow server` on loopback (its URI and process), its data in ``root``;
    stopped with its workers, and ``root`` removed, afterwards."""
    python = mlflow_python_or_skip()
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = (root / "server.log").open("wb")
    (root / "tmp").mkdir()  # MLflow leaves a db_init_lock file in the temp dir: keep it here
    process = subprocess.Popen(
        [str(Path(python).with_name("mlflow")), "server", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
         "--artifacts-destination", str(root / "artifacts")],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "DO_NOT_TRACK": "1",
             # no job runner: it starts seven worker processes that load the CPU for a minute
             "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "TMPDIR": str(root / "tmp")})
    uri = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until_healthy(uri, process, timeout=180)
        except RuntimeError:
            pytest.fail(f"mlflow server did not start:\n{(root / 'server.log').read_text()}")
        yield uri, process
    finally:
        stop(process, group=True)
        log.close()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `mlflow server` on loopback, shared by the module's tests."""
    with mlflow_server(tmp_path_factory.mktemp("mlflow-server") / "server") as (uri, _):
        yield uri


def _team_store(shell: Shell) -> None:
    """Two experiments, a lineage chain, a curve, three versions in stages and an alias."""
    shell.run("import pandas as pd, numpy as np\nfrom jupyter_mlops import log_metric\n"
              "raw = pd.DataFrame({'a': np.arange(100.0), 'b': np.arange(100) % 2})")
    cells = [
        "%%track prep -e etl\nclean = raw[raw.a > 10].reset_index(drop=True)",
        "%%track train -e churn\nfrom sklearn.tree import DecisionTreeClassifier\n"
        "tree = DecisionTreeClassifier(max_depth=2).fit(clean[['a']], clean.b)\n"
        "for step in range(5):\n    log_metric('loss', 1.0 / (step + 1), step=step)",
        "%%track deeper -e churn\nfrom sklearn.tree import DecisionTreeClassifier\n"
        "tree = DecisionTreeClassifier(max_depth=3).fit(clean[['a']], clean.b)",
        "%%track score -e churn\npreds = tree.predict(clean[['a']])",
    ]
    for cell in cells:
        assert shell.run(cell).result.success
    store = shell.store()
    mlops.promote("train", name="tree", stage="staging", store=store)
    mlops.promote("deeper", name="tree", stage="production", verify=False, store=store)
    mlops.transition("tree", 1, "champion", store=store)
    mlops.transition("tree", 1, "archived", reason="v2 is better", store=store)


def _runs(client, experiment: str) -> list:
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id]) if exp else []


def test_push_mirrors_runs_models_and_registry(shell: Shell, server: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from mlflow.tracking import MlflowClient

    _team_store(shell)
    store = shell.store()
    report = mlops.push(server, store=store)
    assert report.counts["runs created"] == 4, str(report)
    assert report.counts["model versions created"] == 2, str(report)  # each counted once
    assert "model versions updated" not in report.counts, str(report)
    client = MlflowClient(server)
    remote = {r.data.tags["mlops.run_id"]: r for e in ("etl", "churn") for r in _runs(client, e)}
    assert len(remote) == 4
    for run_id, mirrored in remote.items():
        local = store.get_run(run_id)
        info, data = mirrored.info, mirrored.data
        assert info.run_name == local.name and info.status == "FINISHED"
        assert info.start_time == round(local.started_at * 1000)
        assert info.end_time == round(local.ended_at * 1000)
        assert data.params == {k: v if isinstance(v, str) else json.dumps(v)
                               for k, v in local.params.items()}
        assert data.metrics == pytest.approx(local.metrics)
        assert {k: v for k, v in data.tags.items() if k in local.tags} == local.tags
        files = {a.path for a in client.list_artifacts(info.run_id, "mlops")}
        assert {"mlops/cell.py", "mlops/code_slice.py", "mlops/run.json",
                "mlops/lineage.json"} <= files
        cell = client.download_artifacts(info.run_id, "mlops/cell.py", str(tmp_path))
        assert Path(cell).read_text() == local.source
        digests = {d.dataset.digest for d in mirrored.inputs.dataset_inputs}
        assert digests == {e.fingerprint.split(":")[1][:36] for e in local.inputs
                           if e.kind == "dataset"}
    train = next(r for r in remote.values() if r.info.run_name == "train")
    curve = client.get_metric_history(train.info.run_id, "loss")
    assert [(m.step, m.value) for m in curve] == [(s, 1.0 / (s + 1)) for s in range(5)]
    assert "model/MLmodel" in {a.path for a in client.list_artifacts(train.info.run_id,
                                                                       "model")}
    lineage = json.loads(Path(client.download_artifacts(
        train.info.run_id, "mlops/lineage.json", str(tmp_path))).read_text())
    prep = next(r for r in remote.values() if r.info.run_name == "prep")
    assert lineage["upstream"] == [{"run_id": prep.data.tags["mlops.run_id"],
                                    "remote_run_id": prep.info.run_id}]
    # the registry: versions, our stages as aliases, the audit events beside each version
    model = client.get_registered_model("tree")
    deeper = next(r for r in remote.values() if r.info.run_name == "deeper")
    by_run = {v.run_id: v for v in client.search_model_versions("name = 'tree'")}
    assert model.aliases == {"production": by_run[deeper.info.run_id].version,
                             "champion": by_run[train.info.run_id].version}  # staging moved
    assert by_run[train.info.run_id].tags["mlops.stage"] == "archived"
    audit = json.loads(Path(client.download_artifacts(
        train.info.run_id, "mlops/audit/tree/v1.json", str(tmp_path))).read_text())
    assert [e["action"] for e in audit] == ["register", "transition", "alias", "transition"]
    # a second push sends nothing new; a change sends only that run
    capsys.readouterr()
    assert main(["--store", str(store.directory), "push", "--to", server]) == 0  # the CLI
    assert capsys.readouterr().out == f"push to {server}: nothing new\n"
    store.set_tag(train.data.tags["mlops.run_id"], "reviewed", "yes")
    changed = mlops.push(server, store=store)
    assert changed.counts == {"runs updated": 1}, str(changed)
    assert client.get_run(train.info.run_id).data.tags["reviewed"] == "yes"
    assert len([r for e in ("etl", "churn") for r in _runs(client, e)]) == 4
    _pull_into_a_teammates_store(server, store, tmp_path / "teammate")


def _pull_into_a_teammates_store(server: str, mine: Store, directory: Path) -> None:
    """A second store pulls the runs with their lineage, and the registry with its stages."""
    with open_store(directory) as theirs:
        report = mlops.pull(server, store=theirs)
        assert report.counts == {"runs pulled": 4, "model versions pulled": 2}, str(report)
        assert theirs.count_runs() == 4 and sorted(theirs.experiments()) == ["churn", "etl"]
        for run_id in mine.runs()["run_id"]:  # the same ids, contents and lineage
            copy, original = theirs.get_run(run_id), mine.get_run(run_id)
            assert copy.tags.pop("mlops.origin").startswith(server)
            for field in ("name", "experiment", "status", "params", "metrics", "tags",
                          "inputs", "outputs", "source", "code_slice", "environment"):
                assert getattr(copy, field) == getattr(original, field), field
            assert theirs.upstream(run_id) == mine.upstream(run_id)
            assert theirs.downstream(run_id) == mine.downstream(run_id)
        train = mine.resolve_run_id("train")
        assert [p.value for p in theirs.metric_history(train, "loss")] == [
            1.0 / (s + 1) for s in range(5)]
        production = theirs.models().set_index("version")
        assert production.loc[2, "stage"] == "production"
        assert production.loc[1, "stage"] == "archived" and production.loc[1, "aliases"] == \
            "champion"
        model = theirs.load_model("tree@production")
        assert model.get_params() == mine.load_model("tree@production").get_params()
        assert [e.action for e in theirs.events("tree/2")][::-1][:1] == ["pull"]
        assert theirs.check() == []
        # pulled copies are not pushed back; pulling again brings nothing new
        assert mlops.push(server, store=theirs).counts == {}
        assert mlops.pull(server, store=theirs).counts == {}
        _load_model_resolves_through_the_server(server, mine, directory.parent / "newcomer")
        _a_changed_run_is_refreshed(server, theirs, train)


def _load_model_resolves_through_the_server(server: str, mine: Store, directory: Path) -> None:
    """A store with sync.uri set loads a model it never saw: that model is pulled first."""
    with open_store(directory) as newcomer:
        with pytest.raises(NotFoundError):  # no server set: the local store only
            mlops.load_model("tree@production", store=newcomer)
        assert main(["--store", str(directory), "config", "sync.uri", server]) == 0
        model = mlops.load_model("tree@production", store=newcomer)
        assert model.get_params() == mine.load_model("tree@production").get_params()
        assert sorted(newcomer.runs()["name"]) == ["deeper", "train"]  # that model's runs
        assert newcomer.models().set_index("version").loc[2, "stage"] == "production"
        with pytest.raises(SyncError, match="no registered model 'nope'"):
            mlops.load_model("nope@production", store=newcomer)


def _a_changed_run_is_refreshed(server: str, theirs: Store, run_id: str) -> None:
    """A run changed on the server after the pull (a tag, more points, its status) comes
    again with the next pull, still a pulled copy."""
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = MlflowClient(server)
    remote = client.search_runs([client.get_experiment_by_name("churn").experiment_id],
                                f"tags.`mlops.run_id` = '{run_id}'")[0].info.run_id
    client.set_tag(remote, "reviewed", "by bob")
    client.log_batch(remote, metrics=[Metric("loss", 0.1, 1_800_000_000_000, step)
                                      for step in (5, 6)])
    client.set_terminated(remote, "FAILED")
    report = mlops.pull(server, store=theirs)
    assert report.counts == {"runs refreshed": 1}, str(report)
    copy = theirs.get_run(run_id)
    assert copy.status == "failed" and copy.tags["reviewed"] == "by bob"
    assert copy.tags["mlops.origin"].endswith(remote)
    assert [p.step for p in theirs.metric_history(run_id, "loss")] == list(range(7))
    assert copy.metrics["loss"] == 0.1
    assert mlops.push(server, store=theirs).counts == {}  # still a copy, never sent back
    assert mlops.pull(server, store=theirs).counts == {}
    assert theirs.check() == []


def _long_run(store: Store, run_id: str, experiment: str) -> None:
    """A finished run with 2,500 metric points, 150 params and 120 tags: several calls."""
    now = time.time()
    store.start_run(run_id, name="long", experiment=experiment, source="fit()",
                    source_hash="h", started_at=now)
    store.log_metrics(run_id, [("loss", 1.0 / (s + 1), s, now + s) for s in range(2500)])
    store.finish_run(run_id, RunResult(status="finished", ended_at=now + 3000,
                                       params={f"p{i}": i for i in range(150)},
                                       tags={f"k{i}": str(i) for i in range(120)}))


def test_an_interrupted_push_resumes_without_duplicates(
        store: Store, server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.tracking import MlflowClient

    real, calls = MlflowClient.log_batch, []

    def cut_at(call: int) -> None:
        def log_batch(self: MlflowClient, run_id: str, **kwargs: object) -> None:
            calls.append(run_id)
            if len(calls) == call:
                raise ConnectionError("the network went away")
            real(self, run_id, **kwargs)  # type: ignore[arg-type]
        calls.clear()
        monkeypatch.setattr(MlflowClient, "log_batch", log_batch)

    client = MlflowClient(server)
    # Given a push cut after its first log_batch call (1,000 points sent), then resumed
    _long_run(store, "01RESUMEA", "resume")
    cut_at(2)
    with pytest.raises(ConnectionError):
        mlops.push(server, store=store)
    monkeypatch.setattr(MlflowClient, "log_batch", real)
    mlops.push(server, store=store)
    # and a push that crashed after creating a run, before recording its id (the store
    # holds only the mark it writes before creating one)
    _long_run(store, "01RESUMEB", "resume")
    cut_at(1)
    with pytest.raises(ConnectionError):
        mlops.push(server, store=store)
    with store.transaction() as conn:
        conn.execute("UPDATE sync_ids SET remote_id = 'creating:01RESUMEB', state = '{}' "
                     "WHERE local_id = '01RESUMEB'")
    monkeypatch.setattr(MlflowClient, "log_batch", real)
    # When pushed again, each run is one MLflow run with every point and param once
    mlops.push(server, store=store)
    runs = _runs(client, "resume")
    assert sorted(r.data.tags["mlops.run_id"] for r in runs) == ["01RESUMEA", "01RESUMEB"]
    for run in runs:
        history = client.get_metric_history(run.info.run_id, "loss")
        assert sorted(m.step for m in history) == list(range(2500))
        assert len(run.data.params) == 150 and run.info.status == "FINISHED"
        assert {k: v for k, v in run.data.tags.items() if k[0] == "k"} == {
            f"k{i}": str(i) for i in range(120)}
        # no code slice, no lineage: those files are not uploaded
        assert {a.path for a in client.list_artifacts(run.info.run_id, "mlops")} == {
            "mlops/cell.py", "mlops/run.json"}


@pytest.mark.parametrize(("metrics", "params", "tags"), [
    (0, 0, 0), (2500, 0, 0), (10, 250, 0), (0, 0, 101), (1000, 100, 100), (999, 3, 250),
])
def test_batches_stay_within_log_batch_limits(metrics: int, params: int, tags: int) -> None:
    calls = list(batches(list(range(metrics)), list(range(params)), list(range(tags))))
    assert all(len(m) <= MAX_METRICS and len(p) <= MAX_PARAMS and len(t) <= MAX_TAGS
               and len(m) + len(p) + len(t) <= MAX_ENTITIES for m, p, t in calls)
    assert [sum(len(c[i]) for c in calls) for i in range(3)] == [metrics, params, tags]
    assert [x for c in calls for x in c[0]] == list(range(metrics))  # in order, each once


def test_push_needs_a_server_and_checks_its_arguments(store_dir: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with open_store(store_dir) as store:
        with pytest.raises(SyncError, match="MLFLOW_TRACKING_URI"):
            mlops.push(store=store)
        with pytest.raises(SyncError, match="no experiment 'nope'"):
            mlops.push("http://127.0.0.1:9", experiment="nope", store=store)
        with pytest.raises(ValueError, match="since must be"):
            mlops.push("http://127.0.0.1:9", since="last tuesday", store=store)


def test_a_server_that_cannot_be_reached_is_a_clear_error_at_once(
        shell: Shell, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("mlflow")
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)  # MLflow's 7 retries
    shell.run("%%track x\nx = 1")
    down = f"http://127.0.0.1:{free_port()}"  # nobody listens
    # A push or pull to a server that is down fails in seconds (not after MLflow's four
    # minutes of retries), saying so without a traceback
    started = time.monotonic()
    for call in (mlops.push, mlops.pull):
        with pytest.raises(SyncError, match=r"cannot reach the MLflow tracking server at "
                           r"http://127\.0\.0\.1:\d+ \(.*Connection refused\)"):
            call(down, store=shell.store())
    assert time.monotonic() - started < 30
    cell = shell.run(f"%mlops push --to {down}")
    assert "cannot reach" in cell.stderr and "Traceback" not in cell.stderr
    # as does a model reference resolved through it, naming the socket's reason
    assert main(["--store", str(shell.store().directory), "config", "sync.uri", down]) == 0
    with pytest.raises(SyncError, match=r"\(\[Errno 111\] Connection refused\)"):
        mlops.load_model("other@production", store=shell.store())
    # and a URI MLflow cannot use as a server (a path: its file store) says so
    with pytest.raises(SyncError, match="cannot use 'notauri' as an MLflow tracking server"):
        mlops.push("notauri", store=shell.store())


def test_the_magic_says_which_server_is_missing(shell: Shell,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    shell.run("%%track x\nx = 1")
    for line in ("%mlops push", "%mlops pull -e nope"):
        cell = shell.run(line)
        assert "set $MLFLOW_TRACKING_URI" in cell.stderr and "Traceback" not in cell.stderr


def test_without_mlflow_the_error_names_the_extra(store_dir: Path) -> None:
    code = ("import sys; sys.modules['mlflow'] = None\n"
            "import jupyter_mlops as m\n"
            "from jupyter_mlops.errors import MissingExtraError\n"
            f"store = m.open_store({str(store_dir)!r})\n"
            "try:\n    m.push('http://127.0.0.1:9', store=store)\n"
            "except MissingExtraError as exc:\n    print(exc)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert "pip install 'jupyter-mlops[mlflow]'" in done.stdout
    assert issubclass(MissingExtraError, ImportError)


def test_a_new_teammate_sets_the_server_before_any_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from jupyter_mlops.store.settings import settings

    # Given no store yet (a teammate who will load the team's model before tracking a cell),
    # setting sync.uri creates the store; reading the settings does not
    assert main(["--store", str(tmp_path / "none"), "config"]) == 1
    assert not (tmp_path / "none").exists()
    assert main(["--store", str(tmp_path / "bob"), "config", "sync.uri",
                 "http://mlflow.example:5000"]) == 0
    with open_store(tmp_path / "bob", create=False) as store:
        assert settings(store)["sync.uri"] == "http://mlflow.example:5000"


def test_config_checks_and_audits_the_sync_server(store: Store,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    where = ["--store", str(store.directory), "config"]
    assert main([*where]) == 0
    assert capsys.readouterr().out.startswith("sync.uri = (not set)  # ")
    for bad in ("ftp://host", "http://host name", "x" * 3000, "http://a\x00"):
        assert main([*where, "sync.uri", bad]) == 2
        assert "sync.uri" in capsys.readouterr().err
    assert main([*where, "nope", "1"]) == 2
    assert "no setting 'nope'; the settings are: sync.uri" in capsys.readouterr().err
    assert main([*where, "sync.uri", "http://mlflow.example:5000/", "--reason", "team"]) == 0
    assert capsys.readouterr().out == ("sync.uri = http://mlflow.example:5000 (recorded in the "
                                       "audit log)\n")
    assert main([*where, "sync.uri"]) == 0
    assert capsys.readouterr().out == "sync.uri = http://mlflow.example:5000\n"
    assert main([*where, "sync.uri", "--unset"]) == 0
    assert capsys.readouterr().out == "sync.uri = (not set) (recorded in the audit log)\n"
    changes = [(e.action, e.detail, e.reason) for e in store.events("config:sync.uri")]
    assert changes == [("config", {"value": None}, None),
                       ("config", {"value": "http://mlflow.example:5000"}, "team")]
    assert store.check() == []


def _auto_pusher(shell: Shell, uri: str) -> object:
    from jupyter_mlops.sync import auto

    store = shell.store()
    assert main(["--store", str(store.directory), "config", "sync.uri", uri]) == 0
    return lambda: auto._pushers[(store.directory.resolve(), uri)]


def test_auto_push_sends_each_tracked_run_in_the_background(
        shell: Shell, server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from mlflow.tracking import MlflowClient

    from jupyter_mlops.sync import pushing

    warnings: list[str] = []
    monkeypatch.setattr("jupyter_mlops.magics.state.warn", warnings.append)
    pusher = _auto_pusher(shell, server)
    # Given a server slow to answer (the push waits for the gate)
    gate, real = threading.Event(), pushing.push
    monkeypatch.setattr(pushing, "push", lambda *a, **k: gate.wait(60) and real(*a, **k))
    # When a tracked cell finishes, it does not wait for its push
    assert shell.run("%%track auto -e team\nx = 2").result.success
    assert not pusher().wait(0)  # type: ignore[attr-defined]
    gate.set()
    # Then the run is on the server without a push command, as is the next one
    assert pusher().wait(120)  # type: ignore[attr-defined]
    assert shell.run("%%track again -e team\nx = 3").result.success
    assert pusher().wait(120)  # type: ignore[attr-defined]
    runs = _runs(MlflowClient(server), "team")
    assert sorted(r.info.run_name for r in runs) == ["again", "auto"]
    assert {r.info.status for r in runs} == {"FINISHED"} and warnings == []


def test_a_failing_auto_push_warns_once(shell: Shell, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    warnings: list[str] = []
    monkeypatch.setattr("jupyter_mlops.magics.state.warn", warnings.append)
    pusher = _auto_pusher(shell, f"http://127.0.0.1:{free_port()}")  # nobody listens
    for value in range(3):
        assert shell.run(f"%%track down\nx = {value}").result.success
        assert pusher().wait(60)  # type: ignore[attr-defined]
    assert len(warnings) == 1, warnings
    assert "auto-push to http://127.0.0.1:" in warnings[0] and "(shown once)" in warnings[0]
    assert shell.store().count_runs() == 3


EXIT_PUSH = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from test_sync import _runs_reading_one_dataset
from jupyter_mlops.store import open_store
from jupyter_mlops.sync import auto
auto.EXIT_WAIT_S = float(sys.argv[4])
with open_store(Path(sys.argv[1])) as store:
    _runs_reading_one_dataset(store, "at-exit", 2, "EXIT")
auto.request(Path(sys.argv[1]), sys.argv[2], lambda message: print(message, flush=True))
"""  # the kernel exits right after its last tracked cell, before the push has started


def test_the_last_auto_push_of_an_exiting_process_reaches_the_server(
        server: str, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    # Given a process that asks for an auto-push and exits at once (as a kernel does when
    # nbconvert or papermill ends it after the last cell), so the push runs at its exit,
    # when executors no longer take work
    done = subprocess.run([sys.executable, "-c", EXIT_PUSH, str(tmp_path / "s"), server,
                           str(Path(__file__).parent), "10"], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": os.pathsep.join(
                              [str(Path(__file__).parents[1]), *sys.path])})
    # Then the push succeeds in the time the exit gives it: no warning, both runs there
    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr
    assert sorted(r.info.run_name for r in _runs(MlflowClient(server), "at-exit")) == [
        "fit0", "fit1"]


def test_a_last_auto_push_the_exit_cuts_short_is_said(server: str, tmp_path: Path) -> None:
    # Given a process whose exit gives its last auto-push no time (Jupyter kills a kernel
    # it shuts down after about 5 s)
    done = subprocess.run([sys.executable, "-c", EXIT_PUSH, str(tmp_path / "s"), server,
                           str(Path(__file__).parent), "0"], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": os.pathsep.join(
                              [str(Path(__file__).parents[1]), *sys.path])})
    # Then it says the push had not finished, and that the runs go with the next one
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"auto-push to {server} had not finished when this process " \
        "exited (0 s); the runs stay in the store and go with the next push\n"


def test_auto_push_is_off_where_the_environment_says_so(
        shell: Shell, monkeypatch: pytest.MonkeyPatch) -> None:
    from jupyter_mlops.sync import auto

    monkeypatch.setenv(auto.OFF_VAR, "0")  # as `jupyter-mlops ci` sets it for its kernels
    _auto_pusher(shell, "http://127.0.0.1:9")
    assert shell.run("%%track checked\nx = 1").result.success
    assert (shell.store().directory.resolve(), "http://127.0.0.1:9") not in auto._pushers


def _runs_reading_one_dataset(store: Store, experiment: str, runs: int, prefix: str) -> None:
    from jupyter_mlops.entities import Entity
    from jupyter_mlops.store import DatasetInfo

    data = DatasetInfo("data:0123456789abcdef", "DataFrame", (3, 2),
                       {"columns": [{"name": "a", "dtype": "int64"}]}, {"rows": 3})
    for i in range(runs):
        run_id = f"01{prefix}{i:02d}"
        store.start_run(run_id, name=f"fit{i}", experiment=experiment, source="fit(raw)",
                        source_hash="h", started_at=time.time())
        store.finish_run(run_id, RunResult(
            status="finished", ended_at=time.time(), datasets=[data],
            inputs=[Entity("dataset", "raw", data.fingerprint)]))


def test_a_pulled_version_without_a_stage_is_in_the_audit_log(store: Store) -> None:
    from jupyter_mlops.store.registry import copy_version
    from jupyter_mlops.store.replay import registry_problems

    # Given a version pulled from a server without a stage or alias there (a teammate moved
    # `production` to their own version), recorded by its `pull` event and no transition
    _runs_reading_one_dataset(store, "pulled", 1, "PULL")
    copy_version(store, name="bc", version=2, run_id="01PULL00", model_fingerprint="model:f",
                 model_variable="gb", created_at=time.time(), created_by="ann", reason="better",
                 actor="pull from http://mlflow", origin="http://mlflow")
    # Then doctor's replay of the log registers it: no problem reported
    assert registry_problems(store.conn) == []


def test_runs_reading_one_dataset_push_together(store: Store, server: str) -> None:
    from mlflow.tracking import MlflowClient

    # Given twelve runs that read the same dataset (pushed four at a time: MLflow's server
    # adds a dataset it does not know with a check then an insert, not atomically)
    _runs_reading_one_dataset(store, "shared", 12, "SHARED")
    # When pushed, each run has it as its input
    mlops.push(server, store=store)
    runs = _runs(MlflowClient(server), "shared")
    assert len(runs) == 12
    assert {(d.dataset.name, d.dataset.digest) for r in runs for d in r.inputs.dataset_inputs
            } == {("raw", "0123456789abcdef")}
    assert all(len(r.inputs.dataset_inputs) == 1 for r in runs)


def test_a_run_pushed_while_running_gets_its_files_when_it_ends(store: Store,
                                                                server: str) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(server)
    # Given a run pushed while it ran (its files wait for its end), by a push that did not
    # keep the run's artifact store in its record (as before session 6)
    store.start_run("01LATER", name="later", experiment="later", source="fit()",
                    source_hash="h", started_at=time.time())
    store.log_metrics("01LATER", [("loss", 0.5, 0, time.time())])
    mlops.push(server, store=store)
    (remote,) = _runs(client, "later")
    assert remote.info.status == "RUNNING" and not client.list_artifacts(remote.info.run_id)
    with store.transaction() as conn:
        conn.execute("UPDATE sync_ids SET state = json_remove(state, '$.artifact_uri') "
                     "WHERE local_id = '01LATER'")
    # When it ends and is pushed again, its files are uploaded and it is finished there
    store.finish_run("01LATER", RunResult(status="finished", ended_at=time.time()))
    mlops.push(server, store=store)
    (remote,) = _runs(client, "later")
    assert remote.info.status == "FINISHED"
    assert {a.path for a in client.list_artifacts(remote.info.run_id, "mlops")} == {
        "mlops/cell.py", "mlops/run.json"}


# a push in a process of its own, started when its parent says "go"
PUSH_ON_GO = """
import sys
from pathlib import Path
import mlflow.tracking  # imported on use by push: here, so that both pushes start at once
import jupyter_mlops as mlops
from jupyter_mlops.store import open_store
store = open_store(Path(sys.argv[2]))
print("ready", flush=True)
sys.stdin.readline()
print(mlops.push(sys.argv[1], store=store))
"""


def _push_at_once(server: str, stores: list[Path]) -> None:
    """Push these stores from processes of their own, all at the same moment: each says
    when it is ready, and all are told to go together (however loaded the machine)."""
    pushes = [subprocess.Popen([sys.executable, "-c", PUSH_ON_GO, server, str(directory)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True) for directory in stores]
    try:
        for push in pushes:
            assert push.stdout is not None and push.stdout.readline() == "ready\n"
        for push in pushes:
            assert push.stdin is not None
            push.stdin.write("go\n")
            push.stdin.flush()
        for push in pushes:
            out = push.communicate(timeout=180)[0]
            assert push.returncode == 0, out
    finally:
        for push in pushes:
            push.kill()
            push.wait()


def test_two_teammates_push_at_once(server: str, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    # Given two teammates with runs reading the same data, into an experiment new to the
    # server (both pushes look for it, find nothing and create it; both add the dataset)
    for name in ("ann", "bob"):
        with open_store(tmp_path / name) as store:
            _runs_reading_one_dataset(store, "together", 8, name.upper())
    # When they push at the same moment, both pushes succeed
    _push_at_once(server, [tmp_path / "ann", tmp_path / "bob"])
    # and the server has one experiment with both teammates' runs, each reading the data
    runs = _runs(MlflowClient(server), "together")
    assert sorted(r.data.tags["mlops.run_id"][2:5] for r in runs) == ["ANN"] * 8 + ["BOB"] * 8
    assert {(d.dataset.name, d.dataset.digest) for r in runs for d in r.inputs.dataset_inputs
            } == {("raw", "0123456789abcdef")}
    assert all(len(r.inputs.dataset_inputs) == 1 for r in runs)


def test_two_pushes_of_one_store_at_once_send_each_run_once(store: Store, server: str) -> None:
    from mlflow.tracking import MlflowClient

    # Given a store pushed before, with new runs, pushed by two processes at the same moment
    # (two kernels auto-pushing, a push from a terminal beside them)
    _runs_reading_one_dataset(store, "twice", 1, "BEFORE")
    mlops.push(server, store=store)
    _runs_reading_one_dataset(store, "twice", 20, "TWICE")
    _push_at_once(server, [store.directory, store.directory])
    # Then each run is one MLflow run (both pushes created the runs the other had not
    # recorded yet)
    runs = _runs(MlflowClient(server), "twice")
    assert sorted(r.data.tags["mlops.run_id"] for r in runs) == ["01BEFORE00", *(
        f"01TWICE{i:02d}" for i in range(20))]
    assert mlops.push(server, store=store).counts == {}


def test_an_experiment_created_meanwhile_is_the_one_pushed_to(
        store: Store, server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.tracking import MlflowClient

    # Given a teammate's push that creates the experiment just after this push looked for it
    teammate = MlflowClient(server)
    looked = MlflowClient.get_experiment_by_name

    def created_after_the_look(self: MlflowClient, name: str) -> object:
        found = looked(self, name)
        if found is None and self is not teammate:
            teammate.create_experiment(name)
        return found

    monkeypatch.setattr(MlflowClient, "get_experiment_by_name", created_after_the_look)
    _runs_reading_one_dataset(store, "meanwhile", 2, "MEANWHILE")
    # When pushed, the runs land in the teammate's experiment
    report = mlops.push(server, store=store)
    monkeypatch.undo()
    assert report.counts["runs created"] == 2, str(report)
    experiment = teammate.get_experiment_by_name("meanwhile")
    assert len(teammate.search_runs([experiment.experiment_id])) == 2


def test_a_teammates_own_version_is_another_version(shell: Shell, server: str,
                                                    tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.tracking import MlflowClient

    train = ("%%track fit -e {exp}\nimport numpy as np\n"
             "from sklearn.tree import DecisionTreeClassifier\n"
             "model = DecisionTreeClassifier(max_depth={depth}).fit("
             "np.arange(20.0).reshape(-1, 1), np.arange(20) % 2)")
    # Given Ann's version 1 of a model, pushed as production
    assert shell.run(train.format(exp="ann", depth=1)).result.success
    ann = shell.store()
    mlops.promote("fit", name="shared-tree", stage="production", verify=False, store=ann)
    mlops.push(server, store=ann)
    ann_run, ann_directory = ann.runs().run_id[0], ann.directory
    # and Bob's own version 1 of the same name, from his own store
    monkeypatch.setenv("JUPYTER_MLOPS_STORE", str(tmp_path / "bob"))
    shell.run("%reload_ext jupyter_mlops")
    assert shell.run(train.format(exp="bob", depth=2)).result.success
    bob = shell.store()
    assert bob.directory != ann_directory
    mlops.promote("fit", name="shared-tree", stage="production", verify=False, store=bob)
    # When Bob pushes, his version is a new version on the server, not Ann's
    report = mlops.push(server, store=bob)
    assert report.counts["model versions created"] == 1, str(report)
    client = MlflowClient(server)
    by_number = {v.version: v for v in client.search_model_versions("name = 'shared-tree'")}
    assert sorted(by_number) == ["1", "2"]
    assert by_number["1"].tags["mlops.run_id"] == ann_run
    assert by_number["2"].tags["mlops.run_id"] == bob.runs().run_id[0]
    assert by_number["1"].tags["mlops.stage"] == "production"  # Ann's, as she left it
    # and moving the team's production alias to it is said
    assert client.get_registered_model("shared-tree").aliases == {"production": "2"}
    assert report.notes == ["shared-tree: alias 'production' moved to version 2 (this store's "
                            "shared-tree/1) from version 1, which another store pushed"]
    # and Ann's next pull keeps her own versions, and says where the team's production is
    with open_store(ann_directory) as ann:
        pulled = mlops.pull(server, "bob", store=ann)
        assert "model 'shared-tree': kept this store's own versions (shared-tree/1); the " \
            "server's were not pulled; on the server, production is its version 2, which " \
            "another store pushed" in pulled.notes, str(pulled)
        # and when she labels her version anew, her push sends that label, and leaves the
        # team's production where Bob put it
        mlops.transition("shared-tree", 1, "reviewed", store=ann)
        assert mlops.push(server, store=ann).counts == {"model versions updated": 1}
        assert client.get_registered_model("shared-tree").aliases == {"production": "2",
                                                                     "reviewed": "1"}
        # and a label a teammate puts on her version is not removed by her next push either
        client.set_registered_model_alias("shared-tree", "champion", "1")
        mlops.transition("shared-tree", 1, "checked", store=ann)
        mlops.push(server, store=ann)
    assert client.get_registered_model("shared-tree").aliases == {
        "production": "2", "reviewed": "1", "champion": "1", "checked": "1"}


def test_a_push_waits_for_the_one_before_it_and_not_for_a_killed_one(
        store: Store, server: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from jupyter_mlops.sync import ids

    # Given another process pushing this store (it holds the store's sync lock)
    _runs_reading_one_dataset(store, "locked", 1, "LOCKED")
    monkeypatch.setattr(ids, "LOCK_WAIT_S", 0.5)
    monkeypatch.setattr(ids, "SAY_WAITING_S", 0.2)
    holder = subprocess.Popen([sys.executable, "-c", """
import sys, time
from pathlib import Path
from jupyter_mlops.store import open_store
from jupyter_mlops.sync import ids
with ids.exclusive(open_store(Path(sys.argv[1])), sys.argv[2]):
    print("held", flush=True)
    time.sleep(600)
""", str(store.directory), server], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        # When this store is pushed meanwhile, it says it waits, then why it gave up
        with pytest.raises(SyncError, match="another push or pull of this store with "
                           f"{server} has held .*sync-.*\\.lock for 0.5 s"):
            mlops.push(server, store=store)
        assert capsys.readouterr().err == "waiting for another push or pull of this store " \
            f"with {server} to end (at most 0.5 s)...\n"
        assert ids.remote_of(store, server, "run", "01LOCKED00") is None
    finally:
        holder.kill()  # as a crash would end it
        holder.communicate()
    # And once that process is gone, however it ended, the push goes
    assert mlops.push(server, store=store).counts["runs created"] == 1


class _Payload:
    """Pickled, it runs a command when loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return (os.system, (f"touch {self.marker}",))


def test_a_pull_trusts_its_own_loader_not_the_servers_records(server: str, tmp_path: Path
                                                               ) -> None:
    """What a teammate (or whoever can write to the server) puts in a run's mlops/run.json
    decides nothing: a pickled model is not pulled (loading it would run its code), a model
    file outside mlops/models/ is not read, a record too deep or of the wrong types leaves
    that run out with a note, and the other runs come."""
    import pickle

    from mlflow.tracking import MlflowClient

    client = MlflowClient(server, server)
    experiment = client.create_experiment("crafted")
    marker = tmp_path / "pwned"
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the store")

    def record(local_id: str, **fields: object) -> dict[str, object]:
        return {"source": "x = 1", "source_hash": "", "params": {}, "tags": {}, "inputs": [],
                "outputs": [], "datasets": {}, "models": [], "environment": None, "git": None,
                "stdout": "", "stderr": "", "error": None, "traceback": None,
                "code_slice": [], "warnings": [], **fields}

    def model(file: str, fmt: str) -> dict[str, object]:
        return {"variable": "model", "fingerprint": "model:x", "class_name": "X", "module": "m",
                "format": fmt, "trusted_types": ["builtins.eval"], "file": file}

    def run(local_id: str, files: dict[str, bytes]) -> str:
        remote = client.create_run(experiment, run_name=local_id,
                                   tags={"mlops.run_id": local_id})
        folder = tmp_path / local_id
        for name, data in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
        client.log_artifacts(remote.info.run_id, str(folder))
        client.set_terminated(remote.info.run_id)
        return str(remote.info.run_id)

    output = [{"kind": "model", "name": "model", "fingerprint": "model:x", "detail": {}}]
    pickled = run("pickled", {"mlops/run.json": json.dumps(record(
        "pickled", outputs=output, models=[model("models/model.pickle", "pickle")])).encode(),
        "mlops/models/model.pickle": pickle.dumps(_Payload(marker))})
    run("absolute", {"mlops/run.json": json.dumps(record(
        "absolute", outputs=output, models=[model(str(secret), "skops")])).encode(),
        f"mlops/{str(secret).lstrip('/')}": b"decoy"})
    run("deep", {"mlops/run.json": b"[" * 100_000 + b"]" * 100_000})
    run("typed", {"mlops/run.json": json.dumps(record("typed", params=[1, 2])).encode()})
    run("fine", {"mlops/run.json": json.dumps(record("fine", params={"a": 1})).encode()})
    run("partial", {"mlops/run.json": b'{"source": "x = 1"}'})  # fields missing
    run("unsent", {"mlops/run.json": json.dumps(record(  # a model file never uploaded
        "unsent", outputs=output, models=[model("models/model.skops", "skops")])).encode()})
    run("unfit", {"mlops/run.json": json.dumps(record("unfit", stdout={"a": 1})).encode()})
    run("escape", {"mlops/run.json": json.dumps(record(  # a terminal escape in a note
        "escape", outputs=output, models=[model("models/m.bin", "\x1b[2Jwiped")])).encode(),
        "mlops/models/m.bin": b"x"})
    client.create_registered_model("crafted")
    version = client.create_model_version("crafted", f"runs:/{pickled}/model", run_id=pickled)
    client.set_registered_model_alias("crafted", "production", version.version)
    with open_store(tmp_path / "mine") as store:
        assert main(["--store", str(store.directory), "config", "sync.uri", server]) == 0
        with pytest.raises(NotFoundError, match="a pickle \\(loading one runs any code"):
            mlops.load_model("crafted@production", store=store)
        assert not marker.exists()
        report = mlops.pull(server, "crafted", store=store)
        # "fine" and "escape" (without its model); "pickled" came with load_model
        assert report.counts == {"runs pulled": 2}, str(report)
        notes = "\n".join(report.notes)
        assert "outside mlops/models/" in notes and "RecursionError" in notes
        assert "wrong type: params" in notes
        assert "(KeyError: 'models')" in notes  # partial
        assert "mlops/models/model.skops" in notes
        assert "was not pulled: its record does not fit the store" in notes  # unfit
        assert "a format this version does not load ('\\x1b[2Jwiped')" in str(report)
        assert "\x1b" not in str(report)
        assert sorted(store.runs()["run_id"]) == ["escape", "fine", "pickled"]
        assert store.get_run("fine").params == {"a": 1}
        assert not any(b"not for the store" in store.artifacts.get(sha)
                       for sha in store.artifacts.all_hashes())
        assert not marker.exists()


def test_a_run_claiming_a_local_id_does_not_take_its_place(server: str, tmp_path: Path) -> None:
    """A run on the server tagged with the id of a run this store pushed (anyone writing to
    the server can set the tag, and an old start time makes a pull see it last) does not
    become that run's copy on the server: the next push updates the run it created."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(server, server)
    with open_store(tmp_path / "mine") as store:
        store.start_run("claimed1", name="mine", experiment="claimed", source="x = 1",
                        source_hash="", started_at=time.time())
        store.finish_run("claimed1", RunResult(status="finished", ended_at=time.time()))
        mlops.push(server, "claimed", store=store)
        ours = store.conn.execute("SELECT remote_id FROM sync_ids WHERE local_id = 'claimed1'"
                                  ).fetchone()[0]
        experiment = client.get_experiment_by_name("claimed").experiment_id
        theirs = client.create_run(experiment, start_time=1000, run_name="theirs",
                                   tags={"mlops.run_id": "claimed1"}).info.run_id
        client.set_terminated(theirs)
        mlops.pull(server, "claimed", store=store)
        store.set_tag("claimed1", "reviewed", "yes")
        assert mlops.push(server, "claimed", store=store).counts == {"runs updated": 1}
        assert client.get_run(ours).data.tags.get("reviewed") == "yes"
        assert "reviewed" not in client.get_run(theirs).data.tags


def test_registered_models_with_odd_names_and_tags_do_not_stop_a_pull(server: str,
                                                                       tmp_path: Path) -> None:
    """A registered model whose name is no model name here (a quote in it) is left out with
    a note, and a version whose mlops.created_at tag is not a time gets the version's own
    time: neither fails the pull (both are free text on the server)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(server, server)
    experiment = client.create_experiment("oddly")
    run = client.create_run(experiment, run_name="odd").info.run_id
    client.set_terminated(run)
    for name in ("o'dd", "odd"):
        client.create_registered_model(name)
        client.create_model_version(name, f"runs:/{run}/model", run_id=run,
                                    tags={"mlops.created_at": "yesterday"})
    with open_store(tmp_path / "mine") as store:
        report = mlops.pull(server, "oddly", store=store)
        assert report.counts["model versions pulled"] == 1, str(report)
        assert "model \"o'dd\" was not pulled: invalid model name" in str(report)
        assert versions(store, "odd")[0].created_at > 0


def test_a_server_that_stops_answering_midway_is_said(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from jupyter_mlops.sync import ids, pushing

    _runs_reading_one_dataset(store, "dying", 6, "DYING")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # MLflow's retries: minutes
    with mlflow_server(tmp_path / "dying") as (uri, process):
        # Given a server that dies once the first run is sent
        send = pushing._RunJob.send

        def send_then_die(job: pushing._RunJob, mlflow: object, to: str) -> None:
            send(job, mlflow, to)
            if job.run_id == "01DYING00":
                stop(process, timeout=0, group=True)

        monkeypatch.setattr(pushing._RunJob, "send", send_then_die)
        # When pushed, the push says the server stopped answering, and what to do
        with pytest.raises(SyncError, match="the MLflow tracking server stopped answering "
                           "during the push \\(.*\\); what was done is recorded: push again"):
            mlops.push(uri, store=store)
        # and what was sent is recorded, for the next push to go on from there
        assert ids.pushed_run(store, uri, "01DYING00") is not None


def test_a_param_longer_than_mlflow_takes_is_cut_with_a_note_and_pulled_whole(
        store: Store, server: str, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    # Given a run with a param longer than MLflow's 6,000 characters
    long = "".join(f"{i:05d}," for i in range(1500))  # 9,000 characters
    store.start_run("01LONGPARAM", name="long", experiment="long", source="fit()",
                    source_hash="h", started_at=time.time())
    store.finish_run("01LONGPARAM", RunResult(status="finished", ended_at=time.time(),
                                              params={"layers": long, "lr": 0.1}))
    # When pushed, the server has its first 6,000 characters and the report says so
    report = mlops.push(server, store=store)
    assert report.notes == ["run long (01LONGPARAM): param(s) layers cut to MLflow's 6,000 "
                            "characters; mlops/run.json holds the whole values (a pull "
                            "restores them)"]
    (remote,) = _runs(MlflowClient(server), "long")
    assert remote.data.params == {"layers": long[:6000], "lr": "0.1"}
    # and a teammate's pull has the whole value
    with open_store(tmp_path / "teammate") as theirs:
        mlops.pull(server, "long", store=theirs)
        assert theirs.get_run("01LONGPARAM").params == {"layers": long, "lr": 0.1}


def test_a_servers_tags_this_store_cannot_hold_are_left_out_with_a_note(
        store: Store, server: str) -> None:
    from mlflow.tracking import MlflowClient

    # Given a run logged on the server by MLflow's own client, with tags of every kind
    client = MlflowClient(server)
    experiment = client.create_experiment("foreign-tags")
    run = client.create_run(experiment, tags={
        "team": "fraud", "bad key": "x", "escape": "\x1b[31mred", "lines": "a\nb",
        "long": "y" * 300})
    client.set_terminated(run.info.run_id)
    # When pulled, the store keeps the tags it can hold, and says which it left out
    report = mlops.pull(server, "foreign-tags", store=store)
    (pulled,) = store.runs("foreign-tags").run_id
    assert set(store.get_run(pulled).tags) == {"team", "mlops.origin"}
    (note,) = [n for n in report.notes if "left out" in n]  # (the server's models: theirs)
    assert "4 tag(s) left out ('bad key', 'escape', 'lines', 'long')" in note
    assert "\x1b" not in str(report)


def test_an_alias_this_registry_refuses_is_a_note_not_a_failed_pull(
        store: Store, server: str) -> None:
    from mlflow.tracking import MlflowClient

    # Given a model on the server whose first version has an alias MLflow takes and this
    # registry does not ("_wip" sorts before "production"), and whose second is production
    client = MlflowClient(server, server)
    experiment = client.create_experiment("odd-alias")
    run = client.create_run(experiment)
    client.set_terminated(run.info.run_id)
    client.create_registered_model("oddly")
    for _ in range(2):
        client.create_model_version("oddly", f"runs:/{run.info.run_id}/m",
                                    run_id=run.info.run_id)
    client.set_registered_model_alias("oddly", "_wip", "1")
    client.set_registered_model_alias("oddly", "production", "2")
    # When pulled, that alias is left out with a note, and the rest comes
    report = mlops.pull(server, "odd-alias", store=store)
    assert any(n.startswith("oddly/1: its alias '_wip' was left out: ")
               for n in report.notes), str(report)
    assert sorted((v.ref, v.stage) for v in versions(store, "oddly")) == [
        ("oddly/1", None), ("oddly/2", "production")]


def test_an_error_while_handling_a_network_error_is_not_called_one() -> None:
    import requests

    from jupyter_mlops.sync.remote import said_when_the_server_stops

    @said_when_the_server_stops("pull")
    def broken() -> None:
        raise KeyError("a bug, not the network")

    try:  # as load_model calls pull_model while it handles an error of its own
        raise requests.exceptions.ConnectionError("refused")
    except requests.exceptions.ConnectionError:
        with pytest.raises(KeyError, match="a bug"):
            broken()


def test_a_request_the_server_refuses_is_said() -> None:
    import requests

    from jupyter_mlops.sync.remote import said_when_the_server_stops

    @said_when_the_server_stops("push")
    def upload() -> None:  # as MLflow's artifact upload raises behind a proxy's body limit
        raise requests.exceptions.HTTPError("413 Client Error: Request Entity Too Large")

    with pytest.raises(SyncError, match=r"the MLflow tracking server refused a request of "
                       r"the push \(413 Client Error: Request Entity Too Large\); what was "
                       "done before is recorded"):
        upload()


def test_a_mistyped_setting_creates_no_store(tmp_path: Path) -> None:
    for argv in (["config", "sync.url", "http://x"], ["config", "sync.uri", "not a uri"]):
        assert main(["--store", str(tmp_path / "none"), *argv]) == 2
        assert not (tmp_path / "none").exists()


def test_a_url_that_is_no_tracking_server_is_said_at_once(store_dir: Path, server: str) -> None:
    with pytest.raises(SyncError, match=r"answered HTTP 404 to MLflow's API: check that it is "
                       "an MLflow tracking server and the URI's path; nothing was sent"):
        mlops.push(f"{server}/not/here", store=open_store(store_dir))


def test_files_larger_than_a_pull_takes_are_not_downloaded(
        store: Store, server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.tracking import MlflowClient

    from jupyter_mlops.sync import pulling

    # Given runs whose record, or model file, is larger than a pull takes (bounds made small
    # here: 64 MiB and 4 GiB in use)
    monkeypatch.setattr(pulling, "MAX_RECORD_BYTES", 10_000)
    monkeypatch.setattr(pulling, "MAX_MODEL_BYTES", 10_000)
    client = MlflowClient(server, server)
    experiment = client.create_experiment("large-files")
    model = {"variable": "model", "fingerprint": "model:x", "class_name": "X", "module": "m",
             "format": "skops", "trusted_types": [], "file": "models/model.skops"}
    for name, record, files in [
            ("big-record", {"source": "x" * 20_000}, {}),
            ("big-model", {"source": "x", "models": [model]},
             {"models/model.skops": b"0" * 20_000})]:
        run = client.create_run(experiment, tags={"mlops.run_id": name})
        folder = tmp_path / name / "mlops"
        for path, data in {"run.json": json.dumps(record).encode(), **files}.items():
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            (folder / path).write_bytes(data)
        client.log_artifacts(run.info.run_id, str(folder), "mlops")
        client.set_terminated(run.info.run_id)
    # When pulled, each is left out, by its listed size, before its download
    downloaded: list[str] = []
    download = pulling.download
    monkeypatch.setattr(pulling, "download", lambda repo, path, folder: (
        downloaded.append(path), download(repo, path, folder))[1])
    report = mlops.pull(server, "large-files", store=store)
    notes = "\n".join(report.notes)
    assert "its mlops/run.json is 20014 bytes, more than the 10000 it may hold" in notes
    assert "its mlops/models/model.skops is 20000 bytes, more than the 10000" in notes
    assert downloaded == ["mlops/run.json"]  # big-model's record, not its model
    assert report.counts == {}, str(report)
