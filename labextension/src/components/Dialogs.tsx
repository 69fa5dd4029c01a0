import * as React from 'react';
import { createPortal } from 'react-dom';

import { APIError, errorMessage } from '../errors';
import { formatValue, readableMessage } from '../format';
import {
  IGateResult,
  IModelVersion,
  IPromoteRequest,
  IRun,
  ITransitionRequest,
  ITransitionResult
} from '../tokens';
import { StageBadge } from './StatusBadge';

const STAGES = ['staging', 'production', 'archived'];
const REASON_HINT = 'why (kept in the audit log)';

let dialogCount = 0;

/**
 * A modal dialog drawn like JupyterLab's own (`jp-Dialog`): focus starts on the first
 * field and stays inside, Escape closes it. Unlike `showDialog` it stays open after
 * "submit" to show the server's answer: a gate result, or the reason it refused.
 */
export function DialogFrame({
  title,
  onClose,
  children,
  footer
}: {
  title: string;
  onClose(): void;
  children: React.ReactNode;
  footer: React.ReactNode;
}): JSX.Element {
  const ref = React.useRef<HTMLDivElement>(null);
  const id = React.useMemo(() => `jp-mlops-dialog-${++dialogCount}`, []);
  React.useEffect(() => {
    const first = ref.current?.querySelector<HTMLElement>(
      'input, select, textarea, button.jp-mod-accept'
    );
    first?.focus();
    // Escape closes the dialog even when the focus was lost to the page (a disabled button)
    const onEscape = (event: KeyboardEvent) => {
      if (event.key === 'Escape' && !ref.current?.contains(document.activeElement)) {
        event.stopPropagation();
        onClose();
      }
    };
    document.addEventListener('keydown', onEscape, true);
    return () => document.removeEventListener('keydown', onEscape, true);
  }, []);
  const onKeyDown = (event: React.KeyboardEvent) => {
    if (event.key === 'Escape') {
      event.stopPropagation();
      onClose();
    } else if (event.key === 'Tab' && ref.current) {
      const focusable = Array.from(
        ref.current.querySelectorAll<HTMLElement>(
          'input, select, textarea, button:not([disabled])'
        )
      );
      const first = focusable[0];
      const last = focusable[focusable.length - 1];
      if (event.shiftKey && document.activeElement === first) {
        event.preventDefault();
        last?.focus();
      } else if (!event.shiftKey && document.activeElement === last) {
        event.preventDefault();
        first?.focus();
      }
    }
  };
  return createPortal(
    <div className="jp-Dialog jp-ThemedContainer jp-mlops-dialog" onKeyDown={onKeyDown}>
      <div
        className="jp-Dialog-content"
        role="dialog"
        aria-modal="true"
        aria-labelledby={id}
        ref={ref}
      >
        <div className="jp-Dialog-header" id={id}>
          {title}
        </div>
        <div className="jp-Dialog-body">{children}</div>
        <div className="jp-Dialog-footer">
          <div className="jp-Dialog-footerButtons">{footer}</div>
        </div>
      </div>
    </div>,
    document.body
  );
}

export const DialogButton = React.forwardRef<
  HTMLButtonElement,
  { label: string; accept?: boolean } & React.ButtonHTMLAttributes<HTMLButtonElement>
>(function DialogButton({ label, accept = false, ...props }, ref) {
  return (
    <button
      ref={ref}
      className={`jp-Dialog-button jp-mod-styled ${accept ? 'jp-mod-accept' : 'jp-mod-reject'}`}
      {...props}
    >
      <div className="jp-Dialog-buttonLabel">{label}</div>
    </button>
  );
});

/** The conditions of a gate, each passed or failed with the value it compared. */
export function GateResultView({
  gate,
  label = 'Gate result'
}: {
  gate: IGateResult;
  label?: string;
}): JSX.Element {
  return (
    <div className="jp-mlops-gate" role="group" aria-label={label}>
      <div>
        Gate <code>{gate.expression}</code>:{' '}
        <strong className={gate.passed ? 'jp-mlops-pass' : 'jp-mlops-fail'}>
          {gate.passed ? 'passed' : 'failed'}
        </strong>
      </div>
      <ul>
        {gate.conditions.map((c, i) => (
          <li key={i} className={c.passed ? 'jp-mlops-pass' : 'jp-mlops-fail'}>
            <span aria-hidden="true">{c.passed ? '✓' : '✕'}</span> {c.text}
            {c.value !== null && c.value !== undefined && (
              <span className="jp-mlops-muted">
                {' '}
                (value {formatValue(c.value)}
                {c.threshold !== null && c.threshold !== undefined
                  ? `, threshold ${formatValue(c.threshold)}`
                  : ''}
                )
              </span>
            )}
          </li>
        ))}
      </ul>
    </div>
  );
}

