// @vitest-environment jsdom
import * as React from 'react';
import { act } from 'react';
import { describe, expect, it, vi } from 'vitest';

import { LineageGraph } from '../components/LineageGraph';
import { PromoteDialog } from '../components/Dialogs';
import { Sidebar } from '../components/Sidebar';
import { Sparkline } from '../components/Sparkline';
import { APIError } from '../errors';
import { MLOpsModel } from '../model';
import { ISidebarActions } from '../tokens';
import {
  approvalRequest,
  FakeAPI,
  fullRun,
  modelVersion,
  settle,
  summary
} from './fakeApi';
import { click, mountEachTest } from './dom';

const render = mountEachTest();

/** Type into a React-controlled input or textarea. */
async function type(input: HTMLInputElement | HTMLTextAreaElement, value: string): Promise<void> {
  await act(async () => {
    const proto =
      input instanceof HTMLTextAreaElement ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype;
    const setter = Object.getOwnPropertyDescriptor(proto, 'value')!.set!;
    setter.call(input, value);
    input.dispatchEvent(new Event('input', { bubbles: true }));
    await settle();
  });
}

/** Focus an element, then press keys on whatever has the focus. */
async function press(element: HTMLElement, ...keys: string[]): Promise<void> {
  await act(async () => element.focus());
  for (const key of keys) {
    await act(async () => {
      document.activeElement!.dispatchEvent(
        new KeyboardEvent('keydown', { key, bubbles: true, cancelable: true })
      );
      await settle();
    });
  }
}

/** Type into the text field, or set the checkbox, labelled `label` (inside its <label>). */
async function fill(label: string, value: string | boolean): Promise<void> {
  const field = [...document.querySelectorAll('label')]
    .find(l => l.textContent?.trim().startsWith(label))!
    .querySelector('input')!;
  await act(async () => {
    if (typeof value === 'boolean') {
      if (field.checked !== value) {
        field.click();
      }
    } else {
      const setter = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')!.set!;
      setter.call(field, value);
      field.dispatchEvent(new Event('input', { bubbles: true }));
    }
    await settle();
  });
}

function byLabel(label: string): HTMLElement | null {
  return document.querySelector(`[aria-label="${label}"]`);
}

function button(text: string): HTMLButtonElement | undefined {
  return [...document.querySelectorAll('button')].find(
    b => b.textContent?.trim() === text || b.getAttribute('aria-label') === text
  );
}

const actions = (): ISidebarActions & { inserted: string[]; copied: string[] } => {
  const inserted: string[] = [];
  const copied: string[] = [];
  return {
    inserted,
    copied,
    insertIntoNotebook: (sources: string[]) => {
      inserted.push(...sources);
      return { ok: true, message: 'Inserted a cell.' };
    },
    copy: (text: string) => copied.push(text)
  };
};

async function sidebarWith(api: FakeAPI, acts = actions()): Promise<MLOpsModel> {
  const model = new MLOpsModel(api);
  await render(<Sidebar model={model} actions={acts} />);
  await act(async () => {
    await model.refresh();
  });
  return model;
}

