"""Benchmarks of ``%%track`` and the lineage store, each next to MLflow measured in the same run.

    .venv-bench/bin/python benchmarks/bench_track.py           # full figures (a few minutes)
    .venv-bench/bin/python benchmarks/bench_track.py --quick   # smoke run: small sizes, few reps

Every store (ours and MLflow's sqlite backend) lives in a temporary directory that is removed
at the end. Without mlflow installed the MLflow columns are skipped. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits
from ulid import ULID

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Row, elapsed, median_of, print_header, print_row, quiet  # noqa: E402

from jupyter_mlops import open_store  # noqa: E402
from jupyter_mlops.capture import environment  # noqa: E402
from jupyter_mlops.data.fingerprint import fingerprint_data  # noqa: E402
from jupyter_mlops.data.profile import profile_of  # noqa: E402
from jupyter_mlops.store import Store  # noqa: E402
from jupyter_mlops.store.store import to_json  # noqa: E402


@dataclass(frozen=True)
class Sizes:
    """Repetitions and data sizes of one benchmark run."""

    reps: int  # fast figures
    slow_reps: int  # figures that take seconds (MLflow's log_model, from_pandas, listing)
    frame_rows: int  # figure 3
    metric_steps: int  # figure 4, ours and MLflow's log_batch
    mlflow_metric_steps: int  # figure 4, MLflow's log_metric loop
    store_runs: int  # figure 5, ours
    mlflow_runs: int  # figure 5, both tools side by side


FULL = Sizes(reps=30, slow_reps=5, frame_rows=1_000_000, metric_steps=10_000,
             mlflow_metric_steps=500, store_runs=100_000, mlflow_runs=2_000)
QUICK = Sizes(reps=5, slow_reps=2, frame_rows=100_000, metric_steps=2_000,
              mlflow_metric_steps=50, store_runs=2_000, mlflow_runs=100)

FIT_SETUP = """\
import numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
rng = np.random.default_rng(0)
X = pd.DataFrame(rng.normal(size=(10_000, 20)), columns=[f"f{i}" for i in range(20)])
y = (X["f0"] + X["f1"] > 0).astype(int)
"""
FIT_BODY = """\
model = LogisticRegression(max_iter=200)
model.fit(X, y)
acc = accuracy_score(y, model.predict(X))
"""
# What a training cell prints (about 2 KB): stored with every synthetic run, as a real cell's
# output would be, so that listing pays for runs that carry text.
STDOUT = "".join(f"epoch {i:3d}  loss {1 / (i + 1):.6f}  val_loss {1.1 / (i + 1):.6f}\n"
                 for i in range(40))
N_EXPERIMENTS = 10
N_KEYS = 10  # params and metrics per synthetic run
PAGE_EXPERIMENT, PAGE_SORT, PAGE_SIZE = "exp-3", "metrics.m0", 100
PARAM_SORT = "params.p1"


def note(text: str) -> None:
    """Progress and remarks go to stderr, the table to stdout."""
    print(f"· {text}", file=sys.stderr, flush=True)


def load_average() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def import_mlflow(workdir: Path) -> ModuleType | None:
    """mlflow on a fresh sqlite tracking store in ``workdir``, or None when not installed."""
    try:
        import mlflow
    except ImportError:
        return None
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="mlflow")
    mlflow.set_tracking_uri(f"sqlite:///{workdir / 'mlflow.db'}")
    experiment = mlflow.create_experiment(
        "bench", artifact_location=(workdir / "mlflow-artifacts").as_uri()
    )
    mlflow.set_experiment(experiment_id=experiment)
    return mlflow


class Shell:
    """A real IPython shell with the extension loaded.

    ``InteractiveShell.instance()`` is the shell ``IPython.testing.globalipapp`` builds on,
    without that module's import of pytest (not installed in the benchmark environment).
    """

    def __init__(self) -> None:
        from IPython.core.interactiveshell import InteractiveShell

        self.ip = InteractiveShell.instance()
        self.run("%load_ext jupyter_mlops")

    def run(self, cell: str) -> None:
        """Run a cell silently; raise if it failed."""
        with quiet():
            result = self.ip.run_cell(cell)
        result.raise_error()

    def overhead(self, body: str, reps: int, before: Callable[[], None] | None = None) -> float:
        """Median over ``reps`` pairs of (``%%track`` + body) minus body alone, in seconds."""
        tracked = "%%track\n" + body

        def pair() -> float:
            plain = elapsed(lambda: self.run(body))
            if before is not None:
                before()
            return elapsed(lambda: self.run(tracked)) - plain

        return median_of(pair, reps, warmup=2)


def check_last_run(metric: str | None = None, points: int | None = None) -> None:
    """Fail loudly if the tracked cells did not actually record finished runs."""
    with open_store() as store:
        last = store.runs(limit=1).iloc[0]
        assert last["status"] == "finished", last
        run = store.get_run(last["run_id"])
        assert not run.warnings, run.warnings
        if metric is not None:
            assert len(run.metric_history(metric)) == points, (metric, points)


# -- 1. trivial cell ----------------------------------------------------------------------------
def bench_trivial(shell: Shell, mlflow: ModuleType | None, sizes: Sizes) -> None:
    ours = shell.overhead("x = 1\n", sizes.reps)
    check_last_run()
    baseline = None
    if mlflow is not None:
        def mlflow_run() -> None:
            with mlflow.start_run():
                pass

        baseline = median_of(lambda: elapsed(mlflow_run), sizes.reps)
    print_row(Row("1. %%track overhead, `x = 1`", ours, "MLflow start_run() + end", baseline,
                  "<= 5 ms", ours <= 0.005))
    # Cells run more than GIT_TTL_S apart re-run `git status` (cached per kernel for that long):
    # emptying that cache before each tracked cell shows the cost.
    cold = shell.overhead("x = 1\n", sizes.reps, before=environment._git_cache.clear)
    print_row(Row("1b. same, git state not cached", cold, "MLflow start_run() + end", baseline,
                  "(info)"))
    # `git status` runs on a worker thread while the cell runs: a cell of a few ms hides it.
    busy = shell.overhead("s = sum(range(300_000))\n", sizes.reps,
                          before=environment._git_cache.clear)
    print_row(Row("1c. 5 ms cell, git state not cached", busy, "MLflow start_run() + end",
                  baseline, "(info)"))


# -- 2. fitting a model ---------------------------------------------------------------------------
def bench_fit(shell: Shell, mlflow: ModuleType | None, sizes: Sizes) -> None:
    shell.run(FIT_SETUP)
    ours = shell.overhead(FIT_BODY, sizes.reps)
    check_last_run()
    baselines: list[tuple[str, float | None]] = [("MLflow log_model, defaults", None)]
    if mlflow is not None:
        import sklearn
        from mlflow.sklearn import log_model

        model, acc = shell.ip.user_ns["model"], shell.ip.user_ns["acc"]

        def log_run(**kwargs: Any) -> None:
            with mlflow.start_run():
                mlflow.log_params(model.get_params())
                mlflow.log_metric("acc", acc)
                log_model(model, name="model", **kwargs)

        pinned = [f"scikit-learn=={sklearn.__version__}"]
        baselines = [
            ("MLflow log_model, defaults",
             median_of(lambda: elapsed(log_run), sizes.slow_reps)),
            ("MLflow log_model, pip_requirements=[..]",
             median_of(lambda: elapsed(lambda: log_run(pip_requirements=pinned)), sizes.reps)),
        ]
    (name, value), *others = baselines
    ratio_ok = value is None or value / ours >= 20  # unchecked without MLflow
    print_row(Row("2. overhead, LogisticRegression cell", ours, name, value,
                  "<= 20 ms, >= 20x", ours <= 0.020 and ratio_ok))
    for name, value in others:
        print_row(Row("", ours, name, value))


# -- 3. fingerprint and profile -------------------------------------------------------------------
def bench_fingerprint(mlflow: ModuleType | None, sizes: Sizes) -> None:
    rows = sizes.frame_rows
    matrix = np.random.default_rng(0).normal(size=(rows, 20))
    names = [f"f{i}" for i in range(20)]
    # Built from columns, each column is contiguous (as after read_csv/read_parquet) with any
    # pandas; a frame over a 2-D array without a copy is row-major (pandas 2's default).
    frame = pd.DataFrame({name: matrix[:, i].copy() for i, name in enumerate(names)})
    row_major = pd.DataFrame(matrix, columns=names, copy=False)

    def ours(df: pd.DataFrame) -> float:
        return median_of(lambda: elapsed(lambda: (fingerprint_data(df), profile_of(df))),
                         sizes.slow_reps)

    def pandas_fn() -> None:
        pd.util.hash_pandas_object(frame).sum()
        frame.describe()

    figure = f"3. fingerprint + profile {rows:,}x20"
    value = ours(frame)
    print_row(Row(figure, value, "pandas hash_pandas_object + describe",
                  median_of(lambda: elapsed(pandas_fn), sizes.slow_reps), "<= 150 ms",
                  value <= 0.150))
    if mlflow is not None:
        from mlflow.data import from_pandas

        digest = median_of(lambda: elapsed(lambda: from_pandas(frame).digest),
                           sizes.slow_reps)
        print_row(Row("", value, "MLflow from_pandas(df).digest", digest))
    print_row(Row("3b. same, row-major frame (copy=False)", ours(row_major), "", None, "(info)"))


# -- 4. metric logging --------------------------------------------------------------------------
def bench_metrics(shell: Shell, mlflow: ModuleType | None, sizes: Sizes) -> None:
    steps = sizes.metric_steps
    shell.run("import jupyter_mlops as mlops")
    cell = (f"%%track\nfor step in range({steps}):\n"
            "    mlops.log_metric('loss', 1.0 / (step + 1), step=step)\n")
    ours = steps / median_of(lambda: elapsed(lambda: shell.run(cell)), sizes.slow_reps)
    check_last_run("loss", steps)
    row = Row(f"4. log_metric in a cell, {steps:,} steps", ours, "", None, ">= 100,000 pts/s",
              ours >= 100_000, rate=True)
    if mlflow is None:
        print_row(row)
        return
    from mlflow.entities import Metric

    client = mlflow.MlflowClient()

    def loop() -> float:
        with mlflow.start_run():
            return elapsed(lambda: [mlflow.log_metric("loss", 1.0 / (s + 1), step=s)
                                    for s in range(sizes.mlflow_metric_steps)])

    def batch() -> float:
        def log(run_id: str) -> None:
            now = int(time.time() * 1000)
            points = [Metric("loss", 1.0 / (s + 1), now, s) for s in range(steps)]
            for start in range(0, steps, 1000):  # MLflow's limit per log_batch call
                client.log_batch(run_id, metrics=points[start:start + 1000])

        with mlflow.start_run() as run:
            return elapsed(lambda: log(run.info.run_id))

    print_row(Row(row.figure, ours, f"MLflow log_metric loop, {sizes.mlflow_metric_steps} steps",
                  sizes.mlflow_metric_steps / median_of(loop, sizes.slow_reps), row.target,
                  row.passed, rate=True))
    print_row(Row("", ours, f"MLflow log_batch, {steps:,} pts",
                  steps / median_of(batch, sizes.slow_reps), rate=True))


# -- 5. listing runs ----------------------------------------------------------------------------
@dataclass(frozen=True)
class SyntheticRun:
    """One finished run of the listing benchmark."""

    run_id: str
    experiment: int
    name: str
    started_at: float
    duration_s: float
    params: dict[str, Any]
    metrics: dict[str, float]


def synthetic_runs(count: int) -> Iterator[SyntheticRun]:
    """``count`` runs over ``N_EXPERIMENTS`` experiments with ``N_KEYS`` params and metrics."""
    rng = random.Random(0)
    start = time.time() - count * 60.0
    for i in range(count):
        started = start + i * 60.0
        params: dict[str, Any] = {}
        for k in range(N_KEYS):
            params[f"p{k}"] = (rng.randrange(1000) if k % 3 == 0 else
                               round(rng.random(), 6) if k % 3 == 1 else
                               rng.choice(["adam", "sgd", "lbfgs", "saga"]))
        yield SyntheticRun(
            str(ULID.from_timestamp(started)), i % N_EXPERIMENTS, f"run-{i}", started,
            rng.uniform(0.1, 30.0), params, {f"m{k}": rng.random() for k in range(N_KEYS)},
        )


def populate_store(directory: Path, count: int) -> None:
    """Write ``count`` runs straight into a store's tables in one transaction.

    The rows are what :meth:`Store.start_run` + :meth:`Store.finish_run` write for a cell
    with scalar params and metrics, including the ``params_json``/``metrics_json`` summaries.
    """
    with Store(directory) as store:
        conn = store.conn
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO experiments (id, name, created_at) VALUES (?, ?, ?)",
                         [(e + 1, f"exp-{e}", 0.0) for e in range(N_EXPERIMENTS)])
        code_slice = to_json([{"execution_count": 1, "source": FIT_SETUP, "cell_id": None}])
        runs, texts, params, metrics, latest = [], [], [], [], []
        for r in synthetic_runs(count):
            ended = r.started_at + r.duration_s
            runs.append((r.run_id, r.experiment + 1, r.name, "finished", r.started_at, ended,
                         r.duration_s, "0123456789abcdef", "bench.ipynb", 1, "bench",
                         "localhost", to_json(r.params), to_json(r.metrics), ended))
            texts.append((r.run_id, FIT_BODY, code_slice, "[]", STDOUT))
            params += [(r.run_id, k, to_json(v)) for k, v in r.params.items()]
            metrics += [(r.run_id, k, v, 0, ended) for k, v in r.metrics.items()]
            latest += [(r.run_id, k, v, 0) for k, v in r.metrics.items()]
        conn.executemany(
            "INSERT INTO runs (run_id, experiment_id, name, status, started_at, ended_at, "
            "duration_s, source_hash, notebook, execution_count, user, host, params_json, "
            "metrics_json, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", runs)
        conn.executemany("INSERT INTO run_texts (run_id, source, code_slice, warnings, stdout) "
                         "VALUES (?, ?, ?, ?, ?)", texts)
        conn.executemany("INSERT INTO params VALUES (?, ?, ?)", params)
        conn.executemany("INSERT INTO metrics (run_id, key, value, step, timestamp) "
                         "VALUES (?, ?, ?, ?, ?)", metrics)
        conn.executemany("INSERT INTO latest_metrics VALUES (?, ?, ?, ?)", latest)
        conn.commit()


def populate_mlflow(mlflow: ModuleType, count: int) -> list[str]:
    """The same synthetic runs logged into MLflow; returns its experiment ids in order."""
    from mlflow.entities import Metric, Param, RunStatus

    client = mlflow.MlflowClient()
    ids = [client.create_experiment(f"exp-{e}") for e in range(N_EXPERIMENTS)]
    for r in synthetic_runs(count):
        started_ms = int(r.started_at * 1000)
        run = client.create_run(ids[r.experiment], start_time=started_ms, run_name=r.name)
        client.log_batch(
            run.info.run_id,
            metrics=[Metric(k, v, started_ms, 0) for k, v in r.metrics.items()],
            params=[Param(k, str(v)) for k, v in r.params.items()],
        )
        client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.FINISHED),
                              end_time=started_ms + int(r.duration_s * 1000))
    return ids


RAW_ALL = ("SELECT run_id, experiment_id, name, status, started_at, duration_s, params_json, "
           "metrics_json FROM runs")
RAW_PAGE = (
    "SELECT r.run_id, e.name, r.name, r.status, r.started_at, r.duration_s, r.params_json, "
    "r.metrics_json FROM runs r JOIN experiments e ON e.id = r.experiment_id "
    "JOIN latest_metrics m ON m.run_id = r.run_id AND m.key = ? WHERE e.name = ? "
    "ORDER BY m.value DESC LIMIT ?"
)


@dataclass(frozen=True)
class Listing:
    """Medians, in seconds, of listing one store."""

    all_runs: float  # Store.runs()
    page: float  # Store.runs(PAGE_EXPERIMENT, sort=PAGE_SORT, limit=PAGE_SIZE)
    page_any_experiment: float  # the same without the experiment filter
    param_page: float  # Store.runs(sort=PARAM_SORT, limit=PAGE_SIZE)
    raw_all: float  # sqlite3 fetch of the runs table's listed columns
    raw_page: float  # sqlite3 fetch of the page's rows


def listing_times(directory: Path, reps: int) -> Listing:
    """Time listing the store in ``directory`` (and check the listings are complete)."""
    def time_it(fn: Callable[[], object]) -> float:
        return median_of(lambda: elapsed(fn), reps)

    key = PAGE_SORT.partition(".")[2]
    with open_store(directory) as store:
        count = store.count_runs()
        assert len(store.runs()) == count
        assert len(store.runs(PAGE_EXPERIMENT, sort=PAGE_SORT, limit=PAGE_SIZE)) == min(
            PAGE_SIZE, count // N_EXPERIMENTS)
        conn = store.conn
        return Listing(
            all_runs=time_it(store.runs),
            page=time_it(lambda: store.runs(PAGE_EXPERIMENT, sort=PAGE_SORT, limit=PAGE_SIZE)),
            page_any_experiment=time_it(lambda: store.runs(sort=PAGE_SORT, limit=PAGE_SIZE)),
            param_page=time_it(lambda: store.runs(sort=PARAM_SORT, limit=PAGE_SIZE)),
            raw_all=time_it(lambda: conn.execute(RAW_ALL).fetchall()),
            raw_page=time_it(
                lambda: conn.execute(RAW_PAGE, [key, PAGE_EXPERIMENT, PAGE_SIZE]).fetchall()),
        )


def bench_listing(workdir: Path, mlflow: ModuleType | None, sizes: Sizes) -> None:
    n, m = sizes.store_runs, sizes.mlflow_runs
    note(f"writing {n:,} runs into a store")
    populate_store(workdir / "big-store", n)
    big = listing_times(workdir / "big-store", sizes.slow_reps)
    floor = "raw sqlite3 SELECT (floor)"
    print_row(Row(f"5a. Store.runs(), all {n:,} runs", big.all_runs, floor, big.raw_all,
                  "<= 1 s", big.all_runs <= 1.0))
    print_row(Row(f"5b. filtered sorted page, {n:,} runs", big.page, floor, big.raw_page,
                  "<= 30 ms", big.page <= 0.030))
    print_row(Row("5b'. same page, any experiment", big.page_any_experiment, "", None,
                  "(info)"))
    print_row(Row(f"5e. page sorted by {PARAM_SORT}", big.param_page, "", None, "(info)"))

    populate_store(workdir / "small-store", m)
    small = listing_times(workdir / "small-store", sizes.slow_reps)
    mlflow_all = mlflow_page = None
    if mlflow is not None:
        note(f"logging {m:,} runs into MLflow")
        ids = populate_mlflow(mlflow, m)
        experiment = ids[int(PAGE_EXPERIMENT.split("-")[1])]
        mlflow_all = median_of(lambda: elapsed(lambda: mlflow.search_runs(ids)), sizes.slow_reps)
        mlflow_page = median_of(lambda: elapsed(lambda: mlflow.search_runs(
            [experiment], order_by=[f"{PAGE_SORT} DESC"], max_results=PAGE_SIZE)),
            sizes.slow_reps)
    print_row(Row(f"5c. Store.runs(), all {m:,} runs", small.all_runs,
                  "MLflow search_runs, all", mlflow_all))
    print_row(Row(f"5d. filtered sorted page, {m:,} runs", small.page,
                  "MLflow search_runs, same page", mlflow_page))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="small sizes and few repetitions (a smoke run)")
    sizes = QUICK if parser.parse_args().quick else FULL
    with tempfile.TemporaryDirectory(prefix="bench-track-") as tmp:
        workdir = Path(tmp)
        os.environ["JUPYTER_MLOPS_STORE"] = str(workdir / "magic-store")
        os.environ.setdefault("DO_NOT_TRACK", "1")
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        mlflow = import_mlflow(workdir)
        if mlflow is None:
            note("mlflow is not importable: the MLflow comparisons are skipped "
                 "(install it with: pip install 'jupyter-mlops[bench]')")
        else:
            note(f"mlflow {mlflow.__version__} on {mlflow.get_tracking_uri()}")
        threadpool_limits(1)  # multithreaded BLAS on few cores makes the fit vary 10x
        if sizes is QUICK:
            note("--quick: reduced sizes and repetitions; verdicts are indicative only")
        shell = Shell()
        note(f"load average {load_average()} (other work on this machine skews the figures)")
        print_header()
        bench_trivial(shell, mlflow, sizes)
        bench_fit(shell, mlflow, sizes)
        bench_fingerprint(mlflow, sizes)
        bench_metrics(shell, mlflow, sizes)
        bench_listing(workdir, mlflow, sizes)
        note(f"load average at the end {load_average()}")


if __name__ == "__main__":
    main()
