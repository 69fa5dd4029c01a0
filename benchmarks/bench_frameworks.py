"""LightGBM or XGBoost beside MLflow in one run: ``%%track`` overhead, bundle export, served
latency.

    .venv/bin/python benchmarks/bench_frameworks.py           # 100k x 50, 200 trees
    .venv/bin/python benchmarks/bench_frameworks.py --quick   # smoke run: small sizes
    .venv/bin/python benchmarks/bench_frameworks.py --framework xgboost

Our figures run here (jupyter-mlops, the framework, IPython); MLflow's run in the Python of
``.venv-mlflow`` (or ``$MLFLOW_PYTHON``, which needs mlflow and the framework), on the same
data, in the same run. The %%track figure is the median of (tracked cell's time - the fit's
time, which the cell measures itself); MLflow's is the median of ``mlflow.<framework>.autolog()``
(its defaults: params, metrics, the model) around the same fit minus the fit alone, run in
alternation. The framework runs on one thread on both sides (``n_jobs=1``) so that fit times
stay steady on a shared machine. Every store lives in a temporary directory
removed at the end. On a loaded machine compare the ratios, not the absolute times.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Row, elapsed, median_of, print_header, print_row, quiet  # noqa: E402
from bench_bundle import request_cpu, serve_latency  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SETUP = """\
import time, numpy as np, pandas as pd, {module} as {alias}
rng = np.random.default_rng(0)
X = pd.DataFrame(rng.normal(size=({rows}, 50)), columns=[f"f{{i}}" for i in range(50)])
y = (X.f0 + X.f1 * X.f2 + rng.normal(size=len(X)) > 0).astype(int)
"""
# One thread: on a shared machine LightGBM's OpenMP threads make fit times vary by seconds.
# The cell times its own fit, so that the overhead is what the cell took beyond it.
FIT = """\
_start = time.perf_counter()
model = {estimator}.fit(X, y)
_fit_s = time.perf_counter() - _start
"""
# What .venv-mlflow measures: prints {"autolog": s, "save_model": s} (medians over reps).
MLFLOW_SIDE = """\
import json, logging, os, sys, tempfile, time, statistics, warnings
warnings.filterwarnings("ignore")
logging.getLogger("mlflow").setLevel(logging.ERROR)
import importlib, mlflow
rows, trees, reps = (int(a) for a in sys.argv[1:4])
flavor = importlib.import_module("mlflow." + sys.argv[4])
exec(SETUP)
scratch = tempfile.mkdtemp(prefix="bench-mlflow-")
mlflow.set_tracking_uri(f"sqlite:///{scratch}/mlflow.db")
mlflow.set_experiment(experiment_id=mlflow.create_experiment(
    "bench", artifact_location=f"file://{scratch}/artifacts"))
def fit():
    return ESTIMATOR(trees).fit(X, y)
def timed(fn):
    start = time.perf_counter(); fn(); return time.perf_counter() - start
fit()
plain, tracked = [], []
for _ in range(reps):
    plain.append(timed(fit))
    flavor.autolog(silent=True)
    def autologged():
        with mlflow.start_run():
            fit()
    tracked.append(timed(autologged))
    flavor.autolog(disable=True)
model = fit()
saves = [timed(lambda i=i: flavor.save_model(model, f"{scratch}/saved-{i}",
                                             input_example=X.head(3)))
         for i in range(reps)]
print(json.dumps({"autolog": statistics.median(t - p for t, p in zip(tracked, plain)),
                  "save_model": statistics.median(saves)}))
