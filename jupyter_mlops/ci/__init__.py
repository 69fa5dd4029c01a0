"""CI for notebooks and models (L5): ``jupyter-mlops ci`` re-executes notebooks headless,
compares each tracked cell's new run with its baseline and reports checks (JUnit, Markdown).

Flow: :mod:`.execute` (a throwaway copy of the store, each notebook in a fresh kernel, new
runs tagged ``ci``) → :mod:`.baseline` (each new run's baseline: the same cell's latest non-ci
run, or a model version) → :mod:`.checks` (data contract, model quality, reproducibility,
bundle smoke, raising and missing cells: each a named :class:`.checks.Check`) →
:mod:`.report` (JUnit XML, Markdown summary). :mod:`.config` reads ``[tool.jupyter-mlops.ci]``
and writes CI workflow files; :mod:`.runner` ties them together.

May import everything up to ``lifecycle``; never a front end. nbclient and nbformat only
inside functions (``import jupyter_mlops.ci`` stays light).
"""

from .checks import Check
from .config import CIConfig, load_config, write_workflow
from .runner import CIResult, run_ci

__all__ = ["CIConfig", "CIResult", "Check", "load_config", "run_ci", "write_workflow"]
