import * as React from 'react';

import { MLOpsModel } from '../model';
import { IModelVersion, IRun, ISidebarActions } from '../tokens';
import { PromoteDialog, TransitionDialog } from './Dialogs';
import { ModelsView } from './ModelsView';
import { RunDetail } from './RunDetail';
import { RunsView } from './RunsView';
import { ProblemState } from './States';
import { useModel } from './useModel';
import { useRovingFocus } from './useRovingFocus';

type Tab = 'runs' | 'models';

const TABS: { id: Tab; label: string }[] = [
  { id: 'runs', label: 'Runs' },
  { id: 'models', label: 'Models' }
];

type DialogState =
  | { kind: 'promote'; run: IRun }
  | { kind: 'transition'; version: IModelVersion }
  | null;

export interface ISidebarProps {
  model: MLOpsModel;
  actions: ISidebarActions;
}

/** The MLOps sidebar: Runs (list and detail) and Models, with their dialogs. */
export function Sidebar({ model, actions }: ISidebarProps): JSX.Element {
  useModel(model);
  const [tab, setTab] = React.useState<Tab>('runs');
  const [dialog, setDialog] = React.useState<DialogState>(null);
  const tabProps = useRovingFocus<HTMLButtonElement>({
    count: TABS.length,
    active: TABS.findIndex(t => t.id === tab),
    onActive: index => setTab(TABS[index].id),
    orientation: 'horizontal',
    wrap: true
  });

  // a run opened from elsewhere (the open-run command, a comparison) shows in the Runs tab
  const openedRun = model.detail?.run?.run_id;
  React.useEffect(() => {
    if (openedRun) {
      setTab('runs');
    }
  }, [openedRun]);

  const openRun = (runId: string) => {
    setTab('runs');
    void model.openRun(runId);
  };
  const promote = async (run: IRun) => {
    if (!model.modelsLoaded) {
      await model.loadModels();
    }
    setDialog({ kind: 'promote', run });
  };

  // a missing extension, an unreadable store or no server: nothing else can be shown
  const problem = model.problem;
  const blocking = problem !== null && problem.kind !== 'other';
  let body: JSX.Element;
  if (problem && blocking) {
    body = <ProblemState problem={problem} onRetry={() => void model.refresh()} />;
  } else if (!model.loaded) {
    body = <p className="jp-mlops-muted jp-mlops-pad">Loading runs…</p>;
  } else if (tab === 'models') {
    body = (
      <ModelsView
        model={model}
        onOpenRun={openRun}
        onTransition={version => setDialog({ kind: 'transition', version })}
      />
    );
  } else if (model.detail) {
    body = <RunDetail model={model} actions={actions} onPromote={run => void promote(run)} />;
  } else {
    body = <RunsView model={model} actions={actions} />;
  }

  return (
    <div className="jp-mlops-sidebar" role="region" aria-label="MLOps">
      <header className="jp-mlops-header">
        <h2 className="jp-mlops-title">MLOps</h2>
        <div role="tablist" aria-label="MLOps views" className="jp-mlops-tabs">
          {TABS.map(({ id, label }, index) => (
            <button
              key={id}
              id={`jp-mlops-tab-${id}`}
              role="tab"
              aria-selected={tab === id}
              aria-controls="jp-mlops-panel"
              className={`jp-mlops-tab${tab === id ? ' jp-mod-active' : ''}`}
              onClick={() => setTab(id)}
              {...tabProps(index)}
            >
              {label}
            </button>
          ))}
        </div>
        <span
          className={`jp-mlops-live${model.pollError ? ' jp-mod-offline' : ''}`}
          title={model.pollError ?? 'New runs appear as they are tracked'}
          aria-label={model.pollError ? 'Live updates paused' : 'Live updates on'}
          role="img"
        >
          ●
        </span>
        <button
          className="jp-mlops-icon-button"
          aria-label="Refresh"
          title="Refresh"
          onClick={() => {
            void model.refresh();
            if (tab === 'models') {
              void model.loadModels();
            }
            if (model.detail?.run) {
              void model.openRun(model.detail.run.run_id, false);
            }
          }}
        >
          ⟳
        </button>
      </header>
      {model.problem && !blocking && (
        <div className="jp-mlops-error jp-mlops-pad" role="alert">
          {model.problem.message}
        </div>
      )}
      <div
        id="jp-mlops-panel"
        role="tabpanel"
        aria-labelledby={`jp-mlops-tab-${tab}`}
        className="jp-mlops-body"
      >
        {body}
      </div>
      {dialog?.kind === 'promote' && (
        <PromoteDialog
          run={dialog.run}
          modelNames={model.models.map(m => m.name)}
          registeredAs={model.registeredAs(dialog.run.run_id)}
          checkGate={expression => model.api.gate(dialog.run.run_id, expression)}
          promote={(name, request) => model.promote(name, request)}
          onClose={() => setDialog(null)}
          onShowModels={() => {
            setDialog(null);
            setTab('models');
          }}
        />
      )}
      {dialog?.kind === 'transition' && (
        <TransitionDialog
          version={dialog.version}
          versions={model.models.find(m => m.name === dialog.version.name)?.versions ?? []}
          transition={(name, version, request) => model.transition(name, version, request)}
          onClose={() => setDialog(null)}
        />
      )}
    </div>
  );
}
