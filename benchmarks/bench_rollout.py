"""Benchmark of shadow serving: what scoring a challenger off the request path costs the
champion's answers, over real HTTP on loopback.

    .venv-bench/bin/python benchmarks/bench_rollout.py           # 1,000 requests per setup
    .venv-bench/bin/python benchmarks/bench_rollout.py --quick   # smoke run

A champion RandomForest (100 trees) and a slower challenger (300 trees) are fitted on 20,000 x
20 inside real `%%track` cells and promoted. Single-row p50/p99 latency and throughput with
batches of 100, each over a kept-alive connection, of: the champion's own bundle (`serve.py`,
what a user serves without a rollout: the baseline), the rollout in canary mode with share 0
(the rollout's routing and logging alone), and the rollout in shadow mode (the challenger
scores every row in a process of its own); the champion bundle alone is measured in rounds
alternating with each rollout's (the median of 5 rounds). Target (issue 14): shadow adds at
most 10 % to the champion's p50. All three log every row (`--log-requests`): a rollout is
only useful with its log, and the champion alone is served with the log monitoring reads.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Row, print_header, print_row, quiet  # noqa: E402
from bench_bundle import serve_latency  # noqa: E402

import jupyter_mlops as mlops  # noqa: E402

DATA = """import numpy as np, pandas as pd
rng = np.random.default_rng(0)
X = pd.DataFrame(rng.normal(size=({rows}, 20)), columns=[f'f{{i}}' for i in range(20)])
y = (X.f0 + X.f1 * X.f2 + rng.normal(size=len(X)) > 0).astype(int)
"""
ROUNDS = 5  # each setup's figures: the median of its rounds'
CELL = """%%track {name}
from sklearn.ensemble import RandomForestClassifier
{name} = RandomForestClassifier(n_estimators={trees}, max_depth=12, random_state=0).fit(X, y)
"""


def median_of(rounds: list[tuple[float, ...]]) -> tuple[float, ...]:
    """Each figure's median over the rounds."""
    return tuple(statistics.median(figures) for figures in zip(*rounds, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few requests")
    args = parser.parse_args()
    rows, requests = (5_000, 200) if args.quick else (20_000, 1000)
    scratch = Path(tempfile.mkdtemp(prefix="bench-rollout-"))
    try:
        os.environ["JUPYTER_MLOPS_STORE"] = str(scratch / "store")
        from IPython.core.interactiveshell import InteractiveShell

        ip = InteractiveShell.instance()
        with quiet():
            ip.run_cell("%load_ext jupyter_mlops")
            assert ip.run_cell(DATA.format(rows=rows)).success
            for name, trees in (("champion", 100), ("challenger", 300)):
                assert ip.run_cell(CELL.format(name=name, trees=trees)).success
        store = mlops.open_store(scratch / "store")
        mlops.promote("champion", name="m", stage="production", reason="bench", verify=False,
                      store=store)
        mlops.promote("challenger", name="m", stage="staging", reason="bench", store=store)
        single = mlops.export_bundle("m@production", scratch / "single", store=store)
        payload = json.loads(ip.user_ns["X"].head(200).to_json(orient="records"))
        print(f"champion RandomForest(100 trees), challenger (300 trees), {rows:,} x 20; "
              f"{requests} single-row requests per setup, in {ROUNDS} alternating rounds")
        print_header()
        for mode, share in (("canary", 0.0), ("shadow", None)):
            rollout = mlops.export_rollout("m@production", "m@staging", scratch / mode,
                                           mode=mode, share=share, store=store)
            # in alternating rounds, each with its server started afresh: the load of a
            # shared machine changes over minutes, and falls on both alike
            alone, rolled = [], []
            for _ in range(ROUNDS):
                alone.append(serve_latency(single, payload, requests // ROUNDS,
                                           "--log-requests", str(scratch / f"alone-{mode}.jsonl")))
                rolled.append(serve_latency(rollout, payload, requests // ROUNDS,
                                            "--log-requests", str(scratch / f"{mode}.jsonl")))
            base_p50, base_p99, base_rate = median_of(alone)
            p50, p99, rate = median_of(rolled)
            label = "shadow rollout" if mode == "shadow" else "canary rollout, share 0"
            print_row(Row(f"{label}: 1 row, p50", p50, "champion bundle alone", base_p50,
                          "≤ 1.10x baseline" if mode == "shadow" else "",
                          p50 <= 1.10 * base_p50 if mode == "shadow" else None))
            print_row(Row(f"{label}: 1 row, p99", p99, "champion bundle alone", base_p99))
            print_row(Row(f"{label}: batches of 100", rate, "champion bundle alone",
                          base_rate, rate=True))
        lines = [json.loads(line) for line in (scratch / "shadow.jsonl").open()]
        rows = [line for line in lines if "_arm" in line]  # not the start and share events
        shadowed = sorted(line["_latency_ms"] for line in rows if line["_arm"] == "challenger")
        answered = sum(1 for line in rows if line["_arm"] == "champion")
        print(f"shadow: the challenger scored {len(shadowed):,} of {answered:,} answered rows "
              f"(p50 {shadowed[len(shadowed) // 2]:.2f} ms per request, off the request path)")
        store.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
