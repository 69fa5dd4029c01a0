import * as React from 'react';

import { errorMessage } from '../errors';
import { formatAgo, formatTime, shortId } from '../format';
import { MLOpsModel } from '../model';
import { IApprovalRequest, IModelVersion } from '../tokens';
import { StageBadge } from './StatusBadge';
import { useModel } from './useModel';
import { useRovingFocus } from './useRovingFocus';

export interface IModelsViewProps {
  model: MLOpsModel;
  onOpenRun(runId: string): void;
  onTransition(version: IModelVersion): void;
}

/** Registered models, their versions with stage and alias badges, and the audit log. */
export function ModelsView({ model, onOpenRun, onTransition }: IModelsViewProps): JSX.Element {
  useModel(model);
  React.useEffect(() => {
    void model.loadModels();
  }, [model]);
  // the versions of every model are one group of rows for the keyboard
  const rows = ([] as IModelVersion[]).concat(...model.models.map(m => m.versions));
  const [row, setRow] = React.useState(0);
  // what the last approval or rejection did (kept when its request leaves the list)
  const [decided, setDecided] = React.useState<string | null>(null);
  const rowProps = useRovingFocus<HTMLTableRowElement>({
    count: rows.length,
    active: row,
    onActive: setRow,
    orientation: 'vertical',
    onOpen: index => onOpenRun(rows[index].run_id)
  });
  if (!model.modelsLoaded) {
    return <p className="jp-mlops-muted jp-mlops-pad">Loading models…</p>;
  }
  if (model.models.length === 0) {
    return (
      <div className="jp-mlops-empty" role="note" aria-label="No registered models">
        <h3>No registered models yet</h3>
        <p>
          Open a run that made a model and click <strong>Promote…</strong>, or in a notebook:
        </p>
        <pre>%mlops promote RUN --name NAME --stage staging --gate "accuracy&gt;=0.9"</pre>
      </div>
    );
  }
  return (
    <div className="jp-mlops-models">
      {model.approvals.length > 0 && <PendingApprovals model={model} onDecided={setDecided} />}
      {decided && (
        <p role="status" aria-label="Approval outcome" className="jp-mlops-muted jp-mlops-pad">
          {decided}
        </p>
      )}
      {model.models.map(m => (
        <section key={m.name} className="jp-mlops-section" aria-label={`Model ${m.name}`}>
          <h3>
            {m.name}
            <span className="jp-mlops-count">
              {m.versions.length} version{m.versions.length === 1 ? '' : 's'}
            </span>
          </h3>
          <table className="jp-mlops-table" aria-label={`Versions of ${m.name}`}>
            <thead>
              <tr>
                <th scope="col">Version</th>
                <th scope="col">Stage</th>
                <th scope="col">Run</th>
                <th scope="col">Gate</th>
                <th scope="col">
                  <span className="jp-mlops-sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {m.versions.map(v => (
                <tr
                  key={v.version}
                  aria-label={`${v.name} version ${v.version}`}
                  title={
                    `${formatTime(v.created_at)} by ${v.created_by ?? '?'}` +
                    (v.reason ? ` — ${v.reason}` : '')
                  }
                  {...rowProps(rows.indexOf(v))}
                >
                  <td>v{v.version}</td>
                  <td>
                    {v.stage ? <StageBadge label={v.stage} /> : <span className="jp-mlops-muted">—</span>}
                    {v.aliases.map(a => (
                      <StageBadge key={a} label={a} alias />
                    ))}
                    {v.pending && (
                      <span
                        className="jp-mlops-muted"
                        title={`request ${v.pending.request} waits for approval`}
                      >
                        {' '}
                        → {v.pending.stage}?
                      </span>
                    )}
                  </td>
                  <td>
                    <button
                      className="jp-mlops-link"
                      aria-label={`Open run ${v.run_name ?? v.run_id}`}
                      title={v.run_id}
                      onClick={() => onOpenRun(v.run_id)}
                    >
                      {v.run_name ?? shortId(v.run_id)}
                    </button>
                  </td>
                  <td>
                    {v.gate ? (
                      <span
                        className={v.gate.passed ? 'jp-mlops-pass' : 'jp-mlops-fail'}
                        title={v.gate.expression}
                      >
                        {v.gate.passed ? '✓ passed' : '✕ overridden'}
                      </span>
                    ) : (
                      <span className="jp-mlops-muted">none</span>
                    )}
                  </td>
                  <td>
                    <button
                      className="jp-mlops-button"
                      aria-label={`Transition ${v.name} version ${v.version}`}
                      onClick={() => onTransition(v)}
                    >
                      Transition…
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ))}
      {model.events.length > 0 && (
        <section className="jp-mlops-section" aria-label="Audit log">
          <h3>Recent activity</h3>
          <ul className="jp-mlops-events">
            {model.events.map(e => (
              <li key={e.seq} title={formatTime(e.at)}>
                <span className="jp-mlops-event-action">{e.action}</span>{' '}
                <strong>{e.subject}</strong>
                {typeof e.detail?.to === 'string' ? ` → ${e.detail.to}` : ''}
                <span className="jp-mlops-muted">
                  {' '}
                  · {e.actor} · {formatAgo(e.at)}
                  {e.reason ? ` · ${e.reason}` : ''}
                </span>
              </li>
            ))}
          </ul>
        </section>
      )}
    </div>
  );
}

