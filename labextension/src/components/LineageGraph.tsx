import * as React from 'react';

import {
  layoutLineage,
  NODE_HEIGHT,
  NODE_WIDTH,
  runIdOf
} from '../graph';
import { truncateMiddle } from '../format';
import { ILineage } from '../tokens';

export interface ILineageGraphProps {
  lineage: ILineage;
  /** open another run's detail */
  onOpenRun(runId: string): void;
}

const KIND_LABEL: Record<string, string> = {
  run: 'run',
  dataset: 'data',
  model: 'model',
  artifact: 'artifact'
};

/**
 * The lineage around a run as a small SVG graph, data flowing downwards: runs are boxes
 * (click or Enter opens them), datasets are pills, models and artifacts are dashed.
 */
export function LineageGraph({
  lineage,
  onOpenRun
}: ILineageGraphProps): JSX.Element {
  const layout = React.useMemo(() => layoutLineage(lineage), [lineage]);
  if (lineage.nodes.length <= 1) {
    return (
      <p className="jp-mlops-muted">
        No lineage yet: this run shares no data with other runs.
      </p>
    );
  }
  return (
    <div className="jp-mlops-lineage">
      <svg
        role="group"
        aria-label="Lineage graph"
        width={layout.width}
        height={layout.height}
        viewBox={`0 0 ${layout.width} ${layout.height}`}
      >
        <defs>
          <marker
            id="jp-mlops-arrow"
            viewBox="0 0 8 8"
            refX="7"
            refY="4"
            markerWidth="6"
            markerHeight="6"
            orient="auto-start-reverse"
          >
            <path d="M0,0 L8,4 L0,8 z" className="jp-mlops-lineage-arrow" />
          </marker>
        </defs>
        {layout.edges.map(e => (
          <path
            key={`${e.source}>${e.target}`}
            d={e.path}
            className="jp-mlops-lineage-edge"
            markerEnd="url(#jp-mlops-arrow)"
          />
        ))}
        {layout.nodes.map(({ node, x, y }) => {
          const runId = runIdOf(node);
          const focus = node.id === `run:${lineage.focus}`;
          const clickable = runId !== null && !focus;
          const status = (node.detail?.status as string) ?? '';
          const title = `${KIND_LABEL[node.kind] ?? node.kind} ${node.names.join(', ')}${
            status ? ` (${status})` : ''
          }`;
          const open = () => clickable && onOpenRun(runId!);
          return (
            <g
              key={node.id}
              className={
                `jp-mlops-lineage-node jp-mlops-kind-${node.kind}` +
                (focus ? ' jp-mod-focus' : '') +
                (clickable ? ' jp-mod-clickable' : '') +
                (status === 'failed' ? ' jp-mod-failed' : '')
              }
              transform={`translate(${x},${y})`}
              role={clickable ? 'button' : 'img'}
              tabIndex={clickable ? 0 : undefined}
              aria-label={clickable ? `Open run ${node.name}` : title}
              aria-current={focus ? 'true' : undefined}
              onClick={open}
              onKeyDown={event => {
                if (event.key === 'Enter' || event.key === ' ') {
                  event.preventDefault();
                  open();
                }
              }}
            >
              <title>{title}</title>
              <rect
                width={NODE_WIDTH}
                height={NODE_HEIGHT}
                rx={node.kind === 'dataset' ? NODE_HEIGHT / 2 : 3}
              />
              <text x={NODE_WIDTH / 2} y={NODE_HEIGHT / 2} dy="0.35em">
                {truncateMiddle(node.name, 13)}
              </text>
            </g>
          );
        })}
      </svg>
    </div>
  );
}
