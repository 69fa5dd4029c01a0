import { ReactWidget } from '@jupyterlab/apputils';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import { Sidebar } from './components/Sidebar';
import { mlopsIcon } from './icon';
import { MLOpsModel } from './model';
import { ISidebarActions } from './tokens';

export const SIDEBAR_ID = 'jupyter-mlops-sidebar';

/**
 * The left-sidebar panel. It polls the server for changes only while it is visible.
 */
export class MLOpsSidebar extends ReactWidget {
  constructor(
    readonly model: MLOpsModel,
    private readonly actions: ISidebarActions
  ) {
    super();
    this.id = SIDEBAR_ID;
    this.addClass('jp-mlops-panel');
    this.title.icon = mlopsIcon;
    this.title.caption = 'MLOps';
    this.node.setAttribute('role', 'region');
    this.node.setAttribute('aria-label', 'MLOps sidebar');
  }

  protected render(): JSX.Element {
    return <Sidebar model={this.model} actions={this.actions} />;
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this.model.setActive(true);
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this.model.setActive(false);
  }

  protected onBeforeDetach(msg: Message): void {
    this.model.setActive(false);
    super.onBeforeDetach(msg);
  }

  dispose(): void {
    this.model.dispose();
    super.dispose();
  }
}