describe('Sidebar', () => {
  it('tells a newcomer how to track a first run', async () => {
    await sidebarWith(new FakeAPI());
    const note = byLabel('No runs yet');
    expect(note?.textContent).toContain('%load_ext jupyter_mlops');
    expect(note?.textContent).toContain('%%track');
  });

  it('says when the server extension is missing, and when the store is unreadable', async () => {
    const api = new FakeAPI();
    api.fail = { status: 404, message: 'Not Found', fromAPI: false };
    const model = await sidebarWith(api);
    expect(document.querySelector('[role="alert"]')?.textContent).toContain(
      'server extension is not running'
    );
    api.fail = { status: 503, message: 'the store at /x cannot be opened: disk I/O error' };
    await act(async () => {
      await model.refresh();
    });
    const alert = document.querySelector('[role="alert"]')!.textContent!;
    expect(alert).toContain('The MLOps store cannot be opened');
    expect(alert).toContain('disk I/O error');
    api.fail = null;
    await click(button('Retry')!);
    expect(byLabel('No runs yet')).not.toBeNull();
  });

  it('lists runs, marks failed ones, and sorts by a column header', async () => {
    const api = new FakeAPI();
    api.runsList = [
      summary('good', 1, { metrics: { acc: 0.9 } }),
      summary('bad', 2, { status: 'failed', metrics: {} })
    ];
    const model = await sidebarWith(api);
    const rows = document.querySelectorAll('table[aria-label="Runs"] tbody tr');
    expect([...rows].map(r => r.getAttribute('aria-label'))).toEqual([
      'Run bad, failed',
      'Run good, finished'
    ]);
    expect(rows[0].className).toContain('jp-mlops-row-failed');
    expect(rows[1].textContent).toContain('0.9');
    await click(byLabel('Sort by Name'));
    expect(model.query).toMatchObject({ sort: 'name', order: 'asc' });
    expect(byLabel('Sort by Name')!.closest('th')!.getAttribute('aria-sort')).toBe('ascending');
    expect(
      document.querySelector('table[aria-label="Runs"] tbody tr')!.getAttribute('aria-label')
    ).toBe('Run bad, failed');
    expect(byLabel('Page')!.textContent).toBe('1–2 of 2');
  });

  it('opens a run, inserts and copies its source, and goes back', async () => {
    const api = new FakeAPI();
    api.runsList = [summary('train', 1)];
    api.histories = { acc: [0.2, 0.4, 0.5] };
    const acts = actions();
    await sidebarWith(api, acts);
    await click(byLabel('Run train, finished'));
    const detail = byLabel('Run train')!;
    expect(detail.textContent).toContain('LogisticRegression');
    expect(detail.querySelector('svg[role="img"]')!.getAttribute('aria-label')).toContain(
      'acc history: 3 values'
    );
    await click(button('Insert into notebook')!);
    // a cell that runs: the %%track line, then the source
    expect(acts.inserted).toEqual(['%%track train -e exp\nmodel = fit()  # train']);
    expect(document.querySelector('[role="status"]')!.textContent).toBe('Inserted a cell.');
    await click(button('Copy')!);
    expect(acts.copied).toEqual(['model = fit()  # train']);
    await click(byLabel('Back to runs'));
    expect(byLabel('Runs')).not.toBeNull();
    // the focus is back on the row the detail was opened from
    expect(document.activeElement).toBe(byLabel('Run train, finished'));
    // and Escape leaves a run's detail too
    await click(byLabel('Run train, finished'));
    await press(byLabel('Run train')!.querySelector('h2')!, 'Escape');
    expect(byLabel('Run train')).toBeNull();
    expect(document.activeElement).toBe(byLabel('Run train, finished'));
  });

  it('promotes from a run and shows the model in the Models view', async () => {
    const api = new FakeAPI();
    api.runsList = [summary('train', 1)];
    await sidebarWith(api);
    await click(byLabel('Run train, finished'));
    await click(button('Promote…')!);
    const dialog = document.querySelector('[role="dialog"]')!;
    expect(dialog.textContent).toContain('Promote the model of run train');
    // never registered: no name is offered (not the first name in the registry)
    const name = dialog.querySelector<HTMLInputElement>('input')!;
    expect(name.value).toBe('');
    await type(name, 'wine');
    await click(button('Promote')!);
    expect(document.querySelector('[role="dialog"] [role="status"]')!.textContent).toContain(
      'Registered wine version 1'
    );
    await click(button('Close')!);
    await click(button('Promote…')!);
    // registered once: that name is preselected
    expect(document.querySelector<HTMLInputElement>('[role="dialog"] input')!.value).toBe('wine');
    await click(button('Cancel')!);
    await click(byLabel('Back to runs'));
    await click(byLabel('Run train, finished'));
    await click(button('Promote…')!);
    await type(document.querySelector<HTMLInputElement>('[role="dialog"] input')!, 'train');
    await click(button('Promote')!);
    await click(button('Show in Models')!);
    expect(document.querySelector('[role="dialog"]')).toBeNull();
    const row = byLabel('train version 1')!;
    expect(row.textContent).toContain('staging');
    await click(byLabel('Transition train version 1'));
    expect(byLabel('What moves')!.textContent).toBe(
      'No version of train is in production now: none is archived.'
    );
    await click(button('Transition')!);
    const moving = '{"stage":"production","verify":true}';
    expect(api.calls).toContain(`transition train 1 ${moving}`);
    expect(document.querySelector('[role="alert"]')!.textContent).toContain('needs a reason');
    await fill('Reason', 'checked by hand');
    await fill('Verify the bundle in a fresh virtualenv first (slow)', false);
    await click(button('Transition')!);
    const sent = '{"stage":"production","reason":"checked by hand","verify":false}';
    expect(api.calls).toContain(`transition train 1 ${sent}`);
    const status = document.querySelector('[role="dialog"] [role="status"]')!.textContent;
    expect(status).toContain('Moved train version 1 to production');
    expect(status).toContain('Verification: skipped (verify=False)');
  });
});

