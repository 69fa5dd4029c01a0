import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  Clipboard,
  ICommandPalette,
  MainAreaWidget,
  WidgetTracker
} from '@jupyterlab/apputils';
import { INotebookTracker, NotebookActions } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';

import { MLOpsAPI } from './api';
import { ComparisonPanel, comparisonWidget } from './comparison';
import { MLOpsModel } from './model';
import { ISidebarActions } from './tokens';
import { MLOpsSidebar, SIDEBAR_ID } from './widget';

const OPEN_COMMAND = 'jupyter-mlops:open-sidebar';
/** Open a run's detail in the sidebar: `{runId}` (an id, unique prefix or run name). */
const OPEN_RUN_COMMAND = 'jupyter-mlops:open-run';
/** Compare runs in a main-area tab: `{runs: [id, ...]}`. */
const COMPARE_COMMAND = 'jupyter-mlops:compare';

/** Notebook and clipboard actions of the run detail, over JupyterLab's services. */
function sidebarActions(
  app: JupyterFrontEnd,
  notebooks: INotebookTracker | null
): ISidebarActions {
  return {
    compare(runIds: string[]) {
      void app.commands.execute(COMPARE_COMMAND, { runs: runIds });
    },
    insertIntoNotebook(sources: string[]) {
      const panel = notebooks?.currentWidget;
      if (!panel) {
        return { ok: false, message: 'Open a notebook first: the cell goes below its active cell.' };
      }
      const notebook = panel.content;
      for (const source of sources) {
        NotebookActions.insertBelow(notebook);
        NotebookActions.changeCellType(notebook, 'code');
        notebook.activeCell?.model.sharedModel.setSource(source);
      }
      app.shell.activateById(panel.id);
      const cells = sources.length === 1 ? 'a cell' : `${sources.length} cells`;
      return {
        ok: true,
        message: `Inserted ${cells} below the active cell of ${panel.title.label}.`
      };
    },
    copy(text: string) {
      Clipboard.copyToSystem(text);
    }
  };
}

/** The MLOps sidebar: runs, lineage and models of the jupyter-mlops store. */
const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-mlops:sidebar',
  description: 'A left sidebar with the runs, lineage and models of the jupyter-mlops store.',
  autoStart: true,
  optional: [INotebookTracker, ILayoutRestorer, ICommandPalette, IRenderMimeRegistry],
  activate: (
    app: JupyterFrontEnd,
    notebooks: INotebookTracker | null,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    rendermime: IRenderMimeRegistry | null
  ) => {
    const api = new MLOpsAPI(app.serviceManager.serverSettings);
    const model = new MLOpsModel(api);
    const actions = sidebarActions(app, notebooks);
    const sidebar = new MLOpsSidebar(model, actions);
    app.shell.add(sidebar, 'left', { rank: 650 });
    restorer?.add(sidebar, SIDEBAR_ID);
    app.commands.addCommand(OPEN_COMMAND, {
      label: 'Open the MLOps sidebar',
      execute: () => app.shell.activateById(SIDEBAR_ID)
    });
    palette?.addItem({ command: OPEN_COMMAND, category: 'MLOps' });

    app.commands.addCommand(OPEN_RUN_COMMAND, {
      label: args => (args.runId ? `Open run ${args.runId}` : 'Open a run in the MLOps sidebar'),
      describedBy: {
        args: {
          type: 'object',
          properties: { runId: { type: 'string', description: 'run id, prefix or name' } },
          required: ['runId']
        }
      },
      execute: async args => {
        const runId = String(args.runId ?? '').trim();
        if (!runId) {
          return;
        }
        app.shell.activateById(SIDEBAR_ID);
        await model.openRun(runId);
      }
    });

    // comparisons live in the main area; the runs they compare are kept in the workspace,
    // so a reload reopens them
    const comparisons = new WidgetTracker<MainAreaWidget<ComparisonPanel>>({
      namespace: 'jupyter-mlops-compare'
    });
    app.commands.addCommand(COMPARE_COMMAND, {
      label: args =>
        Array.isArray(args.runs) ? `Compare ${args.runs.length} runs` : 'Compare runs',
      describedBy: {
        args: {
          type: 'object',
          properties: { runs: { type: 'array', items: { type: 'string' } } },
          required: ['runs']
        }
      },
      execute: async args => {
        const runIds = (Array.isArray(args.runs) ? args.runs : []).map(String);
        if (runIds.length < 2) {
          return;
        }
        const open = comparisons.find(w => w.content.runIds.join(',') === runIds.join(','));
        if (open) {
          app.shell.activateById(open.id);
          return open;
        }
        const panel = new ComparisonPanel(runIds, {
          api,
          rendermime,
          openRun: runId => void app.commands.execute(OPEN_RUN_COMMAND, { runId }),
          copy: text => actions.copy(text)
        });
        const widget = comparisonWidget(panel);
        app.shell.add(widget, 'main');
        await comparisons.add(widget);
        app.shell.activateById(widget.id);
        return widget;
      }
    });
    void restorer?.restore(comparisons, {
      command: COMPARE_COMMAND,
      args: widget => ({ runs: widget.content.runIds }),
      name: widget => widget.content.runIds.join(',')
    });  }
};

export default plugin;
