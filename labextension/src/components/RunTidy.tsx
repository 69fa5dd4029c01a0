/**
 * Tidying a run from its detail: tags (add, remove, search), a note, Archive/Restore and
 * Delete (after a confirmation naming the run). Every change goes through the model to
 * `PATCH`/`DELETE runs/{id}`, which audits it; a refusal is shown where it was asked.
 */
import * as React from 'react';

import { errorMessage } from '../errors';
import { readableMessage, shortId } from '../format';
import { MLOpsModel } from '../model';
import { IRun, IRunPatch } from '../tokens';
import { DialogButton, DialogFrame } from './Dialogs';

/** What `key:value` search finds (the server checks the same, and the length limits). */
const TAG_KEY = /^[A-Za-z_][\w.-]*$/;

/** `key=value` as a tag, or why not. */
export function parseTag(text: string): { key: string; value: string } | string {
  const at = text.indexOf('=');
  if (at < 0) {
    return 'Write a tag as key=value, e.g. owner=alice.';
  }
  const key = text.slice(0, at).trim();
  const value = text.slice(at + 1).trim();
  if (!TAG_KEY.test(key)) {
    return `"${key}" is not a tag key: start with a letter or _, then letters, digits, _ . or -.`;
  }
  return { key, value };
}

/** A change to the run: runs it, and returns the error to show (or null). */
function useChange(
  model: MLOpsModel,
  run: IRun
): [(patch: IRunPatch) => Promise<string | null>, boolean] {
  const [busy, setBusy] = React.useState(false);
  const change = async (patch: IRunPatch) => {
    setBusy(true);
    try {
      await model.updateRun(run.run_id, patch);
      return null;
    } catch (error) {
      return readableMessage(errorMessage(error), run);
    } finally {
      setBusy(false);
    }
  };
  return [change, busy];
}

function ErrorLine({ error }: { error: string | null }): JSX.Element | null {
  return error ? (
    <div className="jp-mlops-error" role="alert">
      {error}
    </div>
  ) : null;
}

/** The run's tags: each searches the runs, or is removed; a field adds one. */
export function TagEditor({ model, run }: { model: MLOpsModel; run: IRun }): JSX.Element {
  const [change, busy] = useChange(model, run);
  const [text, setText] = React.useState('');
  const [error, setError] = React.useState<string | null>(null);
  const tags = Object.entries(run.tags ?? {});
  const add = async (event: React.FormEvent) => {
    event.preventDefault();
    const tag = parseTag(text);
    if (typeof tag === 'string') {
      setError(tag);
      return;
    }
    const failed = await change({ tags: { [tag.key]: tag.value } });
    setError(failed);
    if (!failed) {
      setText('');
    }
  };
  return (
    <>
      {tags.length === 0 ? (
        <p className="jp-mlops-muted">No tags.</p>
      ) : (
        <ul className="jp-mlops-tags" aria-label="Tags">
          {tags.map(([key, value]) => (
            <li key={key}>
              <button
                className="jp-mlops-tag"
                title={`Show the runs tagged ${key}:${value}`}
                onClick={() => {
                  void model.setQuery({ q: `${key}:${value}` });
                  model.closeRun();
                }}
              >
                {key}={value}
              </button>
              <button
                className="jp-mlops-icon-button jp-mlops-tag-remove"
                aria-label={`Remove tag ${key}`}
                title={`Remove tag ${key}`}
                disabled={busy}
                onClick={async () => setError(await change({ remove_tags: [key] }))}
              >
                ×
              </button>
            </li>
          ))}
        </ul>
      )}
      <form className="jp-mlops-tag-form" onSubmit={add}>
        <input
          className="jp-mod-styled"
          aria-label="New tag (key=value)"
          placeholder="key=value"
          value={text}
          maxLength={330}
          onChange={e => setText(e.target.value)}
          disabled={busy}
        />
        <button className="jp-mlops-button" type="submit" disabled={busy || !text.trim()}>
          Add tag
        </button>
      </form>
      <ErrorLine error={error} />
    </>
  );
}

/** The run's note: edited in place, saved on demand. */
export function NoteEditor({ model, run }: { model: MLOpsModel; run: IRun }): JSX.Element {
  const [change, busy] = useChange(model, run);
  const saved = run.note ?? '';
  const [text, setText] = React.useState(saved);
  const [error, setError] = React.useState<string | null>(null);
  React.useEffect(() => setText(saved), [run.run_id, saved]);
  return (
    <form
      className="jp-mlops-note"
      onSubmit={async event => {
        event.preventDefault();
        setError(await change({ note: text }));
      }}
    >
      <textarea
        className="jp-mod-styled"
        aria-label="Run note"
        placeholder="What you learned from this run…"
        rows={3}
        maxLength={10000}
        value={text}
        onChange={e => setText(e.target.value)}
        disabled={busy}
      />
      <button className="jp-mlops-button" type="submit" disabled={busy || text === saved}>
        Save note
      </button>
      <ErrorLine error={error} />
    </form>
  );
}

/** The confirmation before deleting: names the run, says what goes and what stays. */
function ConfirmDelete({
  model,
  run,
  onClose
}: {
  model: MLOpsModel;
  run: IRun;
  onClose(): void;
}): JSX.Element {
  const [error, setError] = React.useState<string | null>(null);
  const [busy, setBusy] = React.useState(false);
  return (
    <DialogFrame
      title={`Delete run ${run.name}?`}
      onClose={onClose}
      footer={
        <>
          <DialogButton label="Cancel" onClick={onClose} />
          <DialogButton
            label={`Delete ${run.name}`}
            accept
            className="jp-Dialog-button jp-mod-styled jp-mod-accept jp-mod-warn"
            disabled={busy}
            onClick={async () => {
              setBusy(true);
              try {
                await model.deleteRun(run.run_id);
              } catch (failure) {
                setError(readableMessage(errorMessage(failure), run));
                setBusy(false);
              }
            }}
          />
        </>
      }
    >
      <p>
        This deletes the records of run <strong>{run.name}</strong> ({shortId(run.run_id)}, in{' '}
        {run.experiment}): its parameters, metrics, tags, note and lineage. It cannot be undone;
        Archive hides a run instead. Its artifact files are removed later by{' '}
        <code>jupyter-mlops doctor --fix</code>.
      </p>
      <ErrorLine error={error} />
    </DialogFrame>
  );
}

/** Archive or Restore, and Delete… (with its confirmation). */
export function TidyActions({ model, run }: { model: MLOpsModel; run: IRun }): JSX.Element {
  const [change, busy] = useChange(model, run);
  const [error, setError] = React.useState<string | null>(null);
  const [confirming, setConfirming] = React.useState(false);
  const archived = !!run.archived_at;
  return (
    <>
      <button
        className="jp-mlops-button"
        disabled={busy}
        title={
          archived
            ? 'List this run again'
            : 'Hide this run from the runs list (kept: "Show archived" lists it)'
        }
        onClick={async () => setError(await change({ archived: !archived }))}
      >
        {archived ? 'Restore' : 'Archive'}
      </button>
      <button
        className="jp-mlops-button jp-mod-warn"
        disabled={run.status === 'running'}
        title={
          run.status === 'running'
            ? 'This run is still running'
            : "Delete this run's records (asks first)"
        }
        onClick={() => setConfirming(true)}
      >
        Delete…
      </button>
      <ErrorLine error={error} />
      {confirming && (
        <ConfirmDelete model={model} run={run} onClose={() => setConfirming(false)} />
      )}
    </>
  );
}
