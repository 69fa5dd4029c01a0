"""Benchmark of `jupyter-mlops ci` (issue 13): the bundled notebooks checked against their demo
store, next to executing them with nbclient alone.

    .venv/bin/python benchmarks/bench_ci.py           # the five notebooks
    .venv/bin/python benchmarks/bench_ci.py --quick   # smoke run: the quickstart only

The demo store is what executing the notebooks once leaves (`make demo`). nbclient alone is
timed twice, before and after `ci`, each against its own fresh store, and averaged, so a
machine whose load changes during the run does not favour either side. `ci` is timed end to
end: the store copy, every notebook in a fresh kernel, the checks (bundle smoke and the
champion gate included) and both reports. Target: at most 1.3x nbclient alone. CPU time (this
process and the kernels it reaped) is printed beside wall time: on a loaded machine it is the
steadier figure.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Row, print_header, print_row, quiet  # noqa: E402

from jupyter_mlops.ci import CIConfig, run_ci  # noqa: E402
from jupyter_mlops.ci.execute import execute_notebook  # noqa: E402
from jupyter_mlops.store.discovery import ENV_VAR  # noqa: E402

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
ALL = ["quickstart.ipynb", "promote_and_deploy.ipynb", "drift_and_performance.ipynb",
       "continuous_training.ipynb", "gradient_boosting.ipynb"]  # what `make demo` runs


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the kernels, and what they ran)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def nbclient_alone(names: list[str], store: Path) -> tuple[float, float]:
    """Wall and CPU seconds to execute the notebooks with nbclient, recording into ``store``."""
    os.environ[ENV_VAR] = str(store)
    try:
        start, cpu = time.perf_counter(), cpu_seconds()
        for name in names:
            execute_notebook(NOTEBOOKS / name)
        return time.perf_counter() - start, cpu_seconds() - cpu
    finally:
        del os.environ[ENV_VAR]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the quickstart only")
    names = ["quickstart.ipynb"] if parser.parse_args().quick else ALL
    with tempfile.TemporaryDirectory(prefix="bench-ci-") as tmp:
        root = Path(tmp)
        with quiet():
            before, cpu_before = nbclient_alone(names, root / "demo")  # the demo store
            start, cpu = time.perf_counter(), cpu_seconds()
            config = CIConfig(notebooks=names, store=str(root / "demo"), gates=["champion"])
            result = run_ci(config, root=NOTEBOOKS)
            result.junit(), result.summary()
            ci, ci_cpu = time.perf_counter() - start, cpu_seconds() - cpu
            after, cpu_after = nbclient_alone(names, root / "again")
    alone, alone_cpu = (before + after) / 2, (cpu_before + cpu_after) / 2
    executing = sum(e.seconds for e in result.executions)
    print(f"{len(names)} notebook(s); nbclient alone {before:.1f}s then {after:.1f}s "
          f"(CPU {cpu_before:.1f}s, {cpu_after:.1f}s); ci {ci:.1f}s (CPU {ci_cpu:.1f}s): "
          f"executing {executing:.1f}s, copying and checking {ci - executing:.1f}s; "
          f"{len(result.checks)} checks, {'all passed' if result.passed else 'SOME FAILED'}")
    print_header()
    print_row(Row("ci on the notebooks, end to end", ci, "nbclient alone (mean of 2)", alone,
                  "<= 1.3x nbclient", ci <= 1.3 * alone))
    print_row(Row("ci, CPU time (kernels included)", ci_cpu, "nbclient alone, CPU (mean of 2)",
                  alone_cpu, "<= 1.3x nbclient", ci_cpu <= 1.3 * alone_cpu))
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
