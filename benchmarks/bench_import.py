"""Benchmarks of start-up: importing the package, loading the extensions, the first tracked cell.

    .venv/bin/python benchmarks/bench_import.py           # full figures (15 fresh processes each)
    .venv/bin/python benchmarks/bench_import.py --quick   # smoke run: 3 processes each
    .venv/bin/python benchmarks/bench_import.py --against ../old-checkout  # before/after

``--against DIR`` runs every probe with another checkout of jupyter-mlops first on the path
too, alternating process by process, and prints both and their ratio: on a loaded machine the
ratio holds where the times do not. Each figure is also given in process CPU time (both
threads), which other processes' load disturbs less than the wall-clock time.

Every figure is measured in fresh Python processes, beyond what numpy and pandas cost (a
notebook has them already): ``import jupyter_mlops``, ``%load_ext jupyter_mlops`` in a fresh
IPython shell, the Jupyter server extension's import, and the overhead of the first ``%%track``
cell of a kernel over the same cell untracked, in an existing store. The extension warms up on
a thread after the cell that loads it, so that first cell is timed twice: after the warm-up
(the user paused; the warm-up's own duration is shown), and straight after the loading cell
(Run All: the cell waits for what is left of it), the latter also for a cell that imports
numpy and pandas (its packages' versions are recorded). ``import mlflow`` is measured beside them
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
START = "start, cpu_start = time.perf_counter(), time.process_time()\n"
PRELUDE = "import time, numpy, pandas\n" + START
WARM_UP = "jupyter-mlops-warm-up"  # the warm-up thread's name
SHELL = ("from IPython.core.interactiveshell import InteractiveShell\n"
         "shell = InteractiveShell.instance()\n")
WAIT_FOR_WARM_UP = ("import threading\n"
                    "[t.join() for t in threading.enumerate() if t.name == WARM_UP]\n")
# the first tracked cell: the same cell untracked is timed first, and taken off
FIRST_CELL = ("t, c = time.perf_counter(), time.process_time(); shell.run_cell(CELL)\n"
              "plain, plain_cpu = time.perf_counter() - t, time.process_time() - c\n"
              "{load}start = time.perf_counter() + plain\n"
              "cpu_start = time.process_time() + plain_cpu\n"
              "shell.run_cell('%%track first\\n' + CELL)\n")
CELLS = {"plain": "y = x + 1",
         "data": "import numpy as np, pandas as pd\ndf = pd.DataFrame({'a': np.arange(10)})\n"
                 "y = int(df.a.sum()) + x"}
PROBES = {
    "import": "import jupyter_mlops\n",
    "load_ext": SHELL + START + "shell.run_line_magic('load_ext', 'jupyter_mlops')\n",
    "server": "import jupyter_server.serverapp\n" + START + "import jupyter_mlops.server\n",
    # from the end of the loading cell to the end of the warm-up thread (off the cell's path)
    "warm_up": SHELL + "shell.run_cell('%load_ext jupyter_mlops\\nx = 1')\n" + START
               + WAIT_FOR_WARM_UP,
    # the user paused after loading the extension: the warm-up is over
    "first_cell": SHELL + "shell.run_cell('%load_ext jupyter_mlops\\nx = 1')\n" + WAIT_FOR_WARM_UP
                  + FIRST_CELL.format(load=""),
    # Run All: the tracked cell comes straight after the loading cell (timed untracked first,
    # without the extension, so that the warm-up does not slow it down)
    "first_cell_now": SHELL + "shell.run_cell('x = 1')\n"
                      + FIRST_CELL.format(load="shell.run_cell('%load_ext jupyter_mlops')\n"),
    "mlflow": "import mlflow\n",
}
FIGURES = (  # probe, cell, figure, target (s)
    ("import", "", "import jupyter_mlops", 0.15),
    ("load_ext", "", "%load_ext jupyter_mlops", 0.15),
    ("server", "", "server extension import", 0.2),
    ("warm_up", "", "warm-up, after the loading cell", None),
    ("first_cell", "plain", "first tracked cell, warmed up", 0.25),
    ("first_cell_now", "plain", "first tracked cell, Run All", 0.25),
    ("first_cell_now", "data", "the same, cell imports numpy+pandas", 0.25),
)


def seconds(python: str, probe: str, env: dict[str, str], cell: str = "",
            path: str | None = None) -> tuple[float, float]:
    """Seconds the probe takes in one fresh process (after numpy and pandas are imported):
    wall-clock and process CPU time. ``path``: the checkout to import jupyter_mlops from."""
    code = (PRELUDE + f"WARM_UP = {WARM_UP!r}\nCELL = {CELLS.get(cell, '')!r}\n"
            + PROBES[probe]
            + "print(time.perf_counter() - start, time.process_time() - cpu_start)\n")
    if path:
        env = {**env, "PYTHONPATH": os.pathsep.join([path, env.get("PYTHONPATH", "")])}
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, env=env,
                          check=True, cwd=path or ROOT)
    wall, cpu = done.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def mlflow_python() -> str | None:
    """A Python with mlflow installed, if this checkout has one."""
    candidates = [os.environ.get("MLFLOW_PYTHON", ""),
                  str(ROOT / ".venv-bench/bin/python"), str(ROOT / ".venv-mlflow/bin/python")]
    return next((c for c in candidates if c and Path(c).exists()), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--against", metavar="DIR",
                        help="another checkout of jupyter-mlops, measured alternately")
    args = parser.parse_args()
    reps = 3 if args.quick else 15
    paths = [str(ROOT)] + ([str(Path(args.against).resolve())] if args.against else [])
    with tempfile.TemporaryDirectory(prefix="bench-import-") as scratch:
        env = {**os.environ, "JUPYTER_MLOPS_STORE": str(Path(scratch) / "store"),
               "MLFLOW_TRACKING_URI": f"sqlite:///{scratch}/mlflow.db"}
        seconds(sys.executable, "first_cell", env, "plain", paths[-1])  # the store to find
        other = mlflow_python()
        baseline = (statistics.median(seconds(other, "mlflow", env)[0] for _ in range(reps))
                    if other else None)
        print(f"{reps} fresh processes per figure; medians; beyond numpy + pandas",
              file=sys.stderr)
        cpu_rows, before_rows = [], []
        print_header()
        for probe, cell, figure, target in FIGURES:
            samples: list[list[tuple[float, float]]] = [[] for _ in paths]
            for _ in range(reps):
                for i, path in enumerate(paths):  # alternately: both see the same load
                    samples[i].append(seconds(sys.executable, probe, env, cell, path))
            wall, cpu = (statistics.median(s[k] for s in samples[0]) for k in (0, 1))
            print_row(Row(figure, wall, "import mlflow", baseline,
                          f"<= {target * 1e3:.0f} ms" if target else "(off the cell's path)",
                          wall <= target if target else None))
            cpu_rows.append(Row(figure, cpu, "", None))
            if args.against:
                before = statistics.median(w for w, _ in samples[1])
                before_cpu = statistics.median(c for _, c in samples[1])
                before_rows += [Row(figure, wall, "before, wall-clock", before),
                                Row(figure, cpu, "before, process CPU", before_cpu)]
        print("\nprocess CPU time (both threads)")
        print_header()
        for row in cpu_rows:
            print_row(row)
        if before_rows:
            print(f"\nbefore: {args.against}, measured alternately (ratio: before / after)")
            print_header()
            for row in before_rows:
                print_row(row)


if __name__ == "__main__":
    main()
