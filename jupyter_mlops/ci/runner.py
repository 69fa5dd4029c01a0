"""``run_ci``: execute the notebooks, pair each CI run with its baseline, check, report."""

from __future__ import annotations

import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..store import Store, find_store_dir, open_store
from .baseline import CellKey, Pairing, missing_cells, pair_runs
from .checks import Check, run_checks
from .config import CIConfig
from .execute import Execution, copy_store, run_notebook
from .report import junit_xml, markdown_summary


@dataclass
class CIResult:
    """What a CI run found.

    Attributes
    ----------
    checks : every check, in the order run
    executions : each notebook's execution (time, runs, error)
    seconds : wall time of the whole CI run
    """

    checks: list[Check] = field(default_factory=list)
    executions: list[Execution] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        """No check failed."""
        return not any(c.failed for c in self.checks)

    def junit(self) -> str:
        """The JUnit XML report."""
        return junit_xml(self.checks, seconds=self.seconds)

    def summary(self) -> str:
        """The Markdown summary."""
        return markdown_summary(self.checks)


def run_ci(config: CIConfig, root: Path | None = None) -> CIResult:
    """Run ``config``'s notebooks (paths relative to ``root``, default the working directory)
    against a throwaway copy of the team's store (the store itself with ``in_place``), and
    check each tracked cell's new run against its baseline."""
    root = root or Path.cwd()
    started = time.time()
    notebooks = config.notebook_paths(root)
    # the project's notebooks: those CI runs and those beside them (where Jupyter puts a
    # copy), so a copy whose original is still there is not taken for it renamed
    present = {path.name for notebook in notebooks
               for path in [notebook, *notebook.parent.glob("*.ipynb")]}
    source = Path(config.store) if config.store else find_store_dir(root)
    with tempfile.TemporaryDirectory(prefix="mlops-ci-store-") as tmp:
        directory = Path(tmp) / "store"  # no store yet: every cell is new
        if config.in_place:
            directory = source
        elif source.exists():
            copy_store(source, directory)
        with open_store(directory) as store:
            result = CIResult()
            for notebook in notebooks:
                before = time.time()
                execution = run_notebook(notebook, store, timeout=config.timeout)
                result.executions.append(execution)
                subject = notebook.name
                result.checks.append(Check(
                    "execution", subject, "failed" if execution.error else "passed",
                    execution.error or f"ran in {execution.seconds:.1f}s, "
                    f"{len(execution.run_ids)} tracked run(s)"))
                pairings = pair_runs(store, execution.run_ids, before, against=config.against,
                                     present=present)
                for pairing in pairings:
                    result.checks += run_checks(store, pairing, config.tolerances,
                                                gates=config.gates, bundle=config.bundle,
                                                verify=config.verify)
                result.checks.append(_recorded_cells(store, execution, pairings, before,
                                                     config.retired))
    if config.figures:
        save_figures(result.checks, Path(config.figures))
    result.seconds = time.time() - started
    return result


def save_figures(checks: list[Check], directory: Path) -> None:
    """Write the figure of each drifted input into ``directory`` (HTML; plotly.js once beside
    them, no CDN) and name the files in the checks' ``figures``."""
    directory.mkdir(parents=True, exist_ok=True)
    for number, check in enumerate(checks):
        for name, report in check.details.get("drift_reports", {}).items():
            slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{check.subject}-{name}").strip("-")
            path = directory / f"{number:03d}-{slug}.html"
            report.figure().write_html(path, include_plotlyjs="directory")
            check.details.setdefault("figures", []).append(str(path))


def _recorded_cells(store: Store, execution: Execution, pairings: list[Pairing],
                    before: float, retired: list[str]) -> Check:
    """``recorded cells``: every cell of the notebook that recorded runs before did again,
    unless ``retired`` (``NOTEBOOK.ipynb:CELL_ID``) says it was deleted on purpose."""
    subject = execution.notebook.name
    if execution.error:
        return Check("recorded cells", subject, "skipped",
                     "the notebook stopped at a raising cell")
    missing = missing_cells(store, execution.notebook, pairings, before)
    gone = {CellKey.parse(ref) for ref in retired}
    left_out = [key for key, _ in missing if key in gone]
    missing = [(key, run_id) for key, run_id in missing if key not in gone]
    if missing:
        return Check("recorded cells", subject, "failed", "no longer recorded: " + "; ".join(
            f"{key.describe()} (last run {run_id[:8]}; "
            + ("still in the notebook: its %%track line removed?)"
               if key.cell in execution.cell_ids else "no longer in the notebook)")
            for key, run_id in missing) + ". Deleted on purpose? Retire it: retired = ["
            + ", ".join(f'"{key.ref}"' for key, _ in missing)
            + "] under [tool.jupyter-mlops.ci], or --retire " + " --retire ".join(
                key.ref for key, _ in missing))
    return Check("recorded cells", subject, "passed",
                 "every cell recorded before was recorded again" + (
                     f" ({len(left_out)} retired: {', '.join(k.ref for k in left_out)})"
                     if left_out else ""))