describe('Tidying a run', () => {
  const rowNames = () =>
    [...document.querySelectorAll('table[aria-label="Runs"] tbody tr')].map(r =>
      r.getAttribute('aria-label')
    );

  it('adds, searches and removes tags, and refuses a bad key with the reason', async () => {
    const api = new FakeAPI();
    api.runsList = [summary('train', 1), summary('other', 2)];
    const model = await sidebarWith(api);
    await click(byLabel('Run train, finished'));
    expect(byLabel('Run train')!.textContent).toContain('No tags.');
    const field = byLabel('New tag (key=value)') as HTMLInputElement;
    await type(field, 'no equals sign');
    await click(button('Add tag'));
    expect(document.querySelector('[role="alert"]')!.textContent).toContain('key=value');
    await type(field, '1st=x');
    await click(button('Add tag'));
    expect(document.querySelector('[role="alert"]')!.textContent).toContain('not a tag key');
    expect(api.calls.some(c => c.startsWith('updateRun'))).toBe(false);
    await type(field, 'owner = alice');
    await click(button('Add tag'));
    expect(api.calls).toContain('updateRun 01TRAIN {"tags":{"owner":"alice"}}');
    expect(field.value).toBe('');
    expect(document.querySelector('[role="alert"]')).toBeNull();
    await click(button('owner=alice'));
    expect(model.query.q).toBe('owner:alice');
    expect(rowNames()).toEqual(['Run train, finished']);
    await click(byLabel('Run train, finished'));
    await click(button('Remove tag owner'));
    expect(api.calls).toContain('updateRun 01TRAIN {"remove_tags":["owner"]}');
    expect(byLabel('Run train')!.textContent).toContain('No tags.');
  });

  it('saves a note and shows it again', async () => {
    const api = new FakeAPI();
    api.runsList = [summary('train', 1)];
    const model = await sidebarWith(api);
    await click(byLabel('Run train, finished'));
    expect(button('Save note')!.disabled).toBe(true);
    await type(byLabel('Run note') as HTMLTextAreaElement, 'overfits: try C=0.1');
    await click(button('Save note'));
    expect(api.calls).toContain('updateRun 01TRAIN {"note":"overfits: try C=0.1"}');
    expect(model.detail!.run!.note).toBe('overfits: try C=0.1');
    expect(button('Save note')!.disabled).toBe(true);
    await click(byLabel('Back to runs'));
    await click(byLabel('Run train, finished'));
    expect((byLabel('Run note') as HTMLTextAreaElement).value).toBe('overfits: try C=0.1');
  });

  it('archives a run out of the list, shows archived runs on request, restores it', async () => {
    const api = new FakeAPI();
    api.runsList = [summary('train', 1), summary('other', 2)];
    const model = await sidebarWith(api);
    await click(byLabel('Run train, finished'));
    await click(button('Archive'));
    expect(byLabel('Run train')!.textContent).toContain('archived');
    await click(byLabel('Back to runs'));
    expect(rowNames()).toEqual(['Run other, finished']);
    const toggle = [...document.querySelectorAll('label')].find(l =>
      l.textContent?.startsWith('Show archived')
    )!;
    expect(toggle.textContent).toBe('Show archived (1)');
    await click(toggle.querySelector('input'));
    expect(model.query.archived).toBe('include');
    expect(rowNames()).toEqual(['Run other, finished', 'Run train, finished, archived']);
    await click(byLabel('Run train, finished, archived'));
    await click(button('Restore'));
    await click(byLabel('Back to runs'));
    expect(rowNames()).toEqual(['Run other, finished', 'Run train, finished']);
  });

  it('offers the archived runs when every run is archived', async () => {
    const api = new FakeAPI();
    api.runsList = [summary('train', 1, { archived_at: 5 })];
    const model = await sidebarWith(api);
    expect(byLabel('No runs yet')).toBeNull();
    expect(byLabel('All runs archived')!.textContent).toContain('All 1 run is archived.');
    await click(button('Show archived'));
    expect(model.showsArchived).toBe(true);
    expect(rowNames()).toEqual(['Run train, finished, archived']);
  });

  it('deletes only after a confirmation naming the run, and shows a refusal', async () => {
    const api = new FakeAPI();
    const train = summary('train', 1);
    api.runsList = [train, summary('other', 2)];
    api.models_ = [{ name: 'wine', latest_version: 1, versions: [modelVersion('wine', 1, train)] }];
    await sidebarWith(api);
    await click(byLabel('Run train, finished'));
    await click(button('Delete…'));
    const dialog = document.querySelector('[role="dialog"]')!;
    expect(dialog.textContent).toContain('Delete run train?');
    expect(dialog.textContent).toContain('cannot be undone');
    await click(button('Cancel'));
    expect(document.querySelector('[role="dialog"]')).toBeNull();
    expect(api.calls.some(c => c.startsWith('deleteRun'))).toBe(false);
    await click(button('Delete…'));
    await click(button('Delete train'));
    const refusal = document.querySelector('[role="dialog"] [role="alert"]')!.textContent;
    expect(refusal).toContain('wine/1');
    expect(refusal).not.toContain('01TRAIN');
    await click(button('Cancel'));
    api.models_ = [];
    await click(button('Delete…'));
    await click(button('Delete train'));
    expect(api.calls).toContain('deleteRun 01TRAIN');
    expect(document.querySelector('[role="dialog"]')).toBeNull();
    expect(byLabel('Run train')).toBeNull();
    expect(rowNames()).toEqual(['Run other, finished']);
    expect(document.activeElement).toBe(byLabel('Run other, finished'));
  });

  it('does not offer Delete for a running run', async () => {
    const api = new FakeAPI();
    api.runsList = [summary('live', 1, { status: 'running' })];
    await sidebarWith(api);
    await click(byLabel('Run live, running'));
    expect(button('Delete…')!.disabled).toBe(true);
  });
});

