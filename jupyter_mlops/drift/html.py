"""The notebook view of a drift report: one compact, self-contained HTML table.

Layout comes from a style block scoped to the report's class; the verdict colours are inline
too, so they survive sanitizers that drop style blocks (untrusted notebooks, GitHub). No
JavaScript, no stylesheet or font from a CDN.
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .engine import ColumnDrift, DriftReport

STYLE = (
    "<style>"
    ".jupyter-mlops-drift{font-size:0.9em}"
    ".jupyter-mlops-drift table{border-collapse:collapse;margin-top:4px}"
    ".jupyter-mlops-drift th,.jupyter-mlops-drift td{padding:2px 8px;text-align:left;"
    "border-bottom:1px solid #e5e5e5}"
    ".jupyter-mlops-drift .note{color:#555}"
    "</style>"
)
ROW_STYLE = {"drifted": "background:#fde2e1", "untested": "color:#777"}
TEST_TITLES = {"ks": "Kolmogorov–Smirnov p-value", "chi2": "chi-square p-value",
               "z": "two-proportion z-test p-value", "psi": "population stability index",
               "jensenshannon": "Jensen–Shannon distance",
               "wasserstein": "Wasserstein distance / reference std",
               "hellinger": "Hellinger distance"}


def _number(value: float) -> str:
    if math.isnan(value):
        return ""
    if value != 0 and abs(value) < 1e-4:
        return f"{value:.1e}"
    return f"{value:.4g}"


def _share(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.1%}"


def _p_value_cell(column: ColumnDrift) -> str:
    """The p-value compared with the threshold (both tests of the column joined), with each
    test's own p-value on hover."""
    if math.isnan(column.column_p_value):
        return _number(column.p_value)
    title = (f"{column.test} p = {_number(column.p_value) or 'n/a'}; missing-value test p = "
             f"{_number(column.missing_p_value)}")
    return f'<span title="{html.escape(title)}">{_number(column.column_p_value)}</span>'


def _row(column: ColumnDrift) -> str:
    kind = "drifted" if column.drifted else ("untested" if not column.test else "")
    missing = ""
    if column.kind:
        missing = f"{_share(column.nan_share_reference)} → {_share(column.nan_share_current)}"
    cells = [
        f"<b>{html.escape(column.column)}</b>" if column.drifted else html.escape(column.column),
        f'<span title="{html.escape(TEST_TITLES.get(column.test, ""))}">'
        f"{html.escape(column.test)}</span>",
        _number(column.statistic), _p_value_cell(column), _number(column.threshold),
        "drifted" if column.drifted else ("no" if column.kind else ""),
        html.escape(column.kind), missing, html.escape(column.note),
    ]
    opening = f'<tr class="{kind}" style="{ROW_STYLE[kind]}">' if kind else "<tr>"
    return opening + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def report_html(report: DriftReport, summary: str, rule: str) -> str:
    """The report as an HTML fragment: the dataset verdict and its rule, then one row per
    column."""
    colour = "#b3261e" if report.drifted else "#1e7b34"
    headers = ["column", "test", "statistic", "p-value", "threshold", "verdict", "kind",
               "missing (ref → cur)", "note"]
    head = "".join(f"<th>{h}</th>" for h in headers)
    note = f'<div class="note">{html.escape(rule)}</div>'
    if report.note:
        note += f'<div class="note">{html.escape(report.note)}</div>'
    return (
        f'<div class="jupyter-mlops-drift">{STYLE}'
        f'<div style="font-weight:bold;color:{colour};margin-bottom:4px">'
        f"{html.escape(summary)}</div>{note}"
        f"<table><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(_row(c) for c in report.columns)}</tbody></table></div>"
    )
