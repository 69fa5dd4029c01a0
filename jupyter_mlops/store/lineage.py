"""The lineage graph around a run: runs, datasets, models and artifacts, and their edges.

Read by the lineage chart (through :meth:`Store.lineage`) and the server's REST API. Content
shared by runs is one node (entities are keyed by fingerprint); edges go input → run and
run → output.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..entities import LineageGraph, LineageNode

if TYPE_CHECKING:
    from .store import Store

__all__ = ["LineageGraph", "LineageNode", "lineage"]


def lineage(store: Store, run_ref: str) -> LineageGraph:
    """Build the lineage graph around a run (id, unique prefix or name)."""
    focus = store.resolve_run_id(run_ref)
    ids = [*store.upstream(focus), focus, *store.downstream(focus)]
    runs = [store.get_run(i) for i in ids]
    nodes: dict[str, LineageNode] = {}
    edges: dict[tuple[str, str], None] = {}
    for run in runs:
        node = "run:" + run.run_id
        nodes[node] = LineageNode(node, "run", [run.name], {
            "run_id": run.run_id, "status": run.status, "experiment": run.experiment,
            "started_at": run.started_at, "duration_s": run.duration_s})
        for direction, entities in (("input", run.inputs), ("output", run.outputs)):
            for entity in entities:
                key = entity.fingerprint
                if key not in nodes:
                    nodes[key] = LineageNode(key, entity.kind, [], dict(entity.detail))
                if entity.name not in nodes[key].names:
                    nodes[key].names.append(entity.name)
                edges[(key, node) if direction == "input" else (node, key)] = None
    return LineageGraph(focus, runs, nodes, list(edges))
