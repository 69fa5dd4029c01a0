"""CI reports: JUnit XML (one test case per check, read by every CI system) and a Markdown
summary fit for a pull request comment (checks, metric deltas, drifted columns)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from .checks import Check

STATUS_MARK = {"passed": "✅ passed", "failed": "❌ failed", "skipped": "⏭ skipped"}


def junit_xml(checks: Sequence[Check], *, seconds: float = 0.0) -> str:
    """The checks as a JUnit XML document: one ``testsuite`` per subject, one ``testcase`` per
    check (``failure`` or ``skipped`` with the check's message)."""
    suites = ET.Element("testsuites", name="jupyter-mlops ci", tests=str(len(checks)),
                        failures=str(sum(c.failed for c in checks)), errors="0",
                        time=f"{seconds:.3f}")
    by_subject: dict[str, list[Check]] = {}
    for check in checks:
        by_subject.setdefault(check.subject, []).append(check)
    for number, (subject, cases) in enumerate(by_subject.items()):
        suite = ET.SubElement(
            suites, "testsuite", name=subject, tests=str(len(cases)),
            failures=str(sum(c.failed for c in cases)), errors="0",
            skipped=str(sum(c.status == "skipped" for c in cases)), id=str(number))
        for check in cases:
            case = ET.SubElement(suite, "testcase", name=check.name, classname=subject)
            if check.status == "failed":
                failure = ET.SubElement(case, "failure", message=check.message[:500],
                                        type=check.name)
                failure.text = check.message
            elif check.status == "skipped":
                ET.SubElement(case, "skipped", message=check.message[:500])
            else:
                ET.SubElement(case, "system-out").text = check.message
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(checks: Sequence[Check]) -> list[str]:
    return ["| check | subject | result | detail |", "|---|---|---|---|", *(
        f"| {c.name} | {_cell(c.subject)} | {STATUS_MARK[c.status]} | {_cell(c.message)} |"
        for c in checks)]


def markdown_summary(checks: Sequence[Check]) -> str:
    """A pull-request comment: the verdict, a table of checks, metric deltas, drifted columns
    and links to their figures (when saved)."""
    failed = [c for c in checks if c.failed]
    passed = sum(c.status == "passed" for c in checks)
    verdict = (f"❌ **{len(failed)} check(s) failed**" if failed else "✅ **all checks passed**")
    lines = ["## jupyter-mlops ci", "",
             f"{verdict} · {passed} passed · {len(failed)} failed · "
             f"{sum(c.status == 'skipped' for c in checks)} skipped"]
    if failed:
        lines += ["", *_table(failed)]
    rest = [c for c in checks if not c.failed]
    if rest:  # folded: a pull request comment leads with what failed
        lines += ["", f"<details><summary>{len(rest)} check(s) passed or skipped</summary>", "",
                  *_table(rest), "", "</details>"]
    deltas = [(c.subject, key, old, new) for c in checks
              for key, (old, new) in c.details.get("metric_deltas", {}).items()]
    if deltas:
        lines += ["", "### Metric deltas", "", "| subject | metric | baseline | CI run | Δ |",
                  "|---|---|---:|---:|---:|"]
        lines += [f"| {_cell(s)} | {k} | {old:.4g} | {new:.4g} | {new - old:+.4g} |"
                  for s, k, old, new in deltas]
    drifted = [(c.subject, col) for c in checks for col in c.details.get("drifted_columns", [])]
    if drifted:
        lines += ["", "### Drifted columns", ""]
        lines += [f"- {_cell(s)}: `{col}`" for s, col in drifted]
    figures = [(c.subject, path) for c in checks for path in c.details.get("figures", [])]
    if figures:
        lines += ["", "### Figures", ""]
        lines += [f"- {_cell(s)}: [{Path(p).name}]({p})" for s, p in figures]
    return "\n".join(lines) + "\n"
