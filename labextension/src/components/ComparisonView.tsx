import * as React from 'react';

import { errorMessage } from '../errors';
import { formatValue } from '../format';
import { IComparedRow, IComparison, IMLOpsAPI, IPlotlyFigure } from '../tokens';
import { CopyIcon } from './CopyIcon';
import { StatusBadge } from './StatusBadge';

/**
 * Draws a plotly figure specification into a host element (JupyterLab's plotly renderer in
 * the application); returns a function that removes it.
 */
export type FigureRenderer = (
  figure: IPlotlyFigure,
  host: HTMLElement
) => Promise<() => void>;

export interface IComparisonViewProps {
  api: IMLOpsAPI;
  runIds: string[];
  renderFigure: FigureRenderer;
  onOpenRun: (runId: string) => void;
  onCopy: (text: string) => void;
}

function figureTitle(figure: IPlotlyFigure, fallback: string): string {
  const title = figure.layout?.title as { text?: string } | string | undefined;
  return (typeof title === 'string' ? title : title?.text) || fallback;
}

/** One plotly figure, drawn by the renderer once the host is in the page. */
function Figure({
  figure,
  label,
  render
}: {
  figure: IPlotlyFigure;
  label: string;
  render: FigureRenderer;
}): JSX.Element {
  const host = React.useRef<HTMLDivElement>(null);
  const [error, setError] = React.useState<string | null>(null);
  // a layout effect: its cleanup runs while the host is still in the page, so the renderer
  // (a Lumino widget) can detach itself
  React.useLayoutEffect(() => {
    let dispose: (() => void) | null = null;
    let gone = false;
    render(figure, host.current!)
      .then(remove => {
        if (gone) {
          remove();
        } else {
          dispose = remove;
        }
      })
      .catch(e => setError(errorMessage(e)));
    return () => {
      gone = true;
      dispose?.();
    };
  }, [figure]);
  return (
    <figure className="jp-mlops-figure" role="figure" aria-label={label}>
      {error && (
        <p className="jp-mlops-error" role="alert">
          {error}
        </p>
      )}
      <div className="jp-mlops-figure-host" ref={host} />
    </figure>
  );
}

