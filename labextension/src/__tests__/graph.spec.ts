import { describe, expect, it } from 'vitest';

import { layoutLineage, runIdOf, sparklinePath } from '../graph';
import { ILineage, ILineageNode } from '../tokens';

const node = (id: string, kind: ILineageNode['kind'] = 'dataset'): ILineageNode => ({
  id,
  kind,
  name: id.replace(/^run:/, ''),
  names: [id],
  detail: {}
});

describe('sparklinePath', () => {
  it('draws a rising series from bottom left to top right', () => {
    const d = sparklinePath([0, 1, 2], 100, 20, 0);
    expect(d).toBe('M0.0,20.0 L50.0,10.0 L100.0,0.0');
  });

  it('draws a flat series at mid height and one value in the middle', () => {
    expect(sparklinePath([3, 3], 10, 20, 0)).toBe('M0.0,10.0 L10.0,10.0');
    expect(sparklinePath([7], 10, 20)).toBe('M5.0,10.0');
  });

  it('skips values that are not finite, and draws nothing for none', () => {
    expect(sparklinePath([NaN, Infinity], 10, 10)).toBe('');
    expect(sparklinePath([1, NaN, 2], 10, 10, 0).split(' ')).toHaveLength(2);
  });
});

describe('layoutLineage', () => {
  // raw -> prep -> clean -> train -> model, and raw -> train directly
  const graph: ILineage = {
    focus: 'TRAIN',
    nodes: [
      node('model:m', 'model'),
      node('run:TRAIN', 'run'),
      node('data:clean'),
      node('run:PREP', 'run'),
      node('data:raw')
    ],
    edges: [
      { source: 'data:raw', target: 'run:PREP' },
      { source: 'run:PREP', target: 'data:clean' },
      { source: 'data:clean', target: 'run:TRAIN' },
      { source: 'data:raw', target: 'run:TRAIN' },
      { source: 'run:TRAIN', target: 'model:m' },
      { source: 'run:TRAIN', target: 'data:unknown' }
    ]
  };

  it('puts each node one layer below its deepest parent', () => {
    const layout = layoutLineage(graph);
    const layer = Object.fromEntries(layout.nodes.map(n => [n.node.id, n.layer]));
    expect(layer).toEqual({
      'data:raw': 0,
      'run:PREP': 1,
      'data:clean': 2,
      'run:TRAIN': 3,
      'model:m': 4
    });
    const y = Object.fromEntries(layout.nodes.map(n => [n.node.id, n.y]));
    expect(y['run:PREP']).toBeLessThan(y['run:TRAIN']);
  });

  it('drops edges to unknown nodes and draws the others inside the box', () => {
    const layout = layoutLineage(graph);
    expect(layout.edges).toHaveLength(5);
    for (const n of layout.nodes) {
      expect(n.x).toBeGreaterThanOrEqual(0);
      expect(n.x).toBeLessThan(layout.width);
      expect(n.y).toBeLessThan(layout.height);
    }
  });

  it('lays out side by side the nodes of one layer, ordered by their parents', () => {
    const wide: ILineage = {
      focus: 'A',
      nodes: [node('run:B', 'run'), node('run:A', 'run'), node('data:a'), node('data:b')],
      edges: [
        { source: 'run:A', target: 'data:a' },
        { source: 'run:B', target: 'data:b' }
      ]
    };
    const layout = layoutLineage(wide);
    const x = Object.fromEntries(layout.nodes.map(n => [n.node.id, n.x]));
    expect(x['run:B']).toBeLessThan(x['run:A']);
    expect(x['data:b']).toBeLessThan(x['data:a']);
  });

  it('survives a cycle', () => {
    const cyclic: ILineage = {
      focus: 'A',
      nodes: [node('a'), node('b')],
      edges: [
        { source: 'a', target: 'b' },
        { source: 'b', target: 'a' }
      ]
    };
    expect(layoutLineage(cyclic).nodes).toHaveLength(2);
  });

  it('knows which nodes are runs', () => {
    expect(runIdOf(node('run:01ABC', 'run'))).toBe('01ABC');
    expect(runIdOf(node('data:x'))).toBeNull();
  });
});
