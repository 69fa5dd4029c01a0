"""Benchmarks of the REST API behind the sidebar, over real HTTP to a real Jupyter Server.

    .venv-bench/bin/python benchmarks/bench_server.py           # 100,000 runs, 200 requests
    .venv-bench/bin/python benchmarks/bench_server.py --quick   # smoke run

A store of 100,000 runs (10 params, 10 metrics each); p50/p99 over 200 requests on loopback
of: the first page sorted by a metric, a filtered search, the `changes` poll, the column
chooser's keys (whole store and filtered) and a comparison of 20 runs with 50-step loss
curves (table, curves and parallel coordinates as plotly JSON). Next to it,
MLflow's `search_runs` with the same filter and order (on 2,000 runs: logging 100,000 runs
into MLflow takes too long here).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Row, elapsed, median_of, print_header, print_row  # noqa: E402
from bench_track import import_mlflow, populate_mlflow, populate_store  # noqa: E402

from jupyter_mlops.bundle.verify import free_port  # noqa: E402


def start_server(root: Path, store: Path, token: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--no-browser", f"--port={port}",
         "--ip=127.0.0.1", "--allow-root", f"--ServerApp.root_dir={root}",
         f"--IdentityProvider.token={token}"],
        env={**os.environ, "JUPYTER_MLOPS_STORE": str(store)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/jupyter-mlops/api/"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            get(base + "experiments", token)
            return process, base
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError("the Jupyter server did not start")


def add_curves(store_dir: Path, runs: int = 20, steps: int = 50) -> list[str]:
    """A 50-step loss curve for each of the newest ``runs`` runs; returns their ids."""
    from jupyter_mlops import open_store

    with open_store(store_dir) as store:
        ids = [r for (r,) in store.conn.execute(
            "SELECT run_id FROM runs ORDER BY started_at DESC LIMIT ?", [runs])]
        with store.transaction() as conn:
            conn.executemany(
                "INSERT INTO metrics (run_id, key, value, step, timestamp) VALUES (?, ?, ?, ?, ?)",
                [(run_id, "loss", 1.0 / (step + 1 + i), step, 0.0)
                 for i, run_id in enumerate(ids) for step in range(steps)])
    return ids


def get(url: str, token: str) -> object:
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def percentiles(url: str, token: str, requests: int) -> tuple[float, float]:
    for _ in range(5):
        get(url, token)
    times = sorted(elapsed(lambda: get(url, token)) for _ in range(requests))
    return times[len(times) // 2], times[max(0, int(len(times) * 0.99) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    runs, mlflow_runs, requests = (5_000, 100, 30) if args.quick else (100_000, 2_000, 200)
    scratch = Path(tempfile.mkdtemp(prefix="bench-server-"))
    try:
        measure(scratch, runs, mlflow_runs, requests)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def measure(scratch: Path, runs: int, mlflow_runs: int, requests: int) -> None:
    """Fill a store in ``scratch``, serve it, and print the figures."""
    populate_store(scratch / "store", runs)
    compared = add_curves(scratch / "store")
    token = secrets.token_hex(16)
    server, base = start_server(scratch, scratch / "store", token)
    cursor = get(base + "changes", token)["cursor"]  # type: ignore[index]
    print(f"{runs:,} runs; p50/p99 of {requests} requests on loopback")
    print_header()
    try:
        queries = {
            "first page sorted by metrics.m0": "runs?sort=metrics.m0&order=desc&limit=50",
            "filtered search": "runs?experiment=exp-3&status=finished&q=run-1&limit=50",
            "changes poll": f"changes?since={cursor}",
            "column keys, whole store": "keys",
            "column keys, filtered": "keys?experiment=exp-3&status=finished&q=run-1",
            "compare 20 runs, 50-step curves": f"compare?runs={','.join(compared)}",
        }
        results = {name: percentiles(base + path, token, requests)
                   for name, path in queries.items()}
    finally:
        server.terminate()
        server.wait(timeout=20)
    mlflow = import_mlflow(scratch)
    baseline = None
    if mlflow is not None:
        ids = populate_mlflow(mlflow, mlflow_runs)
        baseline = median_of(lambda: elapsed(lambda: mlflow.search_runs(
            [ids[3]], filter_string="attributes.status = 'FINISHED'",
            order_by=["metrics.m0 DESC"], max_results=50)), 5)
    else:
        print("mlflow is not importable: its column is skipped (make bench installs it)")
    targets = {"first page": 0.05, "column keys": 0.05, "compare": 0.3}
    for name, (p50, p99) in results.items():
        limit = next((s for prefix, s in targets.items() if name.startswith(prefix)), None)
        target = f"p50 <= {limit * 1000:.0f} ms" if limit else ""
        print_row(Row(f"{name}, p50", p50, f"MLflow search_runs ({mlflow_runs:,} runs)"
                      if name == "filtered search" else "", baseline
                      if name == "filtered search" else None, target,
                      p50 <= limit if limit else None))
        print_row(Row(f"{name}, p99", p99, "", None))


if __name__ == "__main__":
    main()
