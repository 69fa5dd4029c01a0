"""Push and pull against a local MLflow tracking server, beside MLflow's own client logging
the same runs, measured in the same run (issue 12, §3).

    .venv/bin/python benchmarks/bench_sync.py --quick     # smoke run: small sizes
    .venv/bin/python benchmarks/bench_sync.py             # 1,000 runs; a store of 10,000

Needs MLflow's client here (``pip install -e '.[mlflow]'``) and an ``mlflow`` command for the
server (``--mlflow``, default: beside $JUPYTER_MLOPS_MLFLOW_PYTHON, else on PATH). The server
(SQLite backend, local artifacts) and every store live in a temporary directory removed at the
end. Figures: seconds, lower is better; the ratio is how many times faster ours is. Push and
pull are measured ``--reps`` times, each beside its MLflow baselines (interleaved, so that
the load of a shared machine falls on both); the table shows the medians.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Row, elapsed, print_header, print_row, quiet  # noqa: E402

from jupyter_mlops import pull, push  # noqa: E402
from jupyter_mlops.bundle.verify import free_port, wait_until_healthy  # noqa: E402
from jupyter_mlops.store import RunResult, Store, open_store  # noqa: E402

PARAMS, METRICS, STEPS = 10, 10, 100


def _mlflow_command(given: str | None) -> str:
    python = os.environ.get("JUPYTER_MLOPS_MLFLOW_PYTHON")
    found = given or (str(Path(python).with_name("mlflow")) if python else shutil.which("mlflow"))
    if not found:
        sys.exit("no mlflow command: pass --mlflow PATH or set JUPYTER_MLOPS_MLFLOW_PYTHON")
    return found


@contextmanager
def mlflow_server(command: str, root: Path) -> Iterator[str]:
    """A local tracking server (SQLite backend, artifacts under ``root``), stopped after."""
    port = free_port()
    with (root / "server.log").open("wb") as log:
        process = subprocess.Popen(
            [command, "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
             "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
             "--artifacts-destination", str(root / "artifacts")],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "DO_NOT_TRACK": "1",
             # no job runner: it starts seven worker processes that load the CPU for a minute
             "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
        try:
            wait_until_healthy(f"http://127.0.0.1:{port}", process, timeout=300)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(timeout=60)


def fill(store: Store, runs: int, experiment: str, first: int = 0) -> None:
    """``runs`` finished runs of PARAMS params and METRICS metrics × STEPS steps each."""
    now = time.time()
    for i in range(first, first + runs):
        run_id = f"01BENCH{experiment.upper()}{i:08d}"
        store.start_run(run_id, name=f"run{i}", experiment=experiment, source="fit()",
                        source_hash="h", started_at=now + i)
        points = [(f"m{k}", 1.0 / (s + 1), s, now + i) for k in range(METRICS)
                  for s in range(STEPS)]
        store.finish_run(run_id, RunResult(status="finished", ended_at=now + i + 1,
                                           params={f"p{k}": k for k in range(PARAMS)},
                                           metrics=points))


def mlflow_naive(client: object, experiment: str, runs: int) -> None:
    """MLflow's client, one call per param and per metric point."""
    experiment_id = client.create_experiment(experiment)  # type: ignore[attr-defined]
    for i in range(runs):
        run_id = client.create_run(experiment_id, run_name=f"run{i}").info.run_id  # type: ignore[attr-defined]
        for k in range(PARAMS):
            client.log_param(run_id, f"p{k}", k)  # type: ignore[attr-defined]
        for k in range(METRICS):
            for s in range(STEPS):
                client.log_metric(run_id, f"m{k}", 1.0 / (s + 1), step=s)  # type: ignore[attr-defined]
        client.set_terminated(run_id)  # type: ignore[attr-defined]


def mlflow_batched(client: object, experiment: str, runs: int) -> None:
    """MLflow's client with log_batch (at most 1000 entities a call)."""
    mlflow_same_work(client, experiment, runs, None)


def mlflow_same_work(client: object, experiment: str, runs: int, folder: Path | None) -> None:
    """MLflow's client doing what a push does per run: log_batch, then (with ``folder``) the
    run's files (the cell and its record, ~1 kB each, as push uploads them) and its end."""
    from mlflow.entities import Metric, Param

    if folder is not None:
        folder.mkdir()
        (folder / "cell.py").write_text("fit()\n")
        (folder / "run.json").write_text("{" + '"x": 1, ' * 100 + '"y": 2}')
    experiment_id = client.create_experiment(experiment)  # type: ignore[attr-defined]
    now = int(time.time() * 1000)
    for i in range(runs):
        run_id = client.create_run(experiment_id, run_name=f"run{i}").info.run_id  # type: ignore[attr-defined]
        metrics = [Metric(f"m{k}", 1.0 / (s + 1), now, s) for k in range(METRICS)
                   for s in range(STEPS)]
        params = [Param(f"p{k}", str(k)) for k in range(PARAMS)]
        for start in range(0, len(metrics), 990):
            client.log_batch(run_id, metrics=metrics[start:start + 990],  # type: ignore[attr-defined]
                             params=params if start == 0 else [])
        if folder is not None:
            client.log_artifacts(run_id, str(folder), "mlops")  # type: ignore[attr-defined]
        client.set_terminated(run_id)  # type: ignore[attr-defined]


