"""CI settings from ``pyproject.toml``'s ``[tool.jupyter-mlops.ci]`` (command-line options
override them), and the CI workflow files ``--init github|gitlab`` writes.

::

    [tool.jupyter-mlops.ci]
    notebooks = ["notebooks"]            # files or directories of .ipynb
    store = ".mlops"                     # the team's store (default: as the kernel finds it)
    against = "wine@production"          # baseline of model cells (default: the cell's last run)
    gates = ["roc_auc >= 0.9", "champion"]
    retired = ["train.ipynb:3f2a9c1e"]   # cells deleted on purpose (NOTEBOOK.ipynb:CELL_ID)
    bundle = true                        # export and score each model
    [tool.jupyter-mlops.ci.tolerances]
    metrics = {default = 0.01, roc_auc = 0.005}
    reproducibility = 1e-6
    ranges = 0.1
    nulls = 0.05
    drift_share = 0.01
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ..errors import MLOpsError
from ..lifecycle.champion import parse_champion
from ..lifecycle.gates import parse_gate
from ..lifecycle.rollout import parse_rollout
from .baseline import CellKey
from .checks import Tolerances

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SECTION = ("tool", "jupyter-mlops", "ci")
MAX_SETTING_CHARS = 4096  # a setting's string (a path, a gate, a cell)
MAX_SETTING_ITEMS = 1000  # a setting's list (notebooks, gates, retired cells)
_LISTS = ("notebooks", "gates", "retired")
_STRINGS = ("store", "against", "figures")
_FLAGS = ("in_place", "bundle", "verify")


class CIConfigError(MLOpsError, ValueError):
    """The CI settings are wrong (the message names the setting and what it takes)."""


@dataclass(frozen=True)
class CIConfig:
    """What ``jupyter-mlops ci`` runs and how strictly.

    Attributes
    ----------
    notebooks : notebooks, or directories of them (``*.ipynb``, executed outputs left out)
    store : the team's store directory (``None``: found as a kernel finds it)
    in_place : record the CI runs in the team's store itself (default: a throwaway copy)
    against : ``NAME@STAGE``: the baseline of cells that produce a model
    gates : gate expressions every run with metrics must pass; ``champion`` (or
        ``champion(...)``): each model no worse than its baseline's on the same ``--eval`` rows
    retired : cells deleted on purpose, ``NOTEBOOK.ipynb:CELL_ID``: no longer recording them
        is no failure
    bundle : export and score every model (``verify``: also from a fresh virtualenv)
    tolerances : see :class:`Tolerances`
    timeout : seconds a cell may run
    figures : a directory for the drift figures of drifted inputs (HTML, offline), linked
        from the summary (``None``: none written)
    """

    notebooks: list[str] = field(default_factory=lambda: ["notebooks"])
    store: str | None = None
    in_place: bool = False
    against: str | None = None
    gates: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    bundle: bool = True
    verify: bool = False
    tolerances: Tolerances = field(default_factory=Tolerances)
    timeout: int = 600
    figures: str | None = None

    def notebook_paths(self, root: Path) -> list[Path]:
        """The notebooks to run, in order; a named file that does not exist is an error."""
        paths: list[Path] = []
        for name in self.notebooks:
            path = root / name
            if path.is_dir():
                paths += sorted(p for p in path.glob("*.ipynb")
                                if not p.name.endswith(".executed.ipynb"))
            elif path.is_file():
                paths.append(path)
            else:
                raise CIConfigError(f"no notebook or directory {name!r} (from {root}): fix "
                                    "[tool.jupyter-mlops.ci] notebooks or the command line")
        return paths


def load_config(pyproject: Path | None = None, *,
                metric_tolerances: dict[str, float] | None = None,
                also_retired: list[str] | None = None, **overrides: Any) -> CIConfig:
    """The settings of ``pyproject`` (default: none), then ``overrides`` (``None`` values
    keep the file's), ``metric_tolerances`` (merged into the file's per-metric ones) and
    ``also_retired`` (added to the file's retired cells)."""
    settings: dict[str, Any] = {}
    if pyproject is not None and pyproject.is_file():
        try:
            data: Any = tomllib.loads(pyproject.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise CIConfigError(f"{pyproject} is not valid TOML: {exc}") from None
        for key in SECTION:
            data = data.get(key, {}) if isinstance(data, dict) else {}
        if not isinstance(data, dict):
            raise CIConfigError(f"[{'.'.join(SECTION)}] takes a table of settings, not "
                                f"{_short(data)}")
        settings = dict(data)
    settings.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in fields(CIConfig)}
    if unknown := sorted(set(settings) - known):
        raise CIConfigError(f"unknown CI setting(s) {', '.join(unknown)}; known: "
                            f"{', '.join(sorted(known))}")
    if "tolerances" in settings:
        if not isinstance(settings["tolerances"], dict):
            raise CIConfigError("tolerances takes a table ([tool.jupyter-mlops.ci.tolerances]),"
                                f" not {_short(settings['tolerances'])}")
        settings["tolerances"] = _tolerances(settings["tolerances"])
    for key in _LISTS:
        if isinstance(settings.get(key), str):
            settings[key] = [settings[key]]
    _check_types(settings)
    for gate in settings.get("gates", []):
        _check_gate(gate)
    settings["retired"] = [*settings.get("retired", []), *(also_retired or [])]
    for ref in settings["retired"]:
        try:
            CellKey.parse(ref)
        except ValueError as exc:
            raise CIConfigError(f"retired: {exc}") from None
    config = replace(CIConfig(), **settings)
    if metric_tolerances:
        metrics = {**config.tolerances.metrics, **metric_tolerances}
        config = replace(config, tolerances=_tolerances({**asdict(config.tolerances),
                                                         "metrics": metrics}))
    return config


def _check_types(settings: dict[str, Any]) -> None:
    """Raise :class:`CIConfigError` for a setting of the wrong type or size (a string is not
    a flag: ``in_place = "false"`` would be true)."""
    for key, value in settings.items():
        if key in _LISTS and not (isinstance(value, list)
                                  and all(isinstance(v, str) for v in value)):
            raise CIConfigError(f"{key} takes a list of strings, not {_short(value)}")
        if key in _LISTS and len(value) > MAX_SETTING_ITEMS:
            raise CIConfigError(f"{key} has {len(value)} entries; at most {MAX_SETTING_ITEMS}")
        if key in _STRINGS and not isinstance(value, str):
            raise CIConfigError(f"{key} takes a string, not {_short(value)}")
        if key in _FLAGS and not isinstance(value, bool):
            raise CIConfigError(f"{key} takes true or false, not {_short(value)}")
        if key == "timeout" and (isinstance(value, bool) or not isinstance(value, int)
                                 or value <= 0):
            raise CIConfigError(f"timeout takes a whole number of seconds > 0, not "
                                f"{_short(value)}")
        for text in value if key in _LISTS else [value] if key in _STRINGS else []:
            if len(text) > MAX_SETTING_CHARS:
                raise CIConfigError(f"{key} is {len(text)} characters long; at most "
                                    f"{MAX_SETTING_CHARS}")


def _check_gate(gate: str) -> None:
    """Raise :class:`CIConfigError` for a malformed gate, before any notebook runs."""
    try:
        if parse_champion(gate) is None and parse_rollout(gate) is None:
            parse_gate(gate)
    except MLOpsError as exc:
        raise CIConfigError(f"gates: {exc}") from None


def _short(value: Any) -> str:
    """``repr(value)``, cut to a readable length."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _tolerances(values: dict[str, Any]) -> Tolerances:
    known = {f.name for f in fields(Tolerances)}
    if unknown := sorted(set(values) - known):
        raise CIConfigError(f"unknown tolerance(s) {', '.join(unknown)}; known: "
                            f"{', '.join(sorted(known))}")
    metrics = values.get("metrics", {})
    if not isinstance(metrics, dict):
        metrics = {"default": metrics}
    for key, value in [*((f"metrics.{k}", v) for k, v in metrics.items()),
                       *((k, v) for k, v in values.items() if k != "metrics")]:
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            raise CIConfigError(f"tolerance {key} takes a number >= 0, not {value!r}")
    return Tolerances(**{**values, "metrics": {k: float(v) for k, v in metrics.items()}})


GITHUB = """\
name: mlops-ci
on:
  pull_request:
  push:
    branches: [main]
jobs:
  mlops-ci:
    runs-on: ubuntu-latest
    permissions:
      contents: read
      pull-requests: write
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
          cache: pip
      - run: pip install -e ".[test]"
      - name: jupyter-mlops ci
        run: jupyter-mlops ci --junit mlops-ci.xml --summary mlops-ci.md --figures mlops-ci-figures
      - name: upload the summary
        if: always()
        uses: actions/upload-artifact@v4
        with:
          name: mlops-ci
          path: |
            mlops-ci.xml
            mlops-ci.md
            mlops-ci-figures/
      - name: comment on the pull request
        if: always() && github.event_name == 'pull_request'
        env:
          GH_TOKEN: ${{ github.token }}
        run: gh pr comment ${{ github.event.pull_request.number }} --body-file mlops-ci.md
"""

GITLAB = """\
mlops-ci:
  image: python:3.11
  stage: test
  variables:
    PIP_CACHE_DIR: "$CI_PROJECT_DIR/.cache/pip"
  cache:
    paths:
      - .cache/pip
  script:
    - pip install -e ".[test]"
    - jupyter-mlops ci --junit mlops-ci.xml --summary mlops-ci.md --figures mlops-ci-figures
  artifacts:
    when: always
    paths:
      - mlops-ci.md
      - mlops-ci-figures/
    reports:
      junit: mlops-ci.xml
"""

WORKFLOWS = {"github": (".github/workflows/mlops-ci.yml", GITHUB),
             "gitlab": (".gitlab-ci.yml", GITLAB)}


def write_workflow(kind: str, root: Path, *, overwrite: bool = False) -> Path:
    """Write the ``github`` or ``gitlab`` CI workflow under ``root``; returns its path."""
    if kind not in WORKFLOWS:
        raise CIConfigError(f"--init takes {' or '.join(WORKFLOWS)}, not {kind!r}")
    name, text = WORKFLOWS[kind]
    path = root / name
    if path.exists() and not overwrite:
        raise CIConfigError(f"{path} exists: move it aside (or merge the mlops-ci job by hand)")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
