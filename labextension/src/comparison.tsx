import { MainAreaWidget, ReactWidget } from '@jupyterlab/apputils';
import { IRenderMimeRegistry, MimeModel } from '@jupyterlab/rendermime';
import { Widget } from '@lumino/widgets';
import * as React from 'react';

import { ComparisonView, FigureRenderer } from './components/ComparisonView';
import { mlopsIcon } from './icon';
import { IMLOpsAPI, IPlotlyFigure } from './tokens';

export const PLOTLY_MIME = 'application/vnd.plotly.v1+json';

/**
 * Draw figures with JupyterLab's own plotly renderer (the `jupyterlab-plotly` mime extension
 * that ships in the plotly wheel), as notebook outputs are drawn: no second chart library.
 */
export function plotlyRenderer(rendermime: IRenderMimeRegistry | null): FigureRenderer {
  return async (figure: IPlotlyFigure, host: HTMLElement) => {
    const data = { [PLOTLY_MIME]: figure as any };
    if (!rendermime || rendermime.preferredMimeType(data, 'any') !== PLOTLY_MIME) {
      throw new Error(
        'JupyterLab has no plotly renderer: install plotly in the environment of the ' +
          'Jupyter server (pip install plotly) and reload.'
      );
    }
    const renderer = rendermime.createRenderer(PLOTLY_MIME);
    Widget.attach(renderer, host);
    await renderer.renderModel(new MimeModel({ data }));
    return () => renderer.dispose();
  };
}

/** The body of a comparison tab: the runs it compares are its state (kept in the workspace). */
export class ComparisonPanel extends ReactWidget {
  constructor(
    readonly runIds: string[],
    private readonly options: {
      api: IMLOpsAPI;
      rendermime: IRenderMimeRegistry | null;
      openRun: (runId: string) => void;
      copy: (text: string) => void;
    }
  ) {
    super();
    this.addClass('jp-mlops-compare-panel');
  }

  protected render(): JSX.Element {
    return (
      <ComparisonView
        api={this.options.api}
        runIds={this.runIds}
        renderFigure={plotlyRenderer(this.options.rendermime)}
        onOpenRun={this.options.openRun}
        onCopy={this.options.copy}
      />
    );
  }
}

/** A main-area tab comparing runs. */
export function comparisonWidget(panel: ComparisonPanel): MainAreaWidget<ComparisonPanel> {
  const widget = new MainAreaWidget({ content: panel });
  widget.id = `jupyter-mlops-compare-${panel.runIds.join('-')}`;
  widget.title.label = `Compare ${panel.runIds.length} runs`;
  widget.title.caption = `MLOps: runs ${panel.runIds.join(', ')}`;
  widget.title.icon = mlopsIcon;
  widget.title.closable = true;
  return widget;
}