describe('Sidebar keyboard', () => {
  const all = (selector: string) => [...document.querySelectorAll<HTMLElement>(selector)];
  const tabIndexes = (elements: HTMLElement[]) => elements.map(e => e.tabIndex);

  it('moves between the tabs with Left/Right, Home and End, activating them', async () => {
    await sidebarWith(new FakeAPI());
    const [runs, models] = all('[role="tablist"] [role="tab"]');
    const panel = document.querySelector('[role="tabpanel"]')!;
    expect(tabIndexes([runs, models])).toEqual([0, -1]);
    expect(panel.getAttribute('aria-labelledby')).toBe(runs.id);

    await press(runs, 'ArrowRight');
    expect(document.activeElement).toBe(models);
    expect(models.getAttribute('aria-selected')).toBe('true');
    expect(runs.getAttribute('aria-selected')).toBe('false');
    expect(tabIndexes([runs, models])).toEqual([-1, 0]);
    expect(panel.getAttribute('aria-labelledby')).toBe(models.id);
    expect(byLabel('No registered models')).not.toBeNull();

    for (const [key, expected] of [
      ['ArrowRight', runs], // past the last tab comes the first
      ['ArrowLeft', models],
      ['Home', runs],
      ['End', models]
    ] as const) {
      await press(document.activeElement as HTMLElement, key);
      expect(document.activeElement).toBe(expected);
      expect(expected.getAttribute('aria-selected')).toBe('true');
    }
  });

  it('moves between runs with Up/Down (one row in the Tab order), Enter opens one', async () => {
    const api = new FakeAPI();
    api.runsList = [summary('a', 1), summary('b', 2), summary('c', 3)];
    await sidebarWith(api);
    const rows = all('table[aria-label="Runs"] tbody tr');
    expect(tabIndexes(rows)).toEqual([0, -1, -1]);

    await press(rows[0], 'ArrowDown');
    expect(document.activeElement).toBe(rows[1]);
    expect(tabIndexes(rows)).toEqual([-1, 0, -1]);
    await press(rows[1], 'ArrowDown', 'ArrowDown');
    expect(document.activeElement).toBe(rows[2]); // the last row stays
    await press(rows[2], 'ArrowUp', 'Enter');
    expect(api.calls).toContain('run 01B');
    expect(byLabel('Run b')).not.toBeNull();
  });

  it('names each version’s run; Up/Down cross the models, Enter opens the run', async () => {
    const api = new FakeAPI();
    const [prep, train] = [summary('prep', 1), summary('train', 2)];
    api.runsList = [prep, train];
    api.models_ = [
      {
        name: 'm',
        latest_version: 2,
        versions: [modelVersion('m', 2, train), modelVersion('m', 1, prep)]
      },
      { name: 'n', latest_version: 1, versions: [modelVersion('n', 1, train)] }
    ];
    await sidebarWith(api);
    await click(button('Models')!);
    const link = byLabel('Open run train')!;
    expect(link.textContent).toBe('train');
    expect(link.title).toBe('01TRAIN');
    const rows = all('[aria-label^="Versions of"] tbody tr');
    expect(rows.map(r => r.getAttribute('aria-label'))).toEqual([
      'm version 2',
      'm version 1',
      'n version 1'
    ]);
    expect(tabIndexes(rows)).toEqual([0, -1, -1]);

    await press(rows[0], 'ArrowDown', 'ArrowDown');
    expect(document.activeElement).toBe(rows[2]);
    await press(rows[2].querySelector('button')!, 'ArrowUp', 'Enter'); // a button keeps its keys
    expect(api.calls).not.toContain('run 01TRAIN');
    await press(rows[2], 'ArrowUp', 'Enter');
    expect(api.calls).toContain('run 01PREP');
    expect(byLabel('Run prep')).not.toBeNull();
    expect(all('[role="tab"][aria-selected="true"]').map(t => t.textContent)).toEqual(['Runs']);
  });
});

