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
