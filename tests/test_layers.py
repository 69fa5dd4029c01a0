"""The architecture's promise: only the L3 adapters import IPython or Jupyter front-ends."""

from __future__ import annotations

import subprocess
import sys

import pytest

FRONT_ENDS = ("IPython", "ipywidgets", "tornado", "jupyter_server", "ipykernel")


@pytest.mark.parametrize("module", [
    "jupyter_mlops", "jupyter_mlops.store", "jupyter_mlops.capture", "jupyter_mlops.report",
    "jupyter_mlops.fingerprint", "jupyter_mlops.profile", "jupyter_mlops.modelio",
    "jupyter_mlops.charts", "jupyter_mlops.promotion", "jupyter_mlops.bundle",
    "jupyter_mlops.drift", "jupyter_mlops.drift_reference", "jupyter_mlops.monitoring",
    "jupyter_mlops.retrain", "jupyter_mlops.watch", "jupyter_mlops.lineage",
])
def test_lower_layers_import_no_front_end(module: str) -> None:
    code = (f"import sys, {module}\n"
            f"print(','.join(m for m in {FRONT_ENDS!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == ""


def test_cli_imports_no_front_end() -> None:
    code = ("import sys\nfrom jupyter_mlops import cli\n"
            f"print(','.join(m for m in {FRONT_ENDS!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == ""


HEAVY = ("scipy.stats", "plotly", "sklearn", "ipywidgets", "skops", "IPython")


def test_import_of_the_package_is_light() -> None:
    """`import jupyter_mlops` loads none of the heavy libraries; each name loads on use."""
    code = ("import sys, jupyter_mlops as m\n"
            f"print(','.join(x for x in {HEAVY!r} if x in sys.modules))\n"
            "import jupyter_mlops.monitoring, jupyter_mlops.retrain, jupyter_mlops.watch\n"
            "print(m.drift.__module__, m.retrain.__module__, m.watch.__module__)\n"
            "print(sorted(m.__all__) == sorted(n for n in dir(m) if n in m.__all__))\n"
            "print(all(getattr(m, n) is not None for n in m.__all__ if n != 'RunBrowser'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    heavy, modules, listed, resolved = done.stdout.splitlines()
    assert heavy == ""
    # a submodule imported first (monitoring imports drift) does not shadow the function
    assert modules == "jupyter_mlops.drift jupyter_mlops.retrain jupyter_mlops.watch"
    assert listed == "True" and resolved == "True"