describe('Pending approvals', () => {
  function waiting(user: string, extra = {}): FakeAPI {
    const api = new FakeAPI();
    const train = summary('train', 1);
    api.runsList = [train];
    const version = modelVersion('wine', 2, train, {
      pending: { request: 1, stage: 'production', expires_at: 1e10 }
    });
    api.models_ = [{ name: 'wine', latest_version: 2, versions: [version] }];
    api.approvals_ = [approvalRequest(version, 'production', extra)];
    api.user = user;
    return api;
  }

  it('lists the waiting moves; an approver approves, and the version moves', async () => {
    const api = waiting('bob');
    await sidebarWith(api);
    await click(button('Models')!);
    const request = byLabel('Request 1: wine/2 to production')!;
    expect(request.textContent).toContain('asked by alice');
    expect(request.textContent).toContain('better on May data');
    expect(request.textContent).toContain('1 more approval needed');
    expect(byLabel('wine version 2')!.textContent).toContain('→ production?');
    await click(button('Approve request 1')!);
    expect(api.calls).toContain('decide 1 approve');
    expect(byLabel('Pending approvals')).toBeNull(); // reloaded: nothing waits any more
    expect(byLabel('Approval outcome')!.textContent).toBe('wine/2 moved to production');
    expect(byLabel('wine version 2')!.textContent).toContain('production');
    expect(byLabel('wine version 2')!.textContent).not.toContain('?');
  });

  it('offers no buttons to the requester, nor to a user the policy does not name', async () => {
    await sidebarWith(waiting('alice'));
    await click(button('Models')!);
    expect(button('Approve request 1')).toBeUndefined();
    expect(byLabel('Request 1: wine/2 to production')!.textContent).toContain(
      'you asked for this move'
    );
  });

  const leads = {
    stage: 'production',
    approvers: 1,
    requester_may_approve: false,
    allowed: ['@leads'],
    expires_after: 604800
  };

  it('offers the buttons to a group member the server says may decide', async () => {
    await sidebarWith(waiting('dave', { refusal: null, policy: leads }));
    await click(button('Models')!);
    expect(button('Approve request 1')).toBeDefined();
  });

  it('shows why the server says a user may not decide', async () => {
    const refusal = 'erin may not approve moves to production: the policy allows @leads';
    await sidebarWith(waiting('erin', { refusal, policy: leads }));
    await click(button('Models')!);
    expect(button('Approve request 1')).toBeUndefined();
    expect(byLabel('Request 1: wine/2 to production')!.textContent).toContain(refusal);
  });

  it('shows the server’s refusal, and rejects', async () => {
    const api = waiting('carol');
    api.decideError = new APIError(403, 'request 1: carol may not approve moves', true);
    await sidebarWith(api);
    await click(button('Models')!);
    await click(button('Approve request 1')!);
    expect(byLabel('Approval outcome')!.textContent).toBe(
      'request 1: carol may not approve moves'
    );
    api.decideError = null;
    await click(button('Reject request 1')!);
    expect(api.calls).toContain('decide 1 reject');
    expect(byLabel('Pending approvals')).toBeNull();
    expect(byLabel('Approval outcome')!.textContent).toBe('request 1 rejected');
  });
});

