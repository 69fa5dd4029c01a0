"""The lineage graph around a run: runs, datasets, models and artifacts, and their edges.

Shared by the lineage chart and the server's REST API. Content shared by runs is one node
(entities are keyed by fingerprint); edges go input → run and run → output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..entities import Run
from .store import Store


@dataclass
class Node:
    """A run (id ``run:<run_id>``) or an entity (id = its fingerprint)."""

    id: str
    kind: str
    names: list[str]
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class LineageGraph:
    """The runs upstream and downstream of ``focus``, with what they read and produced."""

    focus: str
    runs: list[Run]
    nodes: dict[str, Node]
    edges: list[tuple[str, str]]

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form: ``{"focus", "nodes": [...], "edges": [{"source", "target"}]}``."""
        return {"focus": self.focus,
                "nodes": [{"id": n.id, "kind": n.kind, "name": n.names[0], "names": n.names,
                           "detail": n.detail} for n in self.nodes.values()],
                "edges": [{"source": a, "target": b} for a, b in self.edges]}


def lineage(store: Store, run_ref: str) -> LineageGraph:
    """Build the lineage graph around a run (id, unique prefix or name)."""
    focus = store.resolve_run_id(run_ref)
    ids = [*store.upstream(focus), focus, *store.downstream(focus)]
    runs = [store.get_run(i) for i in ids]
    nodes: dict[str, Node] = {}
    edges: dict[tuple[str, str], None] = {}
    for run in runs:
        node = "run:" + run.run_id
        nodes[node] = Node(node, "run", [run.name], {
            "run_id": run.run_id, "status": run.status, "experiment": run.experiment,
            "started_at": run.started_at, "duration_s": run.duration_s})
        for direction, entities in (("input", run.inputs), ("output", run.outputs)):
            for entity in entities:
                key = entity.fingerprint
                if key not in nodes:
                    nodes[key] = Node(key, entity.kind, [], dict(entity.detail))
                if entity.name not in nodes[key].names:
                    nodes[key].names.append(entity.name)
                edges[(key, node) if direction == "input" else (node, key)] = None
    return LineageGraph(focus, runs, nodes, list(edges))