/** Who may decide a request, as far as the sidebar knows: null when the user may. */
function whyNot(request: IApprovalRequest, user: string | null): string | null {
  if (user === null) {
    return null;
  }
  if (request.refusal !== undefined) {
    return request.refusal; // the server's answer: it knows the user's groups
  }
  if (user === request.requested_by && !request.policy.requester_may_approve) {
    return 'you asked for this move: another user approves it';
  }
  const allowed = request.policy.allowed;
  if (allowed.length > 0 && !allowed.includes(user)) {
    return `approved by ${allowed.join(', ')}`;
  }
  return null;
}

/** The moves waiting for approval, with Approve and Reject for the users who may. */
function PendingApprovals({
  model,
  onDecided
}: {
  model: MLOpsModel;
  onDecided(message: string | null): void;
}): JSX.Element {
  const [busy, setBusy] = React.useState<number | null>(null);
  const setMessage = onDecided;
  const decide = async (request: IApprovalRequest, decision: 'approve' | 'reject') => {
    setBusy(request.id);
    setMessage(null);
    try {
      const outcome = await model.decide(request.id, decision);
      const status = outcome.request.status;
      setMessage(
        status === 'applied'
          ? `${request.ref} moved to ${request.stage}`
          : status === 'pending'
            ? `approved: ${outcome.request.missing} more approval(s) needed`
            : `request ${request.id} ${status}`
      );
    } catch (error) {
      setMessage(errorMessage(error));
    } finally {
      setBusy(null);
    }
  };
  return (
    <section className="jp-mlops-section" aria-label="Pending approvals">
      <h3>
        Pending approvals
        <span className="jp-mlops-count">{model.approvals.length}</span>
      </h3>
      <ul className="jp-mlops-events">
        {model.approvals.map(r => {
          const refused = whyNot(r, model.user);
          return (
            <li key={r.id} aria-label={`Request ${r.id}: ${r.ref} to ${r.stage}`}>
              <strong>{r.ref}</strong> → <StageBadge label={r.stage} />
              <span className="jp-mlops-muted">
                {' '}
                · asked by {r.requested_by} · {formatAgo(r.requested_at)}
                {r.reason ? ` · ${r.reason}` : ''} · {r.missing} more approval
                {r.missing === 1 ? '' : 's'} needed
              </span>
              {refused ? (
                <span className="jp-mlops-muted"> · {refused}</span>
              ) : (
                <span>
                  {' '}
                  <button
                    className="jp-mlops-button"
                    disabled={busy !== null}
                    aria-label={`Approve request ${r.id}`}
                    onClick={() => void decide(r, 'approve')}
                  >
                    Approve
                  </button>{' '}
                  <button
                    className="jp-mlops-button"
                    disabled={busy !== null}
                    aria-label={`Reject request ${r.id}`}
                    onClick={() => void decide(r, 'reject')}
                  >
                    Reject
                  </button>
                </span>
              )}
            </li>
          );
        })}
      </ul>
    </section>
  );
}