def mlflow_read(client: object, experiment: str) -> None:
    """MLflow's client reading every run of an experiment with its metric histories."""
    exp = client.get_experiment_by_name(experiment)  # type: ignore[attr-defined]
    for run in client.search_runs([exp.experiment_id], max_results=50000):  # type: ignore[attr-defined]
        for key in run.data.metrics:
            client.get_metric_history(run.info.run_id, key)  # type: ignore[attr-defined]


def auto_push_overhead(uri: str, directory: Path, reps: int) -> tuple[float, float]:
    """The ``%%track`` overhead of ``x = 1`` (median, seconds) with the store's ``sync.uri``
    set, each cell's push running in the background meanwhile, and unset."""
    from bench_track import Shell

    from jupyter_mlops import magics
    from jupyter_mlops.store.settings import set_value
    from jupyter_mlops.sync import auto

    os.environ["JUPYTER_MLOPS_STORE"] = str(directory)
    shell = Shell()
    assert magics._state is not None
    off = shell.overhead("x = 1\n", reps)
    set_value(magics._state.store(), "sync.uri", uri)
    on = shell.overhead("x = 1\n", reps)
    auto.wait_all(300)
    return on, off


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--mlflow", help="the mlflow command that runs the server")
    parser.add_argument("--runs", type=int, help="runs pushed and pulled (default 1,000)")
    parser.add_argument("--big", type=int, help="runs in the incremental store (10,000)")
    parser.add_argument("--naive", type=int, help="runs logged point by point, the time "
                        "scaled to --runs (20)")
    parser.add_argument("--reps", type=int, default=3, help="pushes and pulls, each beside "
                        "its MLflow baselines, interleaved; medians are shown (3)")
    args = parser.parse_args()
    reps = args.reps
    runs, naive_runs, big = (20, 2, 200) if args.quick else (1000, 20, 10_000)
    runs, naive_runs, big = args.runs or runs, args.naive or naive_runs, args.big or big
    from mlflow.tracking import MlflowClient

    print(f"load average at start: {os.getloadavg()}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        root = Path(tmp)
        with mlflow_server(_mlflow_command(args.mlflow), root) as uri:
            client = MlflowClient(uri)
            with quiet():  # the server's first requests are slow: warm it up
                mlflow_batched(client, "warm-up", 5)
            print_header()
            ours, batched, same = [], [], []
            for rep in range(reps):  # interleaved: a shared machine's load hits all three
                store = open_store(root / f"store{rep}")
                fill(store, runs, f"pushed{rep}")
                with quiet():  # MLflow prints a link per run
                    ours.append(elapsed(partial(push, uri, store=store)))
                    batched.append(elapsed(partial(mlflow_batched, client, f"batched{rep}",
                                                   runs)))
                    same.append(elapsed(partial(mlflow_same_work, client, f"same{rep}", runs,
                                                root / f"files{rep}")))
            with quiet():
                naive = elapsed(lambda: mlflow_naive(client, "naive", naive_runs)) * runs / \
                    naive_runs
            push_s, batched_s = median(ours), median(batched)
            figure = f"push {runs} runs x ({PARAMS} params, {METRICS}x{STEPS} metrics)"
            print_row(Row(figure, push_s, f"MLflow log_metric loop ({naive_runs} runs, scaled)",
                          naive, ">= 20x", naive / push_s >= 20))
            print_row(Row(figure, push_s, "MLflow log_batch", batched_s, ">= 1x",
                          batched_s / push_s >= 1))
            print_row(Row(figure, push_s, "MLflow log_batch + the files, end", median(same),
                          "(the same requests)", None))
            big_store = open_store(root / "big")
            fill(big_store, big, "big")
            with quiet():
                push(uri, store=big_store)
            fill(big_store, 10, "big", first=big)
            with quiet():
                incremental = elapsed(lambda: push(uri, store=big_store))
            print_row(Row(f"incremental push: 10 new runs in {big:,}", incremental, "", None,
                          "<= 2 s", incremental <= 2))
            pulled, read = [], []
            for rep in range(reps):
                with quiet():
                    pulled.append(elapsed(partial(pull, uri, "pushed0",
                                                  store=open_store(root / f"team{rep}"))))
                read.append(elapsed(partial(mlflow_read, client, "pushed0")))
            pull_s, read_s = median(pulled), median(read)
            print_row(Row(f"pull {runs} runs", pull_s, "MLflow search_runs + metric history",
                          read_s, ">= 1x", read_s / pull_s >= 1))
            on, off = auto_push_overhead(uri, root / "kernel", 5 if args.quick else 20)
            print_row(Row("%%track overhead, `x = 1`, auto-push", on, "the same, no auto-push",
                          off, "<= 5 ms (%%track's target)", on <= 0.005))
    print(f"load average at end: {os.getloadavg()}", file=sys.stderr)


if __name__ == "__main__":
    main()