import shutil; shutil.rmtree(scratch)
"""
# Each framework: (module, alias, its classifier with n trees on one thread).
FRAMEWORKS = {
    "lightgbm": ("lightgbm", "lgb", "lgb.LGBMClassifier(n_estimators={trees}, n_jobs=1, "
                 "verbose=-1)"),
    "xgboost": ("xgboost", "xgb", "xgb.XGBClassifier(n_estimators={trees}, n_jobs=1)"),
}


def setup(framework: str, rows: int) -> str:
    module, alias, _ = FRAMEWORKS[framework]
    return SETUP.format(rows=rows, module=module, alias=alias)


def mlflow_python(framework: str) -> str | None:
    """A Python with mlflow and the framework, if this checkout has one."""
    for candidate in (os.environ.get("MLFLOW_PYTHON", ""), str(ROOT / ".venv-mlflow/bin/python")):
        if candidate and Path(candidate).exists() and subprocess.run(
                [candidate, "-c", f"import mlflow, {framework}"],
                capture_output=True).returncode == 0:
            return candidate
    return None


def mlflow_figures(framework: str, rows: int, trees: int, reps: int) -> dict[str, float] | None:
    """MLflow's autolog overhead and save_model time, measured in its own environment."""
    python = mlflow_python(framework)
    if python is None:
        print(f"no Python with mlflow and {framework} (.venv-mlflow): MLflow columns skipped")
        return None
    estimator = FRAMEWORKS[framework][2].replace("{trees}", "{}")
    code = (f"SETUP = {setup(framework, rows)!r}\n"
            f"ESTIMATOR = lambda trees: eval({estimator!r}.format(trees))\n" + MLFLOW_SIDE)
    done = subprocess.run([python, "-c", code, str(rows), str(trees), str(reps), framework],
                          capture_output=True, text=True,
                          env={**os.environ, "DO_NOT_TRACK": "1"})
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repetitions")
    parser.add_argument("--framework", choices=sorted(FRAMEWORKS), default="lightgbm")
    args = parser.parse_args()
    framework = args.framework
    rows, trees, reps, requests = (10_000, 50, 3, 200) if args.quick else (100_000, 200, 5, 1000)
    scratch = Path(tempfile.mkdtemp(prefix="bench-frameworks-"))
    os.environ["JUPYTER_MLOPS_STORE"] = str(scratch / "store")
    try:
        from IPython.core.interactiveshell import InteractiveShell

        import jupyter_mlops as mlops

        estimator = FRAMEWORKS[framework][2].format(trees=trees)
        print(f"{estimator} on {rows:,} x 50; medians of {reps}; "
              f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        ip = InteractiveShell.instance()

        def run(cell: str) -> None:
            with quiet():
                result = ip.run_cell(cell)
            result.raise_error()

        run("%load_ext jupyter_mlops")
        run(setup(framework, rows))
        body = FIT.format(estimator=estimator)

        def overhead() -> float:
            return elapsed(lambda: run("%%track lgbm\n" + body)) - float(ip.user_ns["_fit_s"])

        ours_track = median_of(overhead, reps, warmup=1)
        store = mlops.open_store(scratch / "store")
        counter = iter(range(10**6))
        ours_export = median_of(lambda: elapsed(lambda: mlops.export_bundle(
            "lgbm", scratch / f"bundle-{next(counter)}", store=store)), reps)
        baseline = mlflow_figures(framework, rows, trees, reps)
        print_header()
        autolog = baseline["autolog"] if baseline else None
        print_row(Row(f"%%track overhead, {framework} fit", ours_track,
                      f"mlflow.{framework}.autolog() (defaults)", autolog,
                      "<= 30 ms, >= 20x below", ours_track <= 0.030 and (
                          autolog is None or autolog / ours_track >= 20)))
        save = baseline["save_model"] if baseline else None
        print_row(Row("bundle export", ours_export, f"mlflow.{framework}.save_model", save,
                      "<= MLflow", None if save is None else ours_export <= save))
        frame = ip.user_ns["X"].head(200)
        records = json.loads(frame.to_json(orient="records", double_precision=15))
        p50, p99, throughput = serve_latency(scratch / "bundle-0", records, requests)
        print_row(Row("served single-row p50", p50, "-", None, "<= 5 ms", p50 <= 0.005))
        print_row(Row("served single-row p99", p99, "-", None, "(info)"))
        print(f"served batches of 100: {throughput:,.0f} rows/s")
        for batch, count in ((1, requests * 2), (100, max(20, requests // 5))):
            served, alone = request_cpu(scratch / "bundle-0", records, count, batch)
            print(f"CPU per request of {batch} row(s), in-process, request log on: "
                  f"{served * 1e3:.3f} ms; {framework}'s predict alone {alone * 1e3:.3f} ms "
                  f"(load average {os.getloadavg()[0]:.2f})")
        store.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
