"""Benchmarks of the deployment bundle, next to MLflow on the same model in the same run.

    .venv-bench/bin/python benchmarks/bench_bundle.py           # full figures (a few minutes)
    .venv-bench/bin/python benchmarks/bench_bundle.py --quick   # smoke run: small sizes

A RandomForest (100 trees) is fitted on 100k x 20 inside a real `%%track` cell; then: export
time (ours, with requirements derived from the run, vs `mlflow.sklearn.save_model` with skops
and its default requirement inference, and with explicit requirements), load + predict 1,000
rows (`load_bundle` vs `mlflow.pyfunc.load_model`), and the served model's single-row latency
(p50/p99 over 1,000 requests on loopback) and throughput with batches of 100, and the CPU a
request costs in-process (``Model.predict`` of the JSON body, request log on), beside the
model's own predict of the same rows: CPU time holds on a shared machine where latency does not.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Row, elapsed, median_of, print_header, print_row, quiet  # noqa: E402

import jupyter_mlops as mlops  # noqa: E402
from jupyter_mlops.bundle.verify import free_port, wait_until_healthy  # noqa: E402

CELL = """%%track forest
from sklearn.ensemble import RandomForestClassifier
forest = RandomForestClassifier(n_estimators={trees}, max_depth=12, n_jobs=-1,
                                random_state=0).fit(X, y)