function Outcome({
  error,
  done
}: {
  error: string | null;
  done: React.ReactNode;
}): JSX.Element | null {
  if (error) {
    return (
      <div className="jp-mlops-error" role="alert">
        {error}
      </div>
    );
  }
  if (done) {
    return (
      <div className="jp-mlops-success" role="status">
        {done}
      </div>
    );
  }
  return null;
}

function VersionDone({ version, verb }: { version: IModelVersion; verb: string }) {
  return (
    <>
      <div>
        {verb} <strong>{version.name}</strong> version <strong>{version.version}</strong>
        {version.stage ? (
          <>
            {' '}
            {verb === 'Moved' ? 'to' : 'in'} <StageBadge label={version.stage} />
          </>
        ) : null}
        {version.aliases.map(a => (
          <StageBadge key={a} label={a} alias />
        ))}
      </div>
      {version.gate && <GateResultView gate={version.gate} />}
    </>
  );
}

/** A finished transition: where the version is now, which gate ran, what verification found. */
function TransitionDone({ moved }: { moved: ITransitionResult }) {
  const { gate, verification } = moved.checks ?? { gate: null, verification: null };
  return (
    <>
      <VersionDone version={{ ...moved, gate: null }} verb="Moved" />
      {gate ? <GateResultView gate={gate} /> : <div>No gate ran.</div>}
      {verification && <div>Verification: {verification}</div>}
    </>
  );
}

/** A labelled checkbox. */
function CheckField({
  label,
  checked,
  onChange,
  disabled
}: {
  label: string;
  checked: boolean;
  onChange(checked: boolean): void;
  disabled: boolean;
}): JSX.Element {
  return (
    <label className="jp-mlops-check">
      <input
        type="checkbox"
        checked={checked}
        onChange={e => onChange(e.target.checked)}
        disabled={disabled}
      />
      {label}
    </label>
  );
}

/** A labelled text input; with `options`, the browser suggests them as you type. */
function TextField({
  label,
  value,
  onChange,
  disabled,
  placeholder,
  options
}: {
  label: string;
  value: string;
  onChange(value: string): void;
  disabled: boolean;
  placeholder?: string;
  options?: string[];
}): JSX.Element {
  const listId = React.useMemo(() => `jp-mlops-options-${++dialogCount}`, []);
  return (
    <label>
      {label}
      <input
        className="jp-mod-styled"
        value={value}
        list={options ? listId : undefined}
        placeholder={placeholder}
        onChange={e => onChange(e.target.value)}
        disabled={disabled}
      />
      {options && (
        <datalist id={listId}>
          {options.map(option => (
            <option key={option} value={option} />
          ))}
        </datalist>
      )}
    </label>
  );
}

/**
 * The life of a dialog's request: `check` names what is missing (or null), then `send`
 * runs; while it does the dialog is busy, then it shows the answer or the error.
 */
function useSubmission<T extends IModelVersion>(
  check: () => string | null,
  send: () => Promise<T>,
  run?: { run_id: string; name: string }
): {
  busy: boolean;
  /** busy, or done: the form's fields no longer change */
  locked: boolean;
  error: string | null;
  done: T | null;
  submit(event?: React.FormEvent): Promise<void>;
} {
  const [busy, setBusy] = React.useState(false);
  const [error, setError] = React.useState<string | null>(null);
  const [done, setDone] = React.useState<T | null>(null);
  const submit = async (event?: React.FormEvent) => {
    event?.preventDefault();
    const problem = check();
    if (problem) {
      setError(problem);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      setDone(await send());
    } catch (e) {
      setError(readableMessage(errorMessage(e), run));
    } finally {
      setBusy(false);
    }
  };
  return { busy, locked: busy || !!done, error, done, submit };
}

/** Cancel and the action while the form is open; once done, Close (after `extra`). */
function SubmitFooter({
  busy,
  done,
  action,
  busyAction,
  onSubmit,
  onClose,
  extra
}: {
  busy: boolean;
  done: boolean;
  action: string;
  busyAction: string;
  onSubmit(): void;
  onClose(): void;
  extra?: React.ReactNode;
}): JSX.Element {
  const accept = React.useRef<HTMLButtonElement>(null);
  const wasBusy = React.useRef(false);
  React.useEffect(() => {
    // the button was disabled while busy (the focus fell to the page): give it back
    if (wasBusy.current && !busy) {
      accept.current?.focus();
    }
    wasBusy.current = busy;
  }, [busy, done]);
  return done ? (
    <>
      {extra}
      <DialogButton label="Close" accept onClick={onClose} ref={accept} />
    </>
  ) : (
    <>
      <DialogButton label="Cancel" onClick={onClose} />
      <DialogButton
        label={busy ? busyAction : action}
        accept
        disabled={busy}
        onClick={onSubmit}
        ref={accept}
      />
    </>
  );
}

