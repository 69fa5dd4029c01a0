import * as React from 'react';

import { formatValue } from '../format';
import { sparklinePath } from '../graph';

export interface ISparklineProps {
  /** what the values are, for the accessible label */
  label: string;
  values: number[];
  width?: number;
  height?: number;
}

/** A small line chart of a metric's history; a dot when there is one value. */
export function Sparkline({
  label,
  values,
  width = 72,
  height = 18
}: ISparklineProps): JSX.Element | null {
  if (values.length === 0) {
    return null;
  }
  const d = sparklinePath(values, width, height);
  const description =
    values.length === 1
      ? `${label}: one value, ${formatValue(values[0])}`
      : `${label}: ${values.length} values, from ${formatValue(values[0])} to ` +
        `${formatValue(values[values.length - 1])} (min ${formatValue(
          Math.min(...values)
        )}, max ${formatValue(Math.max(...values))})`;
  const last = d.split(' ').pop()!.slice(1).split(',').map(Number);
  return (
    <svg
      className="jp-mlops-sparkline"
      role="img"
      aria-label={description}
      width={width}
      height={height}
      viewBox={`0 0 ${width} ${height}`}
    >
      <title>{description}</title>
      {values.length > 1 && <path d={d} />}
      <circle cx={last[0]} cy={last[1]} r={2} />
    </svg>
  );
}
