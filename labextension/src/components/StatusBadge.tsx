import * as React from 'react';

const SYMBOL: Record<string, string> = {
  running: '●',
  finished: '✓',
  failed: '✕',
  interrupted: '■'
};

/** The status of a run: a coloured symbol and word (failed runs stand out). */
export function StatusBadge({ status }: { status: string }): JSX.Element {
  return (
    <span className={`jp-mlops-status jp-mlops-status-${status}`} title={status}>
      <span aria-hidden="true">{SYMBOL[status] ?? '?'}</span>{' '}
      <span className="jp-mlops-status-word">{status}</span>
    </span>
  );
}

/** The status symbol alone, before a run's name in a narrow table. */
export function StatusSymbol({ status }: { status: string }): JSX.Element {
  return (
    <span
      className={`jp-mlops-status-symbol jp-mlops-status-${status}`}
      aria-hidden="true"
      title={status}
    >
      {SYMBOL[status] ?? '?'}
    </span>
  );
}

/** A model version's stage or alias. */
export function StageBadge({
  label,
  alias = false
}: {
  label: string;
  alias?: boolean;
}): JSX.Element {
  return (
    <span
      className={`jp-mlops-badge jp-mlops-stage-${alias ? 'alias' : label}`}
      title={alias ? `alias ${label}` : `stage ${label}`}
    >
      {alias ? `@${label}` : label}
    </span>
  );
}
