import * as React from 'react';

import { formatDuration, formatTime, formatValue, shortId } from '../format';
import { MLOpsModel } from '../model';
import { IEntity, IRun, ISidebarActions } from '../tokens';
import { LineageGraph } from './LineageGraph';
import { Sparkline } from './Sparkline';
import { CopyIcon } from './CopyIcon';
import { NoteEditor, TagEditor, TidyActions } from './RunTidy';
import { StatusBadge } from './StatusBadge';
import { useModel } from './useModel';

const PARAMS_SHOWN = 8;

function Section({
  title,
  children,
  count
}: {
  title: string;
  children: React.ReactNode;
  count?: number;
}): JSX.Element {
  return (
    <section className="jp-mlops-section" aria-label={title}>
      <h3>
        {title}
        {count !== undefined && <span className="jp-mlops-count">{count}</span>}
      </h3>
      {children}
    </section>
  );
}

function KeyValues({
  values,
  label
}: {
  values: [string, React.ReactNode][];
  label: string;
}): JSX.Element {
  return (
    <table className="jp-mlops-kv" aria-label={label}>
      <tbody>
        {values.map(([k, v]) => (
          <tr key={k}>
            <th scope="row">{k}</th>
            <td>{v}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Params({ params }: { params: Record<string, unknown> }): JSX.Element {
  const [all, setAll] = React.useState(false);
  const entries = Object.entries(params);
  if (entries.length === 0) {
    return <p className="jp-mlops-muted">No parameters recorded.</p>;
  }
  const shown = all ? entries : entries.slice(0, PARAMS_SHOWN);
  return (
    <>
      <KeyValues
        label="Parameters"
        values={shown.map(([k, v]) => [k, formatValue(v)])}
      />
      {entries.length > PARAMS_SHOWN && (
        <button className="jp-mlops-link" onClick={() => setAll(!all)}>
          {all ? 'Show fewer' : `Show all ${entries.length}`}
        </button>
      )}
    </>
  );
}

function describe(entity: IEntity): string {
  const d = entity.detail ?? {};
  const parts: string[] = [];
  if (Array.isArray(d.shape)) {
    parts.push((d.shape as number[]).join('×'));
  }
  for (const key of ['type', 'class', 'media_type']) {
    if (typeof d[key] === 'string') {
      parts.push(d[key] as string);
    }
  }
  return parts.join(' · ');
}

function Entities({ items, label }: { items: IEntity[]; label: string }): JSX.Element {
  if (items.length === 0) {
    return <p className="jp-mlops-muted">None recorded.</p>;
  }
  return (
    <ul className="jp-mlops-entities" aria-label={label}>
      {items.map(e => (
        <li key={`${e.kind}:${e.name}:${e.fingerprint}`} title={e.fingerprint}>
          <span className={`jp-mlops-kind jp-mlops-kind-${e.kind}`}>{e.kind}</span>
          <span className="jp-mlops-entity-name">{e.name}</span>
          <span className="jp-mlops-muted">{describe(e)}</span>
        </li>
      ))}
    </ul>
  );
}

function Environment({ run }: { run: IRun }): JSX.Element {
  const env = run.environment ?? {};
  const git = run.git ?? {};
  const values: [string, React.ReactNode][] = [];
  if (env.python) {
    values.push(['python', String(env.python)]);
  }
  if (env.platform) {
    values.push(['platform', String(env.platform)]);
  }
  const packages = (env.packages ?? {}) as Record<string, string>;
  if (Object.keys(packages).length) {
    values.push([
      'packages',
      Object.entries(packages)
        .map(([n, v]) => `${n} ${v}`)
        .join(', ')
    ]);
  }
  if (git.commit) {
    values.push([
      'git',
      `${String(git.commit).slice(0, 10)}${git.branch ? ` (${git.branch})` : ''}${
        git.dirty ? ', uncommitted changes' : ''
      }`
    ]);
  }
  if (run.user || run.host) {
    values.push(['by', `${run.user ?? '?'}@${run.host ?? '?'}`]);
  }
  if (run.notebook) {
    values.push([
      'notebook',
      `${run.notebook}${run.execution_count ? ` [${run.execution_count}]` : ''}`
    ]);
  }
  return <KeyValues label="Environment" values={values} />;
}

export interface IRunDetailProps {
  model: MLOpsModel;
  actions: ISidebarActions;
  onPromote(run: IRun): void;
}

/** The run's cell as a `%%track` cell that runs again: the magic line, then the source. */
export function trackedCell(run: IRun): string {
  const name = /^[\w.-]+$/.test(run.name) ? run.name : JSON.stringify(run.name);
  const experiment = /^[\w.-]+$/.test(run.experiment)
    ? run.experiment
    : JSON.stringify(run.experiment);
  const body = run.source.startsWith('%%track') ? run.source.split('\n').slice(1).join('\n') : run.source;
  return `%%track ${name} -e ${experiment}\n${body}`;
}

/** Everything about one run, with its source, lineage and the actions on it. */
export function RunDetail({ model, actions, onPromote }: IRunDetailProps): JSX.Element | null {
  useModel(model);
  const [notice, setNotice] = React.useState<string | null>(null);
  const detail = model.detail;
  const heading = React.useRef<HTMLHeadingElement>(null);
  const runId = detail?.run?.run_id;
  React.useEffect(() => {
    setNotice(null);
    heading.current?.focus();
  }, [runId]);
  if (!detail) {
    return null;
  }
  const back = (
    <button
      className="jp-mlops-button jp-mlops-back"
      aria-label="Back to runs"
      onClick={() => model.closeRun()}
    >
      ‹ Runs
    </button>
  );
  if (!detail.run) {
    return (
      <div className="jp-mlops-detail" role="region" aria-label="Run detail">
        {back}
        {detail.error ? (
          <div className="jp-mlops-error" role="alert">
            {detail.error}
          </div>
        ) : (
          <p className="jp-mlops-muted">Loading…</p>
        )}
      </div>
    );
  }
  const run = detail.run;
  const hasModel = run.outputs.some(o => o.kind === 'model');
  const promotable = hasModel && run.status === 'finished';
  const metrics = Object.entries(run.metrics ?? {});
  const tracked = trackedCell(run);
  const slice = (run.code_slice ?? []).map(cell => cell.source);
  return (
    <div
      className={`jp-mlops-detail jp-mlops-detail-${run.status}`}
      role="region"
      aria-label={`Run ${run.name}`}
      onKeyDown={event => {
        // Escape goes back to the runs (a dialog handles its own Escape first)
        if (event.key === 'Escape' && !event.defaultPrevented) {
          event.preventDefault();
          model.closeRun();
        }
      }}
    >
      <div className="jp-mlops-detail-header">
        {back}
        <h2 tabIndex={-1} ref={heading} title={run.name}>
          {run.name}
        </h2>
        <StatusBadge status={run.status} />
        {run.archived_at ? (
          <span className="jp-mlops-archived" title={`Archived ${formatTime(run.archived_at)}`}>
            archived
          </span>
        ) : null}
      </div>
      <div className="jp-mlops-meta">
        <span title={run.run_id}>
          {shortId(run.run_id)}
          <button
            className="jp-mlops-icon-button"
            aria-label="Copy the full run id"
            title={`Copy ${run.run_id}`}
            onClick={() => {
              actions.copy(run.run_id);
              setNotice(`Copied the run id ${run.run_id}.`);
            }}
          >
            <CopyIcon />
          </button>
        </span>
        <span>{run.experiment}</span>
        <span>{formatTime(run.started_at)}</span>
        <span>{run.status === 'running' ? 'running…' : formatDuration(run.duration_s)}</span>
      </div>
      <div className="jp-mlops-actions" role="toolbar" aria-label="Run actions">
        <button
          className="jp-mlops-button"
          title="A %%track cell that records a new run of this code"
          onClick={() => setNotice(actions.insertIntoNotebook([tracked]).message)}
        >
          Insert into notebook
        </button>
        {slice.length > 0 && (
          <button
            className="jp-mlops-button"
            title="The cells this run's inputs came from, then the tracked cell"
            onClick={() =>
              setNotice(actions.insertIntoNotebook([...slice, tracked]).message)
            }
          >
            Insert with the {slice.length} cell{slice.length === 1 ? '' : 's'} it needs
          </button>
        )}
        <button
          className="jp-mlops-button"
          onClick={() => {
            actions.copy(run.source);
            setNotice('Copied the source to the clipboard.');
          }}
        >
          Copy
        </button>
        <button
          className="jp-mlops-button jp-mod-accept"
          disabled={!promotable}
          title={
            !hasModel
              ? 'This run made no model'
              : run.status !== 'finished'
                ? `This run ${run.status === 'running' ? 'is still running' : run.status}: only a finished run's model can be promoted`
                : 'Register this model as a new version'
          }
          onClick={() => onPromote(run)}
        >
          Promote…
        </button>
        <TidyActions model={model} run={run} />
      </div>
      {notice && (
        <div className="jp-mlops-notice" role="status">
          {notice}
        </div>
      )}
      {run.status === 'failed' && (
        <section className="jp-mlops-section jp-mlops-failure" aria-label="Error">
          <h3>Failed</h3>
          <pre className="jp-mlops-message">{run.error}</pre>
          {run.traceback && (
            <details>
              <summary>Traceback</summary>
              <pre className="jp-mlops-code">{run.traceback}</pre>
            </details>
          )}
        </section>
      )}
      <Section title="Metrics" count={metrics.length}>
        {metrics.length === 0 ? (
          <p className="jp-mlops-muted">
            No metrics. Name a variable like <code>acc</code> or <code>auc</code>, use{' '}
            <code>--eval X y</code>, or call <code>mlops.log_metric</code>.
          </p>
        ) : (
          <table className="jp-mlops-kv" aria-label="Metrics">
            <tbody>
              {metrics.map(([key, value]) => {
                const history = (detail.histories[key] ?? []).map(p => p.value);
                return (
                  <tr key={key}>
                    <th scope="row">{key}</th>
                    <td className="jp-mlops-num">{formatValue(value)}</td>
                    <td>
                      {history.length > 1 && (
                        <Sparkline label={`${key} history`} values={history} />
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </Section>
      <Section title="Tags" count={Object.keys(run.tags ?? {}).length}>
        <TagEditor model={model} run={run} />
      </Section>
      <Section title="Note">
        <NoteEditor model={model} run={run} />
      </Section>
      <Section title="Parameters" count={Object.keys(run.params ?? {}).length}>
        <Params params={run.params ?? {}} />
      </Section>
      <Section title="Inputs" count={run.inputs.length}>
        <Entities items={run.inputs} label="Inputs" />
      </Section>
      <Section title="Outputs" count={run.outputs.length}>
        <Entities items={run.outputs} label="Outputs" />
      </Section>
      <Section title="Lineage">
        {detail.lineage ? (
          <LineageGraph lineage={detail.lineage} onOpenRun={id => void model.openRun(id)} />
        ) : (
          <p className="jp-mlops-muted">No lineage recorded.</p>
        )}
      </Section>
      <Section title="Source">
        <pre className="jp-mlops-code" aria-label="Cell source">
          {run.source}
        </pre>
      </Section>
      <Section title="Environment">
        <Environment run={run} />
      </Section>
    </div>
  );
}