export interface IPromoteDialogProps {
  run: IRun;
  modelNames: string[];
  /** the model name this run was last registered under (preselected), or null */
  registeredAs?: string | null;
  /** evaluate a gate over the run's metrics without promoting (the server's decision) */
  checkGate?(expression: string): Promise<IGateResult>;
  promote(name: string, body: IPromoteRequest): Promise<IModelVersion>;
  onClose(): void;
  /** after a promotion: show the Models view */
  onShowModels?(): void;
}

/** Promote a run's model as the next version of a registered model, gated and audited. */
/** The gate's conditions over the run's metrics while the user types (debounced). */
function useGatePreview(
  gate: string,
  checkGate?: (expression: string) => Promise<IGateResult>
): { result: IGateResult | null; problem: string | null } {
  const [result, setResult] = React.useState<IGateResult | null>(null);
  const [problem, setProblem] = React.useState<string | null>(null);
  React.useEffect(() => {
    const expression = gate.trim();
    setResult(null);
    setProblem(null);
    if (!checkGate || !expression || expression.toLowerCase().startsWith('champion')) {
      return;
    }
    let gone = false;
    const timer = setTimeout(() => {
      checkGate(expression).then(
        answer => !gone && setResult(answer),
        e => !gone && setProblem(errorMessage(e))
      );
    }, 300);
    return () => {
      gone = true;
      clearTimeout(timer);
    };
  }, [gate]);
  return { result, problem };
}

/** The run's latest metrics, beside the gate field: what a gate can name. */
function RunMetrics({ run }: { run: IRun }): JSX.Element {
  const metrics = Object.entries(run.metrics ?? {});
  return (
    <div className="jp-mlops-run-metrics" aria-label="This run's metrics">
      {metrics.length === 0
        ? 'This run logged no metrics: a gate has nothing to test.'
        : metrics.map(([key, value]) => (
            <span key={key}>
              {key} <strong>{formatValue(value)}</strong>
            </span>
          ))}
    </div>
  );
}

