import * as React from 'react';

/** Two stacked sheets: the copy symbol (inline, so components stay free of JupyterLab). */
export function CopyIcon(): JSX.Element {
  return (
    <svg
      className="jp-mlops-copy-icon"
      aria-hidden="true"
      focusable="false"
      viewBox="0 0 16 16"
      width="12"
      height="12"
    >
      <rect x="5" y="5" width="9" height="9" rx="1" fill="none" stroke="currentColor" />
      <path d="M3 11V3a1 1 0 0 1 1-1h7" fill="none" stroke="currentColor" />
    </svg>
  );
}
