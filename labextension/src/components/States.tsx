import * as React from 'react';

import { IProblem } from '../model';

/** What a newcomer sees before the first tracked run: how to make one. */
export function NoRunsYet(): JSX.Element {
  return (
    <div className="jp-mlops-empty" role="note" aria-label="No runs yet">
      <h3>No runs yet</h3>
      <p>Track a notebook cell and its run shows up here while it runs:</p>
      <ol>
        <li>
          Load the extension once per notebook:
          <pre>%load_ext jupyter_mlops</pre>
        </li>
        <li>
          Start a cell with <code>%%track</code>, a run name and an experiment:
          <pre>
            {'%%track baseline -e my-project\n' +
              'model = LogisticRegression().fit(X_train, y_train)'}
          </pre>
        </li>
      </ol>
      <p className="jp-mlops-muted">
        Parameters, metrics, data, the model and the cell's code are recorded; lineage links
        runs that share data.
      </p>
    </div>
  );
}

/** No run matches the filters. */
export function NoMatch({ onClear }: { onClear(): void }): JSX.Element {
  return (
    <div className="jp-mlops-empty" role="note" aria-label="No matching runs">
      <p>No run matches these filters.</p>
      <button className="jp-mlops-button" onClick={onClear}>
        Clear filters
      </button>
    </div>
  );
}

/** Every run is archived: say so, and offer to list them. */
export function AllArchived({
  count,
  onShow
}: {
  count: number;
  onShow(): void;
}): JSX.Element {
  return (
    <div className="jp-mlops-empty" role="note" aria-label="All runs archived">
      <p>
        All {count} run{count === 1 ? ' is' : 's are'} archived.
      </p>
      <button className="jp-mlops-button" onClick={onShow}>
        Show archived
      </button>
    </div>
  );
}

/** The sidebar cannot work: the server extension is missing or the store is unreadable. */
export function ProblemState({
  problem,
  onRetry
}: {
  problem: IProblem;
  onRetry(): void;
}): JSX.Element {
  let title: string;
  let body: JSX.Element;
  switch (problem.kind) {
    case 'missing':
      title = 'The jupyter-mlops server extension is not running';
      body = (
        <>
          <p>
            The sidebar talks to the <code>jupyter_mlops</code> Jupyter Server extension,
            which did not answer. Install the package in the environment that runs
            JupyterLab and restart it:
          </p>
          <pre>pip install jupyter-mlops{'\n'}jupyter server extension list</pre>
          <p className="jp-mlops-muted">
            The list should show <code>jupyter_mlops … OK</code>.
          </p>
        </>
      );
      break;
    case 'store':
      title = 'The MLOps store cannot be opened';
      body = (
        <>
          <pre className="jp-mlops-message">{problem.message}</pre>
          <p className="jp-mlops-muted">
            Check <code>$JUPYTER_MLOPS_STORE</code> or the <code>.mlops/</code> directory
            (<code>jupyter-mlops doctor</code> tells what is wrong), then retry.
          </p>
        </>
      );
      break;
    case 'network':
      title = 'The Jupyter server does not answer';
      body = <pre className="jp-mlops-message">{problem.message}</pre>;
      break;
    default:
      title = 'Something went wrong';
      body = <pre className="jp-mlops-message">{problem.message}</pre>;
  }
  return (
    <div className="jp-mlops-problem" role="alert">
      <h3>{title}</h3>
      {body}
      <button className="jp-mlops-button" onClick={onRetry}>
        Retry
      </button>
    </div>
  );
}