export function PromoteDialog({
  run,
  modelNames,
  registeredAs = null,
  checkGate,
  promote,
  onClose,
  onShowModels
}: IPromoteDialogProps): JSX.Element {
  const [name, setName] = React.useState(registeredAs ?? '');
  const [refused, setRefused] = React.useState<IGateResult | null>(null);
  const [stage, setStage] = React.useState('staging');
  const [gate, setGate] = React.useState('');
  const [reason, setReason] = React.useState('');
  const [force, setForce] = React.useState(false);
  const [verify, setVerify] = React.useState(false);
  const { busy, locked, error, done, submit } = useSubmission(
    () => (name.trim() ? null : 'Give the registered model a name.'),
    () => {
      const body: IPromoteRequest = { run_id: run.run_id };
      if (stage) {
        body.stage = stage;
      }
      if (gate.trim()) {
        body.gate = gate.trim();
      }
      if (reason.trim()) {
        body.reason = reason.trim();
      }
      if (force) {
        body.force = true;
      }
      body.verify = verify;
      setRefused(null);
      return promote(name.trim(), body).catch(async error => {
        // a refusal by the gate: show the same conditions a pass shows, not a server string
        if (error instanceof APIError && error.status === 409 && body.gate && checkGate) {
          const result = await checkGate(body.gate).catch(() => null);
          if (result && !result.passed) {
            setRefused(result);
            throw new Error('The gate refused this promotion: nothing was registered.');
          }
        }
        throw error;
      });
    },
    run
  );
  const preview = useGatePreview(gate, checkGate);
  const footer = (
    <SubmitFooter
      busy={busy}
      done={!!done}
      action="Promote"
      busyAction="Promoting…"
      onSubmit={() => void submit()}
      onClose={onClose}
      extra={
        onShowModels && <DialogButton label="Show in Models" onClick={onShowModels} />
      }
    />
  );

  return (
    <DialogFrame title={`Promote the model of run ${run.name}`} onClose={onClose} footer={footer}>
      <form className="jp-mlops-form" onSubmit={e => void submit(e)}>
        <TextField
          label="Registered model"
          value={name}
          onChange={setName}
          disabled={locked}
          options={modelNames}
        />
        <label>
          Stage
          <select
            className="jp-mod-styled"
            value={stage}
            onChange={e => {
              setStage(e.target.value);
              setVerify(e.target.value === 'production');
            }}
            disabled={locked}
          >
            <option value="">none (register only)</option>
            {STAGES.map(s => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <TextField
          label="Gate"
          value={gate}
          placeholder="e.g. accuracy>=0.9 and f1>0.8, or champion"
          onChange={setGate}
          disabled={locked}
        />
        <RunMetrics run={run} />
        {!refused && !done && preview.result && (
          <GateResultView gate={preview.result} label="Gate preview" />
        )}
        {!refused && !done && preview.problem && (
          <div className="jp-mlops-muted" aria-label="Gate preview">
            {readableMessage(preview.problem, run)}
          </div>
        )}
        <TextField
          label="Reason"
          value={reason}
          placeholder={REASON_HINT}
          onChange={setReason}
          disabled={locked}
        />
        <CheckField
          label="Verify the bundle in a fresh virtualenv first (slow)"
          checked={verify}
          onChange={setVerify}
          disabled={locked}
        />
        <CheckField
          label="Override a failing gate (needs a reason; audited)"
          checked={force}
          onChange={setForce}
          disabled={locked}
        />
        <button type="submit" hidden tabIndex={-1} aria-hidden="true" />
      </form>
      <Outcome
        error={error}
        done={done && <VersionDone version={done} verb="Registered" />}
      />
      {refused && error && <GateResultView gate={refused} label="Gate refusal" />}
    </DialogFrame>
  );
}

export interface ITransitionDialogProps {
  version: IModelVersion;
  /** every version of the same registered model (to name the one a move archives) */
  versions?: IModelVersion[];
  transition(name: string, version: number, body: ITransitionRequest): Promise<ITransitionResult>;
  onClose(): void;
}

/**
 * Move a model version to a stage, or point an alias at it (audited). The server decides a
 * move to production like a promotion (reason, gate, verification); the answer shows which
 * gate ran, and a refusal says why.
 */
export function TransitionDialog({
  version,
  versions = [],
  transition,
  onClose
}: ITransitionDialogProps): JSX.Element {
  const [stage, setStage] = React.useState(
    version.stage === 'staging' ? 'production' : 'staging'
  );
  const [reason, setReason] = React.useState('');
  const [gate, setGate] = React.useState('');
  const [verify, setVerify] = React.useState(stage === 'production');
  const { busy, locked, error, done, submit } = useSubmission(
    () => (stage.trim() ? null : 'Choose a stage, or type an alias.'),
    () => {
      const body: ITransitionRequest = { stage: stage.trim() };
      if (reason.trim()) {
        body.reason = reason.trim();
      }
      if (gate.trim()) {
        body.gate = gate.trim();
      }
      if (stage.trim() === 'production') {
        body.verify = verify;
      }
      return transition(version.name, version.version, body);
    }
  );
  const target = stage.trim();
  const holder =
    target === 'staging' || target === 'production'
      ? versions.find(v => v.stage === target && v.version !== version.version)
      : undefined;
  const footer = (
    <SubmitFooter
      busy={busy}
      done={!!done}
      action="Transition"
      busyAction="Moving…"
      onSubmit={() => void submit()}
      onClose={onClose}
    />
  );

  return (
    <DialogFrame
      title={`Transition ${version.name} version ${version.version}`}
      onClose={onClose}
      footer={footer}
    >
      <form className="jp-mlops-form" onSubmit={e => void submit(e)}>
        <TextField
          label="Stage or alias"
          value={stage}
          onChange={value => {
            setStage(value);
            setVerify(value.trim() === 'production');
          }}
          disabled={locked}
          options={STAGES}
        />
        <TextField
          label="Reason"
          value={reason}
          placeholder={stage.trim() === 'production' ? `${REASON_HINT}; required` : REASON_HINT}
          onChange={setReason}
          disabled={locked}
        />
        {!done && (
          <p className="jp-mlops-note" aria-label="What moves">
            {holder
              ? `${version.name} version ${holder.version} is in ${target} now: it will be archived.`
              : target === 'staging' || target === 'production'
                ? `No version of ${version.name} is in ${target} now: none is archived.`
                : ''}
          </p>
        )}
        <TextField
          label="Gate"
          value={gate}
          placeholder={
            version.gate && !version.gate.expression.startsWith('champion')
              ? `default for production: ${version.gate.expression}`
              : 'e.g. accuracy>=0.9 and f1>0.8'
          }
          onChange={setGate}
          disabled={locked}
        />
        {stage.trim() === 'production' && (
          <CheckField
            label="Verify the bundle in a fresh virtualenv first (slow)"
            checked={verify}
            onChange={setVerify}
            disabled={locked}
          />
        )}
        {!done && version.gate && <GateResultView gate={version.gate} />}
        <button type="submit" hidden tabIndex={-1} aria-hidden="true" />
      </form>
      <Outcome error={error} done={done && <TransitionDone moved={done} />} />
    </DialogFrame>
  );
}
