import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Clipboard, ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookActions } from '@jupyterlab/notebook';

import { MLOpsAPI } from './api';
import { MLOpsModel } from './model';
import { ISidebarActions } from './tokens';
import { MLOpsSidebar, SIDEBAR_ID } from './widget';

const OPEN_COMMAND = 'jupyter-mlops:open-sidebar';

/** Notebook and clipboard actions of the run detail, over JupyterLab's services. */
function sidebarActions(
  app: JupyterFrontEnd,
  notebooks: INotebookTracker | null
): ISidebarActions {
  return {
    insertIntoNotebook(source: string) {
      const panel = notebooks?.currentWidget;
      if (!panel) {
        return { ok: false, message: 'Open a notebook first: the cell goes below its active cell.' };
      }
      const notebook = panel.content;
      NotebookActions.insertBelow(notebook);
      NotebookActions.changeCellType(notebook, 'code');
      notebook.activeCell?.model.sharedModel.setSource(source);
      app.shell.activateById(panel.id);
      return { ok: true, message: `Inserted a cell below the active cell of ${panel.title.label}.` };
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
  optional: [INotebookTracker, ILayoutRestorer, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    notebooks: INotebookTracker | null,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null
  ) => {
    const model = new MLOpsModel(new MLOpsAPI(app.serviceManager.serverSettings));
    const sidebar = new MLOpsSidebar(model, sidebarActions(app, notebooks));
    app.shell.add(sidebar, 'left', { rank: 650 });
    restorer?.add(sidebar, SIDEBAR_ID);
    app.commands.addCommand(OPEN_COMMAND, {
      label: 'Open the MLOps sidebar',
      execute: () => app.shell.activateById(SIDEBAR_ID)
    });
    palette?.addItem({ command: OPEN_COMMAND, category: 'MLOps' });
  }
};

export default plugin;
