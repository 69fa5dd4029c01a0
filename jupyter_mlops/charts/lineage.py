"""The lineage graph of a run: runs, datasets, models and artifacts as a DAG.

``lineage_graph(source, run_id)`` reads the graph from a :class:`LineageSource` (a
:class:`~jupyter_mlops.store.Store` is one); ``lineage_figure(graph)`` draws a
:class:`~jupyter_mlops.entities.LineageGraph` already in hand.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import plotly.graph_objects as go

from ..entities import LineageGraph, Run


class LineageSource(Protocol):
    """Where the lineage chart reads a run's lineage graph from."""

    def lineage(self, run_ref: str) -> LineageGraph:
        """The graph around a run (id, unique id prefix, name or model reference)."""
        ...


KIND_STYLE = {  # colour and marker symbol of each kind of node
    "run": ("#636efa", "square"),
    "dataset": ("#00cc96", "circle"),
    "model": ("#ef553b", "diamond"),
    "artifact": ("#ab63fa", "triangle-up"),
}


def _describe(detail: dict[str, Any]) -> Iterable[str]:
    for key in ("class", "type", "shape", "size", "path", "media_type", "model"):
        if key in detail:
            yield html.escape(f"{key} {detail[key]}")


def _label(name: str) -> str:
    """A short node label: a path's file name, at most 28 characters."""
    short = re.split(r"[\\/]", name)[-1] or name
    return html.escape(short if len(short) <= 28 else short[:27] + "…")


def _depths(nodes: Sequence[str], preds: dict[str, list[str]],
            succs: dict[str, list[str]]) -> dict[str, int]:
    """Longest-path depth of each node from the sources (Kahn's order).

    The same content produced twice can close a cycle; it is broken at its earliest node.
    """
    pending = {n: len(preds[n]) for n in nodes}
    depth: dict[str, int] = {}
    queue = [n for n in nodes if pending[n] == 0]
    while len(depth) < len(nodes):
        if not queue:
            queue = [next(n for n in nodes if n not in depth)]
        node = queue.pop(0)
        if node in depth:
            continue
        depth[node] = max((depth[p] + 1 for p in preds[node] if p in depth), default=0)
        for succ in succs[node]:
            pending[succ] -= 1
            if pending[succ] == 0 and succ not in depth:
                queue.append(succ)
    return depth


def _heights(nodes: Sequence[str], depth: dict[str, int], preds: dict[str, list[str]],
             rank: dict[str, tuple[int, str]]) -> dict[str, float]:
    """Vertical positions, column by column: each node near the mean of its inputs."""
    y: dict[str, float] = {}

    def place(n: str) -> tuple[float, int, str]:
        above = [y[p] for p in preds[n] if p in y]
        return (-sum(above) / len(above) if above else 0.0, *rank[n])

    for level in sorted(set(depth.values())):
        column = sorted((n for n in nodes if depth[n] == level), key=place)
        for i, n in enumerate(column):
            y[n] = (len(column) - 1) / 2 - i
    return y


def _run_hover(run: Run, focus: bool) -> str:
    started = dt.datetime.fromtimestamp(run.started_at).strftime("%Y-%m-%d %H:%M:%S")
    took = "" if run.duration_s is None else f" · {run.duration_s:.3g} s"
    return (f"<b>run {html.escape(run.name)}</b>{' (this run)' * focus}<br>{run.run_id}<br>"
            f"experiment {html.escape(run.experiment)}<br>status {run.status}<br>"
            f"started {started}{took}")


def lineage_graph(source: LineageSource, run_id: str) -> go.Figure:
    """The lineage DAG around a run, laid out left to right (see :func:`lineage_figure`).

    Raises
    ------
    RunNotFoundError : no such run.
    """
    return lineage_figure(source.lineage(run_id))


def lineage_figure(graph: LineageGraph) -> go.Figure:
    """The lineage DAG of ``graph``, laid out left to right.

    Nodes are the run, every run upstream and downstream of it (``store.upstream`` and
    ``store.downstream``), and the datasets, models and artifacts they read and produced;
    content shared by runs is one node (entities are keyed by fingerprint). Edges go
    input → run and run → output. Columns are topological depths; nodes are coloured by
    kind and their hover text gives names, fingerprints, run status and timing. The run
    itself is drawn larger; failed runs have a red outline.

    Returns
    -------
    plotly.graph_objects.Figure
        One ``Scatter`` trace per kind (``trace.name`` is ``run``, ``dataset``, ``model`` or
        ``artifact``; ``text`` holds the node labels) and one arrow annotation per edge
        (from ``(ax, ay)`` to ``(x, y)``).
    """
    focus, runs, edges = graph.focus, graph.runs, graph.edges
    kinds = {key: node.kind for key, node in graph.nodes.items()}
    names = {key: node.names for key, node in graph.nodes.items()}
    hovers = {key: "<br>".join([key, *_describe(node.detail)])
              for key, node in graph.nodes.items() if node.kind != "run"}
    hovers.update({"run:" + run.run_id: _run_hover(run, run.run_id == focus) for run in runs})
    nodes = list(kinds)
    preds: dict[str, list[str]] = {n: [] for n in nodes}
    succs: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        preds[b].append(a)
        succs[a].append(b)
    depth = _depths(nodes, preds, succs)
    order = list(KIND_STYLE)
    y = _heights(nodes, depth, preds, {n: (order.index(kinds[n]), names[n][0]) for n in nodes})
    failed = {"run:" + run.run_id for run in runs if run.status == "failed"}
    fig = go.Figure()
    for kind, (color, symbol) in KIND_STYLE.items():
        members = [n for n in nodes if kinds[n] == kind]
        if not members:
            continue
        fig.add_trace(go.Scatter(
            x=[depth[n] for n in members], y=[y[n] for n in members], mode="markers+text",
            name=kind, text=[_label(names[n][0]) for n in members], textposition="bottom center",
            hovertext=[hovers[n] if kind == "run" else
                       f"<b>{kind} {html.escape(', '.join(names[n]))}</b><br>{hovers[n]}"
                       for n in members],
            hoverinfo="text",
            marker={"color": color, "symbol": symbol,
                    "size": [26 if n == "run:" + focus else 18 for n in members],
                    "line": {"width": 2, "color": ["#d62728" if n in failed else "white"
                                                   for n in members]}},
        ))
    for a, b in edges:
        fig.add_annotation(x=depth[b], y=y[b], ax=depth[a], ay=y[a], xref="x", yref="y",
                           axref="x", ayref="y", showarrow=True, arrowhead=2, arrowsize=1.2,
                           arrowwidth=1.2, arrowcolor="#8c8c8c", standoff=11, startstandoff=11,
                           text="")
    tallest = max(list(depth.values()).count(level) for level in set(depth.values()))
    focus_run = next(run for run in runs if run.run_id == focus)
    fig.update_xaxes(visible=False, range=[-0.5, max(depth.values()) + 0.5])
    fig.update_yaxes(visible=False, range=[min(y.values()) - 0.7, max(y.values()) + 0.5])
    fig.update_layout(
        title=f"lineage of run {html.escape(focus_run.name)} · {focus[:10]}: {len(runs)} "
              f"run{'s' * (len(runs) > 1)}, {len(nodes) - len(runs)} data, model and artifact "
              "nodes",
        height=max(320, 90 * tallest + 140), hovermode="closest", plot_bgcolor="white",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0},
    )
    return fig
