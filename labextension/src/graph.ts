/** Geometry of the sidebar's small SVG charts: sparklines and the lineage graph (pure). */
import { ILineage, ILineageNode } from './tokens';

/** The `d` attribute of a sparkline through `values`, in a `width`×`height` box. */
export function sparklinePath(
  values: number[],
  width: number,
  height: number,
  pad = 2
): string {
  const finite = values.filter(v => isFinite(v));
  if (finite.length === 0) {
    return '';
  }
  const min = Math.min(...finite);
  const max = Math.max(...finite);
  const span = max - min;
  const x = (i: number) =>
    finite.length === 1
      ? width / 2
      : pad + (i * (width - 2 * pad)) / (finite.length - 1);
  const y = (v: number) =>
    span === 0 ? height / 2 : height - pad - ((v - min) * (height - 2 * pad)) / span;
  return finite
    .map((v, i) => `${i === 0 ? 'M' : 'L'}${x(i).toFixed(1)},${y(v).toFixed(1)}`)
    .join(' ');
}

export interface IPlacedNode {
  node: ILineageNode;
  x: number;
  y: number;
  layer: number;
}

export interface IPlacedEdge {
  source: string;
  target: string;
  path: string;
}

export interface ILineageLayout {
  nodes: IPlacedNode[];
  edges: IPlacedEdge[];
  width: number;
  height: number;
}

export const NODE_WIDTH = 96;
export const NODE_HEIGHT = 24;
const H_GAP = 10;
const V_GAP = 26;
const MARGIN = 4;

/**
 * Lay the lineage graph out top to bottom: each node one layer below its deepest
 * predecessor (data flows downwards), nodes of a layer ordered by the mean position of
 * their predecessors, each layer centred.
 */
export function layoutLineage(graph: ILineage): ILineageLayout {
  const ids = graph.nodes.map(n => n.id);
  const known = new Set(ids);
  const edges = graph.edges.filter(
    e => known.has(e.source) && known.has(e.target) && e.source !== e.target
  );
  const parents = new Map<string, string[]>(ids.map(id => [id, []]));
  const children = new Map<string, string[]>(ids.map(id => [id, []]));
  for (const e of edges) {
    parents.get(e.target)!.push(e.source);
    children.get(e.source)!.push(e.target);
  }
  // longest path from a source, in topological order (Kahn); nodes on a cycle keep layer 0
  const layer = new Map<string, number>(ids.map(id => [id, 0]));
  const indegree = new Map<string, number>(
    ids.map(id => [id, parents.get(id)!.length])
  );
  const queue = ids.filter(id => indegree.get(id) === 0);
  while (queue.length) {
    const id = queue.shift()!;
    for (const child of children.get(id)!) {
      layer.set(child, Math.max(layer.get(child)!, layer.get(id)! + 1));
      indegree.set(child, indegree.get(child)! - 1);
      if (indegree.get(child) === 0) {
        queue.push(child);
      }
    }
  }
  const depth = Math.max(0, ...layer.values());
  const rows: string[][] = Array.from({ length: depth + 1 }, () => []);
  ids.forEach(id => rows[layer.get(id)!].push(id));
  // order each row by the mean index of the parents in the rows above
  const index = new Map<string, number>();
  rows.forEach((row, r) => {
    if (r > 0) {
      const score = (id: string) => {
        const ps = parents.get(id)!.filter(p => index.has(p));
        return ps.length
          ? ps.reduce((s, p) => s + index.get(p)!, 0) / ps.length
          : Number.MAX_SAFE_INTEGER;
      };
      row.sort((a, b) => score(a) - score(b));
    }
    row.forEach((id, i) => index.set(id, i));
  });
  const widest = Math.max(1, ...rows.map(r => r.length));
  const width = 2 * MARGIN + widest * NODE_WIDTH + (widest - 1) * H_GAP;
  const height = 2 * MARGIN + rows.length * NODE_HEIGHT + (rows.length - 1) * V_GAP;
  const byId = new Map(graph.nodes.map(n => [n.id, n]));
  const placed = new Map<string, IPlacedNode>();
  rows.forEach((row, r) => {
    const rowWidth = row.length * NODE_WIDTH + (row.length - 1) * H_GAP;
    const left = (width - rowWidth) / 2;
    row.forEach((id, i) => {
      placed.set(id, {
        node: byId.get(id)!,
        layer: r,
        x: left + i * (NODE_WIDTH + H_GAP),
        y: MARGIN + r * (NODE_HEIGHT + V_GAP)
      });
    });
  });
  const placedEdges = edges.map(e => {
    const a = placed.get(e.source)!;
    const b = placed.get(e.target)!;
    const x1 = a.x + NODE_WIDTH / 2;
    const y1 = a.y + NODE_HEIGHT;
    const x2 = b.x + NODE_WIDTH / 2;
    const y2 = b.y;
    const mid = (y1 + y2) / 2;
    return {
      source: e.source,
      target: e.target,
      path: `M${x1},${y1} C${x1},${mid} ${x2},${mid} ${x2},${y2}`
    };
  });
  return { nodes: [...placed.values()], edges: placedEdges, width, height };
}

/** The run id of a lineage node (`run:<id>`), or null for data and models. */
export function runIdOf(node: ILineageNode): string | null {
  return node.kind === 'run' && node.id.startsWith('run:') ? node.id.slice(4) : null;
}
