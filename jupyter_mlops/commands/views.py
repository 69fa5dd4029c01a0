"""Plain-text views of the store, shared by the ``%mlops`` magic and the CLI."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pandas as pd

from ..entities import Run
from ..store import Store
from ..store.listing import BASE_COLUMNS

OUTPUT_LINES = 10  # of a run's stdout/stderr shown by `show`
METRIC_COLUMNS = 4  # metric columns of the runs table unless columns are chosen


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


COMPACT_PARAMS = 3  # differing param columns of the compact runs table


def format_runs(frame: pd.DataFrame, sort: str = "started_at",
                columns: Sequence[str] = (), *, compact: bool = False) -> str:
    """The runs as a terminal table: the sort key's column first, then ``columns`` (default:
    the first metrics by name), and a footer naming the metric and param columns left out.

    ``compact``: one short line per run (``run_id, name, status, started``, the sort key or
    the first two metrics, the first three param columns of ``frame``), for ``%mlops runs``.
    """
    if frame.empty:
        return "no runs yet: put %%track on the first line of a cell to record one"
    metrics = sorted(c for c in frame.columns if c.startswith("metrics."))
    params = sorted(c for c in frame.columns if c.startswith("params."))
    chosen = [sort] if sort.startswith(("metrics.", "params.")) else []
    if columns:
        chosen += [c for c in columns if c not in chosen]
    elif compact:
        chosen += [m for m in metrics if m not in chosen][:2 - len(chosen)]
        chosen += [p for p in params if p not in chosen][:COMPACT_PARAMS]
    else:
        chosen += [m for m in metrics if m not in chosen][:METRIC_COLUMNS - len(chosen)]
    base = ("run_id", "name", "status", "started_at") if compact else BASE_COLUMNS
    view = frame.reindex(columns=[*base, *chosen]).copy()
    view["run_id"] = view["run_id"].str[:10]
    started = view["started_at"].dt.tz_convert(None)
    view["started_at"] = started.dt.strftime("%m-%d %H:%M" if compact else "%Y-%m-%d %H:%M:%S")
    if compact:
        view = view.rename(columns={"started_at": "started"})
    view.columns = [c.removeprefix("metrics.").removeprefix("params." if compact else "")
                    for c in view.columns]
    text = view.to_string(index=False, na_rep="-", float_format=lambda v: f"{v:.4g}",
                          max_colwidth=24 if compact else None)
    hidden_metrics = [m for m in metrics if m not in chosen]
    hidden_params = [p for p in params if p not in chosen]
    if columns or not hidden_metrics and not hidden_params:
        return text
    parts = []
    if hidden_metrics:
        parts.append(f"metrics {', '.join(m.removeprefix('metrics.') for m in hidden_metrics)}")
    if hidden_params:
        names = ", ".join(p.removeprefix("params.") for p in hidden_params[:3])
        more = ", …" if len(hidden_params) > 3 else ""
        parts.append(f"{len(hidden_params)} params ({names}{more})")
    if compact:
        return f"{text}\nnot shown: {'; '.join(parts)}\n(every column: %mlops runs --frame)"
    example = ",".join([*hidden_metrics[:1], *hidden_params[:1]])
    return f"{text}\nnot shown: {'; '.join(parts)}. Pick columns with --columns {example}"


class RunsFrame(pd.DataFrame):
    """The runs DataFrame of ``%mlops runs``: shown as a compact table where output is plain
    text (its ``repr``), as the usual HTML table in a notebook; anything derived from it is
    a plain DataFrame."""

    _metadata = ["sort_key", "note"]
    sort_key: str = "started_at"
    note: str | None = None  # why it is empty when the store has runs

    @property
    def _constructor(self) -> type[pd.DataFrame]:
        return pd.DataFrame

    def __repr__(self) -> str:
        if self.empty and self.note:
            return self.note
        return format_runs(self, self.sort_key, compact=True)


def format_run(run: Run) -> str:
    """Everything about one run, as text."""
    lines = [
        f"run {run.run_id}  {run.name}  [{run.experiment}]  {run.status}",
        f"  started {_when(run.started_at)}  duration "
        f"{'-' if run.duration_s is None else f'{run.duration_s:.3f} s'}",
    ]
    if run.notebook or run.execution_count is not None:
        lines.append(f"  cell [{run.execution_count}] of {run.notebook or 'this kernel'}")
    if run.git:
        lines.append(f"  git {run.git.get('branch')} {str(run.git.get('commit'))[:12]}"
                     f"{' (dirty)' if run.git.get('dirty') else ''}")
    if run.error:
        lines.append(f"  error: {run.error}")
    for title, mapping in (("params", run.params), ("metrics", run.metrics), ("tags", run.tags)):
        if mapping:
            lines.append(f"  {title}:")
            lines += [f"    {k} = {_value(v)}" for k, v in mapping.items()]
    for title, entities in (("inputs", run.inputs), ("outputs", run.outputs)):
        if entities:
            lines.append(f"  {title}:")
            lines += [f"    {e.kind:8} {e.name}  {e.fingerprint[:24]}" for e in entities]
    if run.environment:
        packages = ", ".join(f"{k} {v}" for k, v in run.environment.get("packages", {}).items())
        lines.append(f"  python {run.environment.get('python')}  {packages}")
    for warning in run.warnings:
        lines.append(f"  ⚠ {warning}")
    for title, text in (("output", run.stdout), ("errors", run.stderr)):
        shown = text.splitlines()[-OUTPUT_LINES:]
        if shown:
            more = len(text.splitlines()) - len(shown)
            lines.append(f"  {title}" + (f" (last {len(shown)} lines of {len(shown) + more})"
                                         if more else "") + ":")
            lines += ["    " + line for line in shown]
    lines.append("  source:")
    lines += ["    " + line for line in run.source.splitlines()]
    return "\n".join(lines)


def show_run(store: Store, ref: str) -> str:
    """``show RUN``: which run the reference picked, when it had a choice, then the run."""
    picked = store.resolve_run(ref)
    text = format_run(store.get_run(picked.run_id))
    return f"({picked.note})\n{text}" if picked.note else text


def format_version(version: Any) -> str:
    """One registered model version, as a line (and one more for the gate it passed)."""
    labels = ", ".join(filter(None, [version.stage, *version.aliases])) or "no stage"
    run = f"{version.run_name} ({version.run_id[:10]})" if version.run_name else version.run_id
    line = (f"{version.name}/{version.version} [{labels}] ← run {run}, model "
            f"{version.model_variable}, by {version.created_by}"
            + (f": {version.reason}" if version.reason else ""))
    if version.pending:
        line += (f"\n  moving it to {version.pending['stage']} waits for approval: request "
                 f"{version.pending['request']} (approve REQUEST, reject REQUEST)")
    gate = version.gate
    if not gate:
        return line
    outcome = "passed" if gate["passed"] else "FAILED, overridden with --force"
    conditions = gate.get("verdict") or "; ".join(c["text"] for c in gate["conditions"])
    return f"{line}\n  gate {gate['expression']}: {outcome}" + (
        f" ({conditions})" if conditions else "")


def format_policies(policies: list[Any]) -> str:
    """The approval policies, one line each."""
    if not policies:
        return ("no approval policies: every stage moves without approval (guard one with "
                "`policy set --stage production`)")
    return "\n".join(p.describe() for p in policies)


def format_requests(requests: Sequence[Any], stuck: Sequence[Any] = ()) -> str:
    """Approval requests, one line each (and the reason asked); then the approved moves that
    never finished."""
    lines = [f"{r.describe()}; expires {_when(r.expires_at)}"
             + (f"\n    why: {r.reason}" if r.reason else "") for r in requests]
    lines += [f"{r.describe()} — never finished: approve it again to retry, or reject it"
              for r in stuck]
    return "\n".join(lines) or "no approval requests are waiting"


def format_groups(groups: dict[str, list[str]]) -> str:
    """The approver groups, one line each."""
    if not groups:
        return ("no approver groups (make one with `group set NAME --member USER...`; a policy "
                "names it --approver @NAME)")
    return "\n".join(f"@{name}: {', '.join(members)}" for name, members in groups.items())


def format_models(frame: pd.DataFrame) -> str:
    """The registered model versions, as a table."""
    if frame.empty:
        return "no registered models yet: promote a run with `%mlops promote RUN --name NAME`"
    view = frame.copy()
    view["run_id"] = view["run_id"].str[:10]
    view["created_at"] = view["created_at"].dt.tz_convert(None).dt.strftime("%Y-%m-%d %H:%M")
    return view.fillna("").to_string(index=False)


def format_events(events: list[Any]) -> str:
    """Audit events, newest first."""
    if not events:
        return "the audit log is empty"
    seq = max(len(str(e.seq)) for e in events)
    actor = max(len(str(e.actor)) for e in events)
    action = max(len(e.action) for e in events)
    return "\n".join(
        f"{e.seq:>{seq}} {_when(e.at)} {e.actor!s:{actor}} {e.action:{action}} {e.subject}"
        + (f"  — {e.reason}" if e.reason else "") for e in events)


def format_lineage(store: Store, ref: str) -> str:
    """The runs upstream and downstream of one run, with what links them (and the run it
    was retrained from)."""
    picked = store.resolve_run(ref)
    run = store.get_run(picked.run_id)

    def describe(run_id: str) -> str:
        other = store.get_run(run_id)
        made = ", ".join(f"{e.name}" for e in other.outputs if e.kind != "artifact")
        return f"    {other.run_id[:10]} {other.name} [{other.status}]" + (
            f" → {made}" if made else "")

    lines = [f"({picked.note})"] if picked.note else []
    lines.append(f"lineage of run {run.run_id[:10]} {run.name}")
    ins = ", ".join(f"{e.name}" for e in run.inputs) or "nothing tracked"
    outs = ", ".join(f"{e.name}" for e in run.outputs) or "nothing tracked"
    lines.append(f"  reads {ins}; produces {outs}")
    for title, ids in (("upstream", store.upstream(run.run_id)),
                       ("downstream", store.downstream(run.run_id))):
        lines.append(f"  {title}: {'none' if not ids else ''}")
        lines += [describe(i) for i in ids]
    children = store.retrains(run.run_id)
    for title, ids in (("retrained from (its cells replayed on new data)",
                        [run.parent_run_id] if run.parent_run_id else []),
                       ("retrained as", children)):
        if ids:
            lines.append(f"  {title}:")
            lines += [describe(i) for i in ids]
    if run.code_slice:
        labels = " ".join("[?]" if c.execution_count is None else f"[{c.execution_count}]"
                          for c in run.code_slice)
        where = " (replayed)" if run.parent_run_id else ""
        lines.append(f"  code slice{where}: cells {labels} then this cell")
    return "\n".join(lines)


def _number(value: Any) -> str:
    return "-" if value is None or value != value else f"{value:.4g}"


def format_monitor_history(drift: pd.DataFrame, performance: pd.DataFrame) -> str:
    """One line per stored monitoring batch, oldest first: its verdict, drifted columns,
    alerts and scored metrics (``drift_history`` and ``performance_history`` frames)."""
    lines = []
    for batch, rows in drift.groupby("batch", sort=False):
        first = rows.iloc[0]
        drifted = ", ".join(rows.loc[rows["drifted"], "column"])
        alerts = int(first["alerts"])
        status = "DRIFT" if first["batch_drifted"] else "ALERT" if alerts else "ok"
        line = (f"batch {batch:>4}  {first['at'].tz_convert(None):%Y-%m-%d %H:%M:%S}  "
                f"{status:<5}  {first['share_drifted']:.0%} of columns drifted"
                + (f" ({drifted})" if drifted else "")
                + (f" · {alerts} alert{'s' if alerts > 1 else ''}" if alerts else ""))
        scored = performance[performance["batch"] == batch]
        line += "".join(f" · {m} {_number(c)} (training {_number(t)})" for m, c, t in
                        zip(scored["metric"], scored["current"], scored["training"],
                            strict=True))
        lines.append(line)
    return "\n".join(lines)