describe('PromoteDialog', () => {
  it('shows a refusal as the gate’s conditions, keeps focus inside, Escape closes', async () => {
    const onClose = vi.fn();
    const promote = vi.fn(async () => {
      throw new APIError(409, 'gate refused the promotion of run 01TRAIN to fraud: …', true);
    });
    const api = new FakeAPI();
    const run = summary('train', 1, { metrics: { acc: 0.5, f1: 0.7 } });
    api.runsList = [run];
    await render(
      <PromoteDialog
        run={fullRun(run)}
        modelNames={['fraud']}
        registeredAs="fraud"
        checkGate={expression => api.gate(run.run_id, expression)}
        promote={promote}
        onClose={onClose}
      />
    );
    // the run's metrics sit beside the gate field, and the gate is checked while typing
    expect(byLabel("This run's metrics")!.textContent).toBe('acc 0.5f1 0.7');
    const gate = document.querySelector<HTMLInputElement>('input[placeholder^="e.g."]')!;
    await type(gate, 'acc>=0.9 and f1>=0.6');
    await act(async () => {
      await new Promise(resolve => setTimeout(resolve, 350));
      await settle();
    });
    expect(byLabel('Gate preview')!.textContent).toContain('✕ acc >= 0.9');
    await click(button('Promote')!);
    expect(promote).toHaveBeenCalledWith('fraud', {
      run_id: '01TRAIN',
      stage: 'staging',
      gate: 'acc>=0.9 and f1>=0.6',
      verify: false
    });
    expect(document.querySelector('[role="alert"]')!.textContent).toBe(
      'The gate refused this promotion: nothing was registered.'
    );
    const refusal = byLabel('Gate refusal')!;
    expect([...refusal.querySelectorAll('li')].map(li => li.textContent)).toEqual([
      '✕ acc >= 0.9 (value 0.5, threshold 0.9)',
      '✓ f1 >= 0.6 (value 0.7, threshold 0.6)'
    ]);
    expect(document.body.textContent).not.toContain('01TRAIN');
    // the focus stayed in the dialog, so Escape closes it
    expect(document.querySelector('[role="dialog"]')!.contains(document.activeElement)).toBe(true);
    await press(document.activeElement as HTMLElement, 'Escape');
    expect(onClose).toHaveBeenCalled();
  });

  it('names run ids readably in other refusals', async () => {
    const promote = vi.fn(async () => {
      throw new APIError(409, 'the bundle of run 01TRAIN failed verification; 01J9ZZZZZZZZZZZZZZZZZZZZZZ', true);
    });
    await render(
      <PromoteDialog
        run={fullRun(summary('train', 1))}
        modelNames={[]}
        registeredAs="fraud"
        promote={promote}
        onClose={() => undefined}
      />
    );
    await click(button('Promote')!);
    expect(document.querySelector('[role="alert"]')!.textContent).toBe(
      'the bundle of run train failed verification; 01J9ZZZZZZ…'
    );
  });
});

describe('charts', () => {
  it('draws a lineage graph whose run nodes open runs', async () => {
    const onOpenRun = vi.fn();
    await render(
      <LineageGraph
        onOpenRun={onOpenRun}
        lineage={{
          focus: 'TRAIN',
          nodes: [
            { id: 'run:PREP', kind: 'run', name: 'prep', names: ['prep'], detail: {} },
            { id: 'data:c', kind: 'dataset', name: 'clean', names: ['clean'], detail: {} },
            { id: 'run:TRAIN', kind: 'run', name: 'train', names: ['train'], detail: {} }
          ],
          edges: [
            { source: 'run:PREP', target: 'data:c' },
            { source: 'data:c', target: 'run:TRAIN' }
          ]
        }}
      />
    );
    expect(document.querySelectorAll('[role="button"]')).toHaveLength(1); // not the focus
    await click(byLabel('Open run prep'));
    expect(onOpenRun).toHaveBeenCalledWith('PREP');
    await act(async () => {
      byLabel('Open run prep')!.dispatchEvent(
        new KeyboardEvent('keydown', { key: 'Enter', bubbles: true })
      );
    });
    expect(onOpenRun).toHaveBeenCalledTimes(2);
    expect(document.querySelectorAll('path.jp-mlops-lineage-edge')).toHaveLength(2);
  });

  it('draws a sparkline with an accessible summary', async () => {
    await render(<Sparkline label="loss" values={[1, 0.5, 0.25]} />);
    const svg = document.querySelector('svg')!;
    expect(svg.getAttribute('aria-label')).toBe(
      'loss: 3 values, from 1 to 0.25 (min 0.25, max 1)'
    );
    expect(svg.querySelector('path')!.getAttribute('d')).toMatch(/^M2\.0,2\.0 L36\.0,/);
  });
});
