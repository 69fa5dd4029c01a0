"""Benchmarks of monitoring: a 1,000,000-row batch against a stored profile, and drift over time.

    .venv/bin/python benchmarks/bench_monitor.py           # full figures
    .venv/bin/python benchmarks/bench_monitor.py --quick   # smoke run: small sizes

`mlops.monitor` end to end (resolve the model's stored reference profile, drift of every
column, store the batch and its per-column results) next to what a user would do without a
stored profile: keep the training data and loop `scipy.stats.ks_2samp` over the columns; then
the store query behind the drift-over-time chart after 1,000 batches.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Row, elapsed, median_of, print_header, print_row  # noqa: E402

from jupyter_mlops import open_store  # noqa: E402
from jupyter_mlops.data.fingerprint import fingerprint_data  # noqa: E402
from jupyter_mlops.data.profile import profile_of, schema_of  # noqa: E402
from jupyter_mlops.entities import Entity  # noqa: E402
from jupyter_mlops.lifecycle.monitoring import drift_history, monitor  # noqa: E402
from jupyter_mlops.store import DatasetInfo, RunResult  # noqa: E402


def frame(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(shift, 1.0, size=(rows, 20)),
                        columns=[f"f{i}" for i in range(20)])


def tracked_training_run(directory: Path, train: pd.DataFrame) -> str:
    """A store holding one run that read ``train`` (its profile, not its data)."""
    with open_store(directory) as store:
        fingerprint = fingerprint_data(train)
        store.start_run("01TRAIN", name="train", experiment="bench", source="fit(X_train)",
                        source_hash="h", started_at=time.time())
        store.finish_run("01TRAIN", RunResult(
            status="finished", ended_at=time.time(),
            inputs=[Entity("dataset", "X_train", fingerprint, {"shape": list(train.shape)})],
            datasets=[DatasetInfo(fingerprint, "DataFrame", train.shape, schema_of(train),
                                  profile_of(train))]))
    return "01TRAIN"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rows, batches, reps = (100_000, 100, 2) if args.quick else (1_000_000, 1_000, 5)
    scratch = Path(tempfile.mkdtemp(prefix="bench-monitor-"))
    train, batch = frame(rows, 0), frame(rows, 1, shift=0.05)
    run_id = tracked_training_run(scratch / "store", train)
    store = open_store(scratch / "store")
    print(f"batch {rows:,} x 20 floats against a stored profile; medians of {reps}")
    print_header()
    ours = median_of(lambda: elapsed(lambda: monitor(run_id, batch, store=store)), reps)

    def scipy_loop() -> None:
        for column in train.columns:
            stats.ks_2samp(train[column].to_numpy(), batch[column].to_numpy())

    baseline = median_of(lambda: elapsed(scipy_loop), reps)
    print_row(Row(f"monitor {rows:,} rows (stored)", ours, "scipy ks_2samp loop (raw data)",
                  baseline, "<= 1 s", ours <= 1.0))

    small = frame(500, 2)
    while store.conn.execute("SELECT count(*) FROM monitor_batches").fetchone()[0] < batches:
        monitor(run_id, small, store=store)
    query = median_of(lambda: elapsed(lambda: drift_history(store, "train")), max(reps, 5))
    raw = median_of(lambda: elapsed(lambda: store.conn.execute(
        "SELECT * FROM monitor_columns").fetchall()), max(reps, 5))
    print_row(Row(f"drift over {batches:,} batches (query)", query,
                  "raw sqlite3 SELECT of the rows", raw, "<= 100 ms", query <= 0.1))
    store.close()


if __name__ == "__main__":
    main()
