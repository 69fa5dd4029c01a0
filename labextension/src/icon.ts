import { LabIcon } from '@jupyterlab/ui-components';

/** The sidebar's icon: a small lineage graph (two runs feeding a model). */
const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <circle cx="5" cy="5" r="3"/>
    <circle cx="5" cy="19" r="3"/>
    <rect x="15" y="9" width="7" height="6" rx="1.5"/>
    <path d="M7.4 6.6 14.6 11l-1 1.6L6.4 8.2zM7.4 17.4l7.2-4.4-1-1.6-7.2 4.4z"/>
  </g>
</svg>`;

export const mlopsIcon = new LabIcon({ name: 'jupyter-mlops:sidebar', svgstr: svg });