"""


def fitted_run(rows: int, trees: int, store_dir: Path) -> Any:
    """A real IPython shell that tracked one forest fit; returns the shell."""
    os.environ["JUPYTER_MLOPS_STORE"] = str(store_dir)
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    with quiet():
        ip.run_cell("%load_ext jupyter_mlops")
        ip.run_cell(f"import numpy as np, pandas as pd\nrng = np.random.default_rng(0)\n"
                    f"X = pd.DataFrame(rng.normal(size=({rows}, 20)), "
                    f"columns=[f'f{{i}}' for i in range(20)])\n"
                    "y = (X.f0 + X.f1 * X.f2 + rng.normal(size=len(X)) > 0).astype(int)")
        assert ip.run_cell(CELL.format(trees=trees)).success
    return ip


def serve_latency(bundle: Path, rows: list[dict[str, Any]], requests: int,
                  *options: str) -> tuple[float, ...]:
    """(p50, p99) single-row latency in seconds and rows/s with batches of 100, of the
    bundle's ``serve.py`` started with ``options``."""
    port = free_port()
    process = subprocess.Popen([sys.executable, str(bundle / "serve.py"), "--port", str(port),
                                *options], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", process, 60)
        connection = http.client.HTTPConnection("127.0.0.1", port)  # kept alive, as clients do

        def post(payload: Any) -> None:
            connection.request("POST", "/invocations", body=json.dumps(payload),
                               headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            assert response.status == 200

        single = [{"dataframe_records": [rows[i % len(rows)]]} for i in range(requests)]
        for payload in single[:20]:
            post(payload)
        times = sorted(elapsed(lambda p=payload: post(p)) for payload in single)
        batch = {"dataframe_records": rows[:100]}
        batches = max(20, requests // 20)
        total = sum(elapsed(lambda: post(batch)) for _ in range(batches))
    finally:
        process.terminate()
        process.wait(timeout=10)
    return times[len(times) // 2], times[int(len(times) * 0.99) - 1], batches * 100 / total


def request_cpu(bundle: Path, rows: list[dict[str, Any]], requests: int,
                batch: int = 1) -> tuple[float, float]:
    """(CPU seconds per request, CPU seconds of the model's predict alone) over ``requests``
    requests of ``batch`` rows, served in-process by the bundle's ``Model`` with a request log:
    the JSON body is read, checked, scored and logged as the server does it."""
    from jupyter_mlops.bundle import serve

    scratch = Path(tempfile.mkdtemp(prefix="bench-cpu-"))
    try:
        model = serve.Model(bundle, serve.RequestLog(scratch / "requests.jsonl"))
        bodies = [json.dumps({"dataframe_records": [rows[(i * batch + j) % len(rows)]
                                                    for j in range(batch)]}).encode()
                  for i in range(min(requests, 200))]

        def cpu(score: Any, items: list[Any]) -> float:
            for item in items[:20]:
                score(item)
            start = time.process_time()
            for i in range(requests):
                score(items[i % len(items)])
            return (time.process_time() - start) / requests

        features = [model.features(serve.payload_from_body(body, "application/json"))
                    for body in bodies]
        alone = cpu(model.predictor, features)
        served = cpu(lambda body: model.predict(serve.payload_from_body(
            body, "application/json")), bodies)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return served, alone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repetitions")
    args = parser.parse_args()
    rows, trees, reps, requests = (10_000, 20, 2, 100) if args.quick else (100_000, 100, 5, 1000)
    mlflow: Any
    try:
        import mlflow.pyfunc
        import mlflow.sklearn
    except ImportError:
        mlflow = None
        print("mlflow is not importable: MLflow columns are skipped (make bench installs it)")
    os.environ.setdefault("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    scratch = Path(tempfile.mkdtemp(prefix="bench-bundle-"))
    print(f"RandomForest({trees} trees, max_depth=12) on {rows:,} x 20; medians of {reps}")
    ip = fitted_run(rows, trees, scratch / "store")
    store = mlops.open_store(scratch / "store")
    model, X = ip.user_ns["forest"], ip.user_ns["X"]
    requirements = (scratch / "req.txt")
    print_header()

    counter = iter(range(10**6))
    ours_export = median_of(lambda: elapsed(lambda: mlops.export_bundle(
        "forest", scratch / f"ours-{next(counter)}", store=store)), reps)
    baseline = best = None
    if mlflow is not None:
        with quiet():
            baseline = median_of(lambda: elapsed(lambda: mlflow.sklearn.save_model(
                model, str(scratch / f"mlflow-{next(counter)}"), serialization_format="skops",
                skops_trusted_types=["sklearn.tree._tree.Tree"])), max(2, reps // 2))
            requirements.write_text("scikit-learn\nskops\n")
            best = median_of(lambda: elapsed(lambda: mlflow.sklearn.save_model(
                model, str(scratch / f"mlflow-{next(counter)}"), serialization_format="skops",
                skops_trusted_types=["sklearn.tree._tree.Tree"],
                pip_requirements=str(requirements))), reps)
    print_row(Row("export bundle (requirements derived)", ours_export,
                  "mlflow save_model (skops, inferred reqs)", baseline, "<= 0.44 s",
                  ours_export <= 0.44))
    print_row(Row("export bundle (requirements derived)", ours_export,
                  "mlflow save_model (skops, explicit reqs)", best, "faster than MLflow",
                  best is None or ours_export < best))

    bundle = mlops.export_bundle("forest", scratch / "bundle", store=store)
    sample = X.head(1000)
    ours_load = median_of(lambda: elapsed(lambda: mlops.load_bundle(bundle).predict(sample)),
                          reps)
    theirs_load = None
    if mlflow is not None:
        saved = scratch / "mlflow-load"
        mlflow.sklearn.save_model(model, str(saved), serialization_format="skops",
                                  skops_trusted_types=["sklearn.tree._tree.Tree"],
                                  pip_requirements=str(requirements))
        with quiet():
            theirs_load = median_of(lambda: elapsed(
                lambda: mlflow.pyfunc.load_model(str(saved)).predict(sample)), reps)
    print_row(Row("load + predict 1,000 rows", ours_load, "mlflow pyfunc.load_model+predict",
                  theirs_load, "no slower than MLflow",
                  theirs_load is None or ours_load <= theirs_load))

    records = json.loads(X.head(200).to_json(orient="records"))
    p50, p99, throughput = serve_latency(bundle, records, requests)
    print_row(Row(f"served 1 row, p50 of {requests}", p50, "-", None, "p50 <= 5 ms",
                  p50 <= 0.005))
    print_row(Row(f"served 1 row, p99 of {requests}", p99, "-", None))
    print_row(Row("served batches of 100 rows", throughput, "-", None, rate=True))
    print(f"(batches: rows/s; single rows: p50 {p50 * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms)")
    for batch, count in ((1, requests * 2), (100, max(20, requests // 5))):
        served, alone = request_cpu(bundle, records, count, batch)
        print(f"CPU per request of {batch} row(s), in-process, request log on: "
              f"{served * 1e3:.3f} ms; the model's predict alone {alone * 1e3:.3f} ms; our "
              f"handling {(served - alone) * 1e3:.3f} ms ({count:,} requests; load average "
              f"{os.getloadavg()[0]:.2f})")
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