/** Rows of a key per run; differing rows marked, identical ones folded away. */
function ComparedTable({
  caption,
  rows,
  runs,
  foldIdentical
}: {
  caption: string;
  rows: IComparedRow[];
  runs: IComparison['runs'];
  foldIdentical: boolean;
}): JSX.Element {
  const [showAll, setShowAll] = React.useState(false);
  const identical = rows.filter(r => !r.differs).length;
  const shown = foldIdentical && !showAll ? rows.filter(r => r.differs) : rows;
  return (
    <section className="jp-mlops-compare-section" aria-label={caption}>
      <h3>{caption}</h3>
      {rows.length === 0 ? (
        <p className="jp-mlops-muted">None recorded.</p>
      ) : (
        <div
          className="jp-mlops-compare-scroll"
          tabIndex={0}
          role="group"
          aria-label={`${caption} by run (scrolls sideways)`}
        >
          <table className="jp-mlops-table jp-mlops-compare-table" aria-label={caption}>
            <thead>
              <tr>
                <th scope="col">Key</th>
                {runs.map(run => (
                  <th scope="col" key={run.run_id} title={run.label}>
                    {run.name}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {shown.map(row => (
                <tr
                  key={row.key}
                  className={row.differs ? 'jp-mod-differs' : 'jp-mod-same'}
                  aria-label={`${row.key}${row.differs ? ', differs' : ', same in every run'}`}
                >
                  <th scope="row" title={row.key}>
                    {row.differs && (
                      <span className="jp-mlops-differs-mark" aria-hidden="true">
                        ≠{' '}
                      </span>
                    )}
                    {row.key}
                  </th>
                  {row.values.map((value, i) => (
                    <td key={runs[i].run_id} className="jp-mlops-num" title={String(value)}>
                      {formatValue(value)}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {foldIdentical && identical > 0 && (
        <button
          className="jp-mlops-button jp-mlops-fold"
          aria-expanded={showAll}
          onClick={() => setShowAll(!showAll)}
        >
          {showAll
            ? `Hide ${identical} identical`
            : `Show ${identical} identical ${identical === 1 ? 'one' : 'ones'}`}
        </button>
      )}
    </section>
  );
}

/** The page's theme, as JupyterLab marks it on the body; the figures are drawn to match. */
function usePageTheme(): 'light' | 'dark' {
  const read = () => (document.body.dataset.jpThemeLight === 'false' ? 'dark' : 'light');
  const [theme, setTheme] = React.useState<'light' | 'dark'>(read);
  React.useEffect(() => {
    const observer = new MutationObserver(() => setTheme(read()));
    observer.observe(document.body, { attributes: true, attributeFilter: ['data-jp-theme-light'] });
    return () => observer.disconnect();
  }, []);
  return theme;
}

/** Runs side by side: who they are, metrics, params (differences first), curves. */
export function ComparisonView({
  api,
  runIds,
  renderFigure,
  onOpenRun,
  onCopy
}: IComparisonViewProps): JSX.Element {
  const [data, setData] = React.useState<IComparison | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const key = runIds.join(',');
  const theme = usePageTheme();
  React.useEffect(() => {
    let gone = false;
    setData(null);
    setError(null);
    api.compare(runIds, theme).then(
      result => !gone && setData(result),
      e => !gone && setError(errorMessage(e))
    );
    return () => {
      gone = true;
    };
  }, [key, theme]);

  if (error) {
    return (
      <div className="jp-mlops-compare jp-mlops-pad">
        <p className="jp-mlops-error" role="alert">
          Cannot compare these runs: {error}
        </p>
      </div>
    );
  }
  if (!data) {
    return <p className="jp-mlops-muted jp-mlops-pad">Loading the comparison…</p>;
  }
  const differing = data.params.filter(r => r.differs).length;
  return (
    <div className="jp-mlops-compare" role="region" aria-label={`Comparison of ${data.runs.length} runs`}>
      <h2>
        {data.runs.length} runs side by side
        <span className="jp-mlops-muted">
          {' '}
          · {differing} of {data.params.length} params differ
        </span>
      </h2>
      <ul className="jp-mlops-compare-runs" aria-label="Compared runs">
        {data.runs.map(run => (
          <li key={run.run_id}>
            <button
              className="jp-mlops-link"
              title={`Open ${run.label} in the sidebar`}
              onClick={() => onOpenRun(run.run_id)}
            >
              {run.name}
            </button>
            <StatusBadge status={run.status} />
            <span className="jp-mlops-muted">{run.experiment}</span>
            <button
              className="jp-mlops-icon-button"
              aria-label={`Copy the run id of ${run.name}`}
              title={run.run_id}
              onClick={() => onCopy(run.run_id)}
            >
              <CopyIcon />
            </button>
          </li>
        ))}
      </ul>
      <ComparedTable caption="Metrics" rows={data.metrics} runs={data.runs} foldIdentical={false} />
      <ComparedTable caption="Params" rows={data.params} runs={data.runs} foldIdentical={true} />
      {data.curves.length > 0 && (
        <section className="jp-mlops-compare-section" aria-label="Training curves">
          <h3>Training curves</h3>
          {data.curves.map((figure, i) => {
            const title = figureTitle(figure, `curve ${i + 1}`);
            return <Figure key={title} figure={figure} label={title} render={renderFigure} />;
          })}
        </section>
      )}
      {data.parallel && (
        <section className="jp-mlops-compare-section" aria-label="Params against a metric">
          <h3>Params against a metric</h3>
          <Figure
            figure={data.parallel}
            label={figureTitle(data.parallel, 'parallel coordinates')}
            render={renderFigure}
          />
        </section>
      )}
    </div>
  );
}
