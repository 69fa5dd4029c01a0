import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { APIError } from '../errors';
import { MLOpsModel, PAGE_SIZE, problemFor } from '../model';
import { FakeAPI, summary } from './fakeApi';

function storeOf(count: number): FakeAPI {
  const api = new FakeAPI();
  api.runsList = Array.from({ length: count }, (_, i) =>
    summary(`run${String(i).padStart(3, '0')}`, 1000 + i, {
      metrics: { acc: i / count, loss: 1 - i / count },
      status: i % 10 === 3 ? 'failed' : 'finished',
      experiment: i % 2 ? 'odd' : 'even'
    })
  );
  return api;
}

describe('MLOpsModel', () => {
  it('loads experiments and the newest page of runs', async () => {
    const model = new MLOpsModel(storeOf(60));
    await model.refresh();
    expect(model.problem).toBeNull();
    expect(model.experiments.map(e => e.name)).toEqual(['even', 'odd']);
    expect(model.total).toBe(60);
    expect(model.storeTotal).toBe(60);
    expect(model.runs).toHaveLength(PAGE_SIZE);
    expect(model.runs[0].name).toBe('run059');
    expect(model.metricKeys).toEqual(['acc', 'loss']);
    expect(model.metricColumn).toBe('acc');
  });

  it('pages through a large store and stays inside it', async () => {
    const model = new MLOpsModel(storeOf(60));
    await model.refresh();
    expect([model.page, model.pages]).toEqual([1, 3]);
    await model.nextPage();
    await model.nextPage();
    expect(model.page).toBe(3);
    expect(model.runs).toHaveLength(10);
    await model.nextPage();
    expect(model.page).toBe(3);
    await model.previousPage();
    expect(model.query.offset).toBe(PAGE_SIZE);
  });

  it('filters from the first page, and knows it is filtered', async () => {
    const model = new MLOpsModel(storeOf(60));
    await model.refresh();
    await model.nextPage();
    await model.setQuery({ status: 'failed' });
    expect(model.query.offset).toBe(0);
    expect(model.filtered).toBe(true);
    expect(model.total).toBe(6);
    expect(model.runs.every(r => r.status === 'failed')).toBe(true);
    await model.setQuery({ q: 'nothing-like-this' });
    expect(model.total).toBe(0);
    await model.clearFilters();
    expect(model.filtered).toBe(false);
    expect(model.total).toBe(60);
  });

  it('sorts by a column, flipping the order on the second click', async () => {
    const model = new MLOpsModel(storeOf(5));
    await model.refresh();
    await model.sortBy('name');
    expect(model.query).toMatchObject({ sort: 'name', order: 'asc' });
    expect(model.runs[0].name).toBe('run000');
    await model.sortBy('name');
    expect(model.query.order).toBe('desc');
    await model.sortBy('metrics.loss');
    expect(model.query).toMatchObject({ sort: 'metrics.loss', order: 'desc' });
    expect(model.runs[0].name).toBe('run000');
    await model.setMetricKey('acc');
    expect(model.query.sort).toBe('metrics.acc');
    expect(model.runs[0].name).toBe('run004');
  });

  it('tells a missing server extension from an unreadable store', async () => {
    const api = storeOf(1);
    api.fail = { status: 404, message: '404 Not Found', fromAPI: false };
    const model = new MLOpsModel(api);
    await model.refresh();
    expect(model.problem?.kind).toBe('missing');
    api.fail = { status: 503, message: 'cannot open the store at /x: database is corrupt' };
    await model.refresh();
    expect(model.problem).toEqual({
      kind: 'store',
      message: 'cannot open the store at /x: database is corrupt'
    });
    api.fail = null;
    await model.refresh();
    expect(model.problem).toBeNull();
    expect(problemFor(new APIError(0, 'down')).kind).toBe('network');
    expect(problemFor(new Error('odd')).kind).toBe('other');
  });

  it('shows runs that appear while polling, without a reload', async () => {
    const api = storeOf(2);
    const model = new MLOpsModel(api);
    await model.refresh();
    expect(await model.poll()).toBe(true); // no cursor yet: everything is news
    expect(await model.poll()).toBe(false);
    const renders = vi.fn();
    model.subscribe(renders);
    api.runsList.push(summary('live', 5000, { status: 'running' }));
    api.cursor++;
    api.changedRuns = ['01LIVE'];
    expect(await model.poll()).toBe(true);
    expect(model.runs[0]).toMatchObject({ name: 'live', status: 'running' });
    expect(model.fresh.has('01LIVE')).toBe(true);
    expect(renders).toHaveBeenCalled();
    expect(await model.poll()).toBe(false);
    expect(model.fresh.size).toBe(0);
  });

  it('refreshes the open run and the models when they change', async () => {
    const api = storeOf(2);
    const model = new MLOpsModel(api);
    await model.refresh();
    await model.poll();
    await model.openRun('01RUN001');
    expect(model.detail?.run?.name).toBe('run001');
    await model.loadModels();
    api.runsList[1].status = 'failed';
    api.cursor++;
    api.changedRuns = ['01RUN001'];
    api.newEvents = true;
    api.calls = [];
    await model.poll();
    expect(model.detail?.run?.status).toBe('failed');
    expect(api.calls).toContain('models');
  });

  it('a failed poll keeps what is shown and says so', async () => {
    const api = storeOf(2);
    const model = new MLOpsModel(api);
    await model.refresh();
    api.fail = { status: 0, message: 'Cannot reach the Jupyter server' };
    await model.poll();
    expect(model.pollError).toContain('Cannot reach');
    expect(model.runs).toHaveLength(2);
    expect(model.problem).toBeNull();
  });

  it('opens a run with its metric histories and lineage', async () => {
    const api = storeOf(3);
    api.histories = { acc: [0.1, 0.5, 0.9] };
    const model = new MLOpsModel(api);
    await model.openRun('01RUN002');
    expect(model.detail?.loading).toBe(false);
    expect(model.detail?.histories.acc.map(p => p.value)).toEqual([0.1, 0.5, 0.9]);
    expect(model.detail?.lineage?.focus).toBe('01RUN002');
    await model.openRun('01NOPE');
    expect(model.detail?.error).toBe('no run 01NOPE');
    model.closeRun();
    expect(model.detail).toBeNull();
  });

  it('promotes and transitions, reloading the models; refusals are thrown', async () => {
    const api = storeOf(1);
    const model = new MLOpsModel(api);
    const version = await model.promote('m', { run_id: '01RUN000', stage: 'staging' });
    expect(version.stage).toBe('staging');
    expect(model.models.map(m => m.name)).toEqual(['m']);
    const moved = await model.transition('m', 1, { stage: 'production', reason: 'go' });
    expect(moved.checks.verification).toBe('served from a fresh virtualenv');
    expect(model.models[0].versions[0].stage).toBe('production');
    api.promoteError = new APIError(409, 'gate refused: acc 0.5 < 0.9', true);
    await expect(model.promote('m', { run_id: '01RUN000' })).rejects.toThrow('gate refused');
  });

  describe('polling while active', () => {
    beforeEach(() => {
      vi.useFakeTimers();
    });
    afterEach(() => {
      vi.useRealTimers();
    });

    it('polls every interval while active, and stops when hidden', async () => {
      const api = storeOf(1);
      const model = new MLOpsModel(api, { pollInterval: 2000 });
      model.setActive(true);
      await vi.advanceTimersByTimeAsync(6100);
      const calls = api.calls.filter(c => /^(changes|runs)/.test(c)).map(c => c.split(' ')[0]);
      // a cursor first, then the runs, then a poll every 2 s
      expect(calls).toEqual(['changes', 'runs', 'changes', 'changes', 'changes']);
      const polls = calls.filter(c => c === 'changes').length;
      model.setActive(false);
      await vi.advanceTimersByTimeAsync(10000);
      expect(api.calls.filter(c => c.startsWith('changes')).length).toBe(polls);
      model.dispose();
    });
  });

  it('hides archived runs unless asked, and reloads the list after tidying', async () => {
    const api = storeOf(3);
    const model = new MLOpsModel(api);
    await model.refresh();
    await model.openRun('01RUN001');
    const run = await model.updateRun('01RUN001', { archived: true, tags: { k: 'v' } });
    expect(run.archived_at).toBeTruthy();
    expect(model.detail!.run!.tags).toEqual({ k: 'v' });
    expect(model.runs.map(r => r.name)).toEqual(['run002', 'run000']);
    expect([model.storeTotal, model.archivedTotal]).toEqual([2, 1]);
    await model.setShowArchived(true);
    expect(model.runs.map(r => r.name)).toEqual(['run002', 'run001', 'run000']);
    expect(api.calls.at(-1)).toContain('"archived":"include"');  // the keys follow too
    expect(model.filtered).toBe(false);
    const deleted = await model.deleteRun('01RUN001');
    expect(deleted).toEqual(['01RUN001']);
    expect(model.detail).toBeNull();
    expect(model.returnTo).toBe('01RUN000'); // the row that takes its place
    expect(model.runs.map(r => r.name)).toEqual(['run002', 'run000']);
  });
});
