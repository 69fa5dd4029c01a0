import { describe, expect, it } from 'vitest';

import { MLOpsModel, PAGE_SIZE } from '../model';
import { FakeAPI, summary } from './fakeApi';

function storeOf(count: number): FakeAPI {
  const api = new FakeAPI();
  api.runsList = Array.from({ length: count }, (_, i) =>
    summary(`run${String(i).padStart(3, '0')}`, 1000 + i, {
      // the newest page has accuracy only; rmse exists only on older runs
      metrics: i >= count - PAGE_SIZE ? { accuracy: i / count } : { rmse: i },
      params: i < 5 ? { alpha: i } : { C: i },
      experiment: i >= count - PAGE_SIZE ? 'cls' : 'reg'
    })
  );
  return api;
}

describe('selecting runs to compare', () => {
  it('ticks runs one by one, by shift-click range, and the whole page', async () => {
    const model = new MLOpsModel(storeOf(30));
    await model.refresh();
    const ids = model.runs.map(r => r.run_id);
    model.toggleSelected(ids[1]);
    model.toggleSelected(ids[4], true);
    expect(model.selected).toEqual(ids.slice(1, 5));
    // a shift-click that unticks unticks the range back to the last click
    model.toggleSelected(ids[2], true);
    expect(model.selected).toEqual([ids[1]]);
    model.togglePage();
    expect(model.pageSelected).toBe(true);
    expect(model.selected).toHaveLength(PAGE_SIZE);
    // the selection survives paging: ticks on two pages add up
    await model.nextPage();
    model.toggleSelected(model.runs[0].run_id);
    expect(model.selected).toHaveLength(PAGE_SIZE + 1);
    expect(model.pageSelected).toBe(false);
    await model.previousPage();
    model.togglePage();
    expect(model.selected).toHaveLength(1);
    model.clearSelection();
    expect(model.selected).toEqual([]);
  });
});

describe('the metric column', () => {
  it('offers the keys of every filtered run, not only those on the page', async () => {
    const api = storeOf(40);
    const model = new MLOpsModel(api);
    await model.refresh();
    expect(model.runs.every(r => !('rmse' in r.metrics))).toBe(true);
    expect(model.metricKeys).toEqual(['accuracy', 'rmse']);
    expect(model.keys?.params).toEqual(['C', 'alpha']);
    expect(model.metricColumn).toBe('accuracy');
  });

  it('defaults to a metric the filtered runs have, and reloads keys when filters change', async () => {
    const api = storeOf(40);
    const model = new MLOpsModel(api);
    await model.refresh();
    await model.setMetricKey('accuracy');
    await model.setQuery({ experiment: 'reg' });
    expect(model.metricKeys).toEqual(['rmse']);
    expect(model.metricColumn).toBe('rmse');
    const asked = api.calls.filter(c => c.startsWith('keys')).length;
    await model.sortBy('name');
    expect(api.calls.filter(c => c.startsWith('keys')).length).toBe(asked);
    await model.setQuery({ experiment: '' });
    expect(model.metricColumn).toBe('accuracy');
  });
});

describe('leaving a run', () => {
  it('remembers the run to give its row the focus back, even before it loaded', async () => {
    const model = new MLOpsModel(storeOf(3));
    await model.refresh();
    const id = model.runs[1].run_id;
    const opening = model.openRun(id);
    model.closeRun(); // "‹ Runs" while the detail still says Loading…
    expect(model.returnTo).toBe(id);
    await opening;
    expect(model.detail).toBeNull();
  });
});
