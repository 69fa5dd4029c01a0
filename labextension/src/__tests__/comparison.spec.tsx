// @vitest-environment jsdom
import * as React from 'react';
import { act } from 'react';
import { describe, expect, it } from 'vitest';

import { ComparisonView } from '../components/ComparisonView';
import { RunsView } from '../components/RunsView';
import { MLOpsModel } from '../model';
import { IPlotlyFigure } from '../tokens';
import { FakeAPI, settle, summary } from './fakeApi';
import { click, mountEachTest } from './dom';

const render = mountEachTest();

function api(): FakeAPI {
  const fake = new FakeAPI();
  fake.runsList = [
    summary('a', 1, { params: { C: 1, solver: 'lbfgs' }, metrics: { acc: 0.8 } }),
    summary('b', 2, { params: { C: 10, solver: 'lbfgs' }, metrics: { acc: 0.9 } }),
    summary('c', 3, { params: { C: 100, solver: 'lbfgs' }, metrics: { acc: 0.7 } })
  ];
  return fake;
}

describe('ComparisonView', () => {
  it('highlights differing params, folds identical ones and draws every curve', async () => {
    const drawn: IPlotlyFigure[] = [];
    const opened: string[] = [];
    await render(
      <ComparisonView
        api={api()}
        runIds={['01A', '01B', '01C']}
        renderFigure={async (figure, host) => {
          drawn.push(figure);
          host.textContent = `${figure.data.length} traces`;
          return () => undefined;
        }}
        onOpenRun={id => opened.push(id)}
        onCopy={() => undefined}
      />
    );
    const params = document.querySelector('table[aria-label="Params"]')!;
    const rows = [...params.querySelectorAll('tbody tr')];
    expect(rows.map(r => r.getAttribute('aria-label'))).toEqual(['C, differs']);
    expect(rows[0].className).toContain('jp-mod-differs');
    expect(rows[0].textContent).toContain('100');
    const fold = [...document.querySelectorAll('button')].find(b =>
      b.textContent?.startsWith('Show 1 identical')
    );
    expect(fold?.getAttribute('aria-expanded')).toBe('false');
    await click(fold);
    expect(params.querySelectorAll('tbody tr')).toHaveLength(2);
    expect(drawn).toHaveLength(1);
    expect(drawn[0].data).toHaveLength(3);
    expect(document.querySelector('[role="figure"]')?.textContent).toContain('3 traces');
    await click([...document.querySelectorAll('button')].find(b => b.textContent === 'b'));
    expect(opened).toEqual(['01B']);
  });

  it('says why a comparison cannot be shown', async () => {
    await render(
      <ComparisonView
        api={api()}
        runIds={['01A', '01NOPE']}
        renderFigure={async () => () => undefined}
        onOpenRun={() => undefined}
        onCopy={() => undefined}
      />
    );
    // the fake answers a missing run with a TypeError; the view shows it, not a blank tab
    expect(document.querySelector('[role="alert"]')?.textContent).toContain(
      'Cannot compare these runs'
    );
  });
});

describe('RunsView selection', () => {
  it('ticks rows (shift-click for a range) and compares the ticked runs', async () => {
    const model = new MLOpsModel(api());
    await model.refresh();
    const compared: string[][] = [];
    const actions = {
      insertIntoNotebook: () => ({ ok: true, message: '' }),
      copy: () => undefined,
      compare: (ids: string[]) => compared.push(ids)
    };
    await render(<RunsView model={model} actions={actions} />);
    const box = (name: string) =>
      document.querySelector(`input[aria-label="Select ${name} to compare"]`);
    await click(box('c'));
    await click(box('a'), { shiftKey: true });
    expect(model.selected).toEqual(['01C', '01B', '01A']);
    // ticking does not open the run
    expect(model.detail).toBeNull();
    const compare = [...document.querySelectorAll('button')].find(b =>
      b.textContent?.startsWith('Compare')
    );
    expect(compare?.textContent).toBe('Compare 3');
    await click(compare);
    expect(compared).toEqual([['01C', '01B', '01A']]);
    await click(document.querySelector('input[aria-label="Select all runs on this page"]'));
    expect(model.selected).toEqual([]);
  });
});

describe('RunsView columns', () => {
  it('chooses metric and param columns from every filtered run, and names stay readable', async () => {
    const fake = new FakeAPI();
    fake.runsList = [
      summary('wine-lr-alpha10.0', 3, { experiment: 'wine', metrics: { accuracy: 0.9 } }),
      summary('wine-lr-alpha100.0', 2, { experiment: 'wine', metrics: { accuracy: 0.8 } }),
      summary('ridge', 1, { experiment: 'diabetes', metrics: { rmse: 52 }, params: { a: 1 } })
    ];
    const model = new MLOpsModel(fake);
    model.query.limit = 2; // the page holds the wine runs only
    await model.refresh();
    await render(<RunsView model={model} />);
    const headers = () =>
      [...document.querySelectorAll('thead th')].map(th => th.textContent?.replace(/[▲▼]/, '').trim());
    expect(headers()).toEqual(['Name', 'Status', 'Started', 'Duration', 'Experiment', 'accuracy']);
    const box = (label: string) =>
      [...document.querySelectorAll('.jp-mlops-columns-menu label')].find(
        l => l.textContent === label
      )?.querySelector('input');
    await click(box('rmse'));
    await click(box('a'));
    expect(headers().slice(-3)).toEqual(['accuracy', 'rmse', 'a']);
    await click(box('accuracy'));
    expect(model.columns).toEqual(['metrics.rmse', 'params.a']);
    // a long name keeps its distinguishing end whole, the full name is its tooltip
    const name = document.querySelector('tbody tr .jp-mlops-name')!;
    expect(name.getAttribute('title')).toBe('wine-lr-alpha10.0');
    expect(name.querySelector('.jp-mlops-run-name-tail')?.textContent).toBe('-alpha10.0');
    // one experiment chosen: no Experiment column
    await act(async () => {
      await model.setQuery({ experiment: 'wine' });
    });
    expect(headers()).not.toContain('Experiment');
  });
});

describe('tags', () => {
  it('shows a run’s tags, and one click lists the runs that carry it', async () => {
    const { Sidebar } = await import('../components/Sidebar');
    const fake = api();
    fake.tags = { '01A': { owner: 'alice' }, '01C': { owner: 'alice' } };
    const model = new MLOpsModel(fake);
    const acts = { insertIntoNotebook: () => ({ ok: true, message: '' }), copy: () => undefined };
    await render(<Sidebar model={model} actions={acts} />);
    await act(async () => {
      await model.refresh();
    });
    await click(document.querySelector('[aria-label="Run a, finished"]'));
    const tag = [...document.querySelectorAll('ul[aria-label="Tags"] button.jp-mlops-tag')];
    expect(tag.map(t => t.textContent)).toEqual(['owner=alice']);
    await click(tag[0]);
    expect(model.query.q).toBe('owner:alice');
    expect(model.runs.map(r => r.name)).toEqual(['c', 'a']);
    expect(document.querySelector<HTMLInputElement>('input[type="search"]')!.value).toBe(
      'owner:alice'
    );
  });
});
