"""Benchmarks of start-up: importing the package, loading the extensions, the first tracked cell.

    .venv/bin/python benchmarks/bench_import.py           # full figures (15 fresh processes each)
    .venv/bin/python benchmarks/bench_import.py --quick   # smoke run: 3 processes each

Every figure is measured in fresh Python processes, beyond what numpy and pandas cost (a
notebook has them already): ``import jupyter_mlops``, ``%load_ext jupyter_mlops`` in a fresh
IPython shell, the Jupyter server extension's import, and the overhead of the first ``%%track``
cell of a kernel over the same cell untracked, in an existing store. The extension warms up on
a thread after the cell that loads it, so that first cell is timed twice: after the warm-up
(the user paused; the warm-up's own duration is shown), and straight after the loading cell
(Run All: the cell waits for what is left of it). ``import mlflow`` is measured beside them
with the Python of ``.venv-bench`` or ``.venv-mlflow`` (or ``$MLFLOW_PYTHON``) when one exists.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Row, print_header, print_row  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PRELUDE = "import time, numpy, pandas\nstart = time.perf_counter()\n"
WARM_UP = "jupyter-mlops-warm-up"  # the warm-up thread's name
SHELL = ("from IPython.core.interactiveshell import InteractiveShell\n"
         "shell = InteractiveShell.instance()\n")
WAIT_FOR_WARM_UP = ("import threading\n"
                    "[t.join() for t in threading.enumerate() if t.name == WARM_UP]\n")
PROBES = {
    "import": "import jupyter_mlops\n",
    "load_ext": SHELL + "start = time.perf_counter()\n"
                        "shell.run_line_magic('load_ext', 'jupyter_mlops')\n",
    "server": "import jupyter_server.serverapp\nstart = time.perf_counter()\n"
              "import jupyter_mlops.server\n",
    # from the end of the loading cell to the end of the warm-up thread (off the cell's path)
    "warm_up": SHELL + "shell.run_cell('%load_ext jupyter_mlops\\nx = 1')\n"
                       "start = time.perf_counter()\n" + WAIT_FOR_WARM_UP,
    # the user paused after loading the extension: the warm-up is over
    "first_cell": SHELL + "shell.run_cell('%load_ext jupyter_mlops\\nx = 1')\n"
        + WAIT_FOR_WARM_UP
        + "t = time.perf_counter(); shell.run_cell('y = x + 1'); plain = time.perf_counter() - t\n"
          "start = time.perf_counter() + plain\n"
          "shell.run_cell('%%track first\\ny = x + 1')\n",
    # Run All: the tracked cell comes straight after the loading cell (untracked timing first,
    # without the extension, so that the warm-up does not slow it down)
    "first_cell_now": SHELL + "shell.run_cell('x = 1')\n"
        "t = time.perf_counter(); shell.run_cell('y = x + 1'); plain = time.perf_counter() - t\n"
        "shell.run_cell('%load_ext jupyter_mlops')\n"
        "start = time.perf_counter() + plain\n"
        "shell.run_cell('%%track first\\ny = x + 1')\n",
    "mlflow": "import mlflow\n",
}


def seconds(python: str, probe: str, env: dict[str, str]) -> float:
    """Seconds the probe takes in one fresh process (after numpy and pandas are imported)."""
    code = (PRELUDE + f"WARM_UP = {WARM_UP!r}\n" + PROBES[probe]
            + "print(time.perf_counter() - start)\n")
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, env=env,
                          check=True)
    return float(done.stdout.strip().splitlines()[-1])


def mlflow_python() -> str | None:
    """A Python with mlflow installed, if this checkout has one."""
    candidates = [os.environ.get("MLFLOW_PYTHON", ""),
                  str(ROOT / ".venv-bench/bin/python"), str(ROOT / ".venv-mlflow/bin/python")]
    return next((c for c in candidates if c and Path(c).exists()), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    reps = 3 if args.quick else 15
    with tempfile.TemporaryDirectory(prefix="bench-import-") as scratch:
        env = {**os.environ, "JUPYTER_MLOPS_STORE": str(Path(scratch) / "store"),
               "MLFLOW_TRACKING_URI": f"sqlite:///{scratch}/mlflow.db"}

        def median(python: str, probe: str) -> float:
            return statistics.median(seconds(python, probe, env) for _ in range(reps))

        seconds(sys.executable, "first_cell", env)  # creates the store the others find
        other = mlflow_python()
        baseline = median(other, "mlflow") if other else None
        print(f"{reps} fresh processes per figure; medians; beyond numpy + pandas",
              file=sys.stderr)
        print_header()
        for probe, figure, target in (
                ("import", "import jupyter_mlops", 0.15),
                ("load_ext", "%load_ext jupyter_mlops", 0.15),
                ("server", "server extension import", 0.2),
                ("warm_up", "warm-up, after the loading cell", None),
                ("first_cell", "first tracked cell, warmed up", 0.25),
                ("first_cell_now", "first tracked cell, Run All", 0.25)):
            ours = median(sys.executable, probe)
            print_row(Row(figure, ours, "import mlflow", baseline,
                          f"<= {target * 1e3:.0f} ms" if target else "(off the cell's path)",
                          ours <= target if target else None))


if __name__ == "__main__":
    main()
