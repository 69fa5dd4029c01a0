/** An in-memory jupyter-mlops server for the unit tests. */
import { APIError } from '../errors';
import {
  IApprovalRequest,
  IApprovals,
  IChanges,
  IComparison,
  IDecision,
  IGateResult,
  IEvent,
  ILineage,
  IMLOpsAPI,
  IModel,
  IModelVersion,
  IPromoteRequest,
  IRun,
  IRunKeys,
  IRunPatch,
  IRunsPage,
  IRunsQuery,
  IRunSummary,
  ITransitionRequest,
  ITransitionResult
} from '../tokens';

export function summary(
  name: string,
  started: number,
  extra: Partial<IRunSummary> = {}
): IRunSummary {
  return {
    run_id: `01${name.toUpperCase()}`,
    experiment: 'exp',
    name,
    status: 'finished',
    started_at: started,
    duration_s: 1.5,
    params: { C: 1 },
    metrics: { acc: 0.5 },
    ...extra
  };
}

export function fullRun(s: IRunSummary): IRun {
  return {
    ...s,
    source: `model = fit()  # ${s.name}`,
    source_hash: 'h',
    tags: {},
    note: null,
    inputs: [{ kind: 'dataset', name: 'X', fingerprint: 'data:x', detail: { shape: [10, 2] } }],
    outputs: [
      { kind: 'model', name: 'model', fingerprint: 'model:m', detail: { class: 'LogisticRegression' } }
    ],
    error: s.status === 'failed' ? 'ValueError: boom' : null,
    traceback: null,
    stdout: '',
    stderr: '',
    notebook: 'nb.ipynb',
    cell_id: null,
    execution_count: 3,
    code_slice: [],
    warnings: [],
    environment: { python: '3.11', packages: { sklearn: '1.5' } },
    git: {},
    user: 'me',
    host: 'box',
    parent_run_id: null
  };
}

export function modelVersion(
  name: string,
  version: number,
  run: IRunSummary,
  extra: Partial<IModelVersion> = {}
): IModelVersion {
  return {
    name,
    version,
    run_id: run.run_id,
    run_name: run.name,
    model_fingerprint: 'model:m',
    model_variable: 'model',
    stage: null,
    aliases: [],
    created_at: 0,
    created_by: 'me',
    reason: null,
    gate: null,
    ...extra
  };
}

/** A fake API over a list of runs; `fail` makes every call throw that status. */
export class FakeAPI implements IMLOpsAPI {
  runsList: IRunSummary[] = [];
  models_: IModel[] = [];
  events_: IEvent[] = [];
  histories: Record<string, number[]> = {};
  tags: Record<string, Record<string, string>> = {};
  notes: Record<string, string> = {};
  lineages: Record<string, ILineage> = {};
  fail: { status: number; message: string; fromAPI?: boolean } | null = null;
  promoteError: APIError | null = null;
  cursor = 1;
  changedRuns: string[] = [];
  approvals_: IApprovalRequest[] = [];
  user = 'me';
  decideError: APIError | null = null;
  newEvents = false;
  calls: string[] = [];

  private check(call: string) {
    this.calls.push(call);
    if (this.fail) {
      throw new APIError(this.fail.status, this.fail.message, this.fail.fromAPI ?? true);
    }
  }

  async experiments() {
    this.check('experiments');
    const names = [...new Set(this.runsList.map(r => r.experiment))].sort();
    const count = (name: string, archived: boolean) =>
      this.runsList.filter(r => r.experiment === name && !!r.archived_at === archived).length;
    return {
      experiments: names.map(name => ({
        name,
        runs: count(name, false),
        archived: count(name, true),
        last_started_at: null
      }))
    };
  }

  async runs(query: Partial<IRunsQuery>): Promise<IRunsPage> {
    this.check(`runs ${JSON.stringify(query)}`);
    let rows = this.runsList.filter(
      r =>
        this.listed(r, query) &&
        (!query.experiment || r.experiment === query.experiment) &&
        (!query.status || r.status === query.status) &&
        (!query.q || r.name.includes(query.q) || this.tagged(r.run_id, query.q))
    );
    const sort = query.sort ?? 'started_at';
    const key = (r: IRunSummary): any =>
      sort.startsWith('metrics.') ? r.metrics[sort.slice(8)] ?? -Infinity : (r as any)[sort];
    rows = [...rows].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
    if ((query.order ?? 'desc') === 'desc') {
      rows.reverse();
    }
    const offset = query.offset ?? 0;
    const limit = query.limit ?? 50;
    return { runs: rows.slice(offset, offset + limit), total: rows.length, offset, limit };
  }

  /** Whether the `archived` option of a query lists this run. */
  private listed(run: IRunSummary, query: Partial<IRunsQuery>): boolean {
    const archived = query.archived ?? 'exclude';
    return archived === 'include' || (archived === 'only') === !!run.archived_at;
  }

  private tagged(runId: string, q: string): boolean {
    const [key, value] = q.split(':');
    return value !== undefined && this.tags[runId]?.[key] === value;
  }

  async run(runId: string): Promise<IRun> {
    this.check(`run ${runId}`);
    const found = this.runsList.find(r => r.run_id === runId);
    if (!found) {
      throw new APIError(404, `no run ${runId}`, true);
    }
    return {
      ...fullRun(found),
      tags: this.tags[runId] ?? {},
      note: this.notes[runId] ?? null
    };
  }

  async keys(query: Partial<IRunsQuery>): Promise<IRunKeys> {
    this.check(`keys ${JSON.stringify(query)}`);
    const rows = this.runsList.filter(
      r =>
        this.listed(r, query) &&
        (!query.experiment || r.experiment === query.experiment) &&
        (!query.status || r.status === query.status) &&
        (!query.q || r.name.includes(query.q))
    );
    const keys = (pick: (r: IRunSummary) => object) =>
      [...new Set(rows.flatMap(r => Object.keys(pick(r))))].sort();
    return { metrics: keys(r => r.metrics), params: keys(r => r.params) };
  }

  /** A gate of `metric>=threshold` conditions joined by `and`, over the run's metrics. */
  async gate(runId: string, expression: string): Promise<IGateResult> {
    this.check(`gate ${runId} ${expression}`);
    const run = this.runsList.find(r => r.run_id === runId)!;
    const conditions = expression.split(/\s+and\s+/).map(part => {
      const [key, threshold] = part.split('>=').map(x => x.trim());
      if (!(key in run.metrics)) {
        throw new APIError(400, `the gate names ${key}, which run ${runId} did not log`, true);
      }
      const value = run.metrics[key];
      return { text: `${key} >= ${threshold}`, value, threshold: +threshold, passed: value >= +threshold };
    });
    return { expression, passed: conditions.every(c => c.passed), conditions };
  }

  async compare(runIds: string[]): Promise<IComparison> {
    this.check(`compare ${runIds.join(',')}`);
    const runs = runIds.map(id => this.runsList.find(r => r.run_id === id)!);
    const rows = (pick: (r: IRunSummary) => Record<string, unknown>) =>
      [...new Set(runs.flatMap(r => Object.keys(pick(r))))].sort().map(key => {
        const values = runs.map(r => pick(r)[key] ?? null);
        return {
          key,
          values,
          differs: new Set(values.map(v => JSON.stringify(v))).size > 1
        };
      });
    return {
      runs: runs.map(r => ({ ...r, label: `${r.name} · ${r.run_id}` })),
      params: rows(r => r.params),
      metrics: rows(r => r.metrics),
      curves: [
        {
          data: runs.map(r => ({ type: 'scatter', name: r.name, x: [0, 1], y: [1, 0] })),
          layout: { title: 'loss over steps' }
        }
      ],
      parallel: null
    };
  }

  async lineage(runId: string): Promise<ILineage> {
    this.check(`lineage ${runId}`);
    return this.lineages[runId] ?? { focus: runId, nodes: [], edges: [] };
  }

  async metric(runId: string, key: string) {
    this.check(`metric ${runId} ${key}`);
    const values = this.histories[key] ?? [1];
    return {
      run_id: runId,
      key,
      points: values.map((value, step) => ({ step, value, timestamp: step }))
    };
  }

  async models() {
    this.check('models');
    return { models: this.models_ };
  }

  async events() {
    this.check('events');
    return { events: this.events_ };
  }

  async changes(since: string): Promise<IChanges> {
    this.check(`changes ${since}`);
    const cursor = String(this.cursor);
    if (since === cursor) {
      return { cursor, changed: false, runs: [], events: false };
    }
    const result = { cursor, changed: true, runs: this.changedRuns, events: this.newEvents };
    return result;
  }

  /** Like the server: a bad tag key is a 400 and changes nothing. */
  async updateRun(runId: string, patch: IRunPatch): Promise<IRun> {
    this.check(`updateRun ${runId} ${JSON.stringify(patch)}`);
    const run = this.runsList.find(r => r.run_id === runId);
    if (!run) {
      throw new APIError(404, `no run ${runId}`, true);
    }
    for (const key of Object.keys(patch.tags ?? {})) {
      if (!/^[A-Za-z_][\w.-]*$/.test(key)) {
        throw new APIError(400, `invalid tag key '${key}'`, true);
      }
    }
    const tags = { ...(this.tags[runId] ?? {}), ...(patch.tags ?? {}) };
    for (const key of patch.remove_tags ?? []) {
      delete tags[key];
    }
    this.tags[runId] = tags;
    if (patch.note !== undefined) {
      this.notes[runId] = patch.note;
    }
    if (patch.archived !== undefined) {
      run.archived_at = patch.archived ? 1000 : null;
    }
    return this.run(runId);
  }

  /** Like the server: the run of a registered version is refused (409). */
  async deleteRun(runId: string): Promise<{ deleted: string[] }> {
    this.check(`deleteRun ${runId}`);
    const held = this.models_.flatMap(m => m.versions).find(v => v.run_id === runId);
    if (held) {
      throw new APIError(
        409,
        `nothing was deleted: run ${runId} (${held.run_name}) is the run of registered model version(s) ${held.name}/${held.version} (${held.stage ?? 'no stage'})`,
        true
      );
    }
    this.runsList = this.runsList.filter(r => r.run_id !== runId);
    return { deleted: [runId] };
  }

  async promote(name: string, body: IPromoteRequest): Promise<IModelVersion> {
    this.check(`promote ${name} ${JSON.stringify(body)}`);
    if (this.promoteError) {
      throw this.promoteError;
    }
    const run = this.runsList.find(r => r.run_id === body.run_id)!;
    const version = modelVersion(name, 1, run, {
      stage: body.stage ?? null,
      reason: body.reason ?? null,
      gate: body.gate
        ? {
            expression: body.gate,
            passed: true,
            conditions: [{ text: body.gate, value: 0.5, threshold: 0.4, passed: true }]
          }
        : null
    });
    this.models_ = [{ name, latest_version: 1, versions: [version] }];
    return version;
  }

  async approvals(): Promise<IApprovals> {
    this.check('approvals');
    return { requests: this.approvals_, policies: [], user: this.user };
  }

  /** One approval applies the move; a rejection closes the request. */
  async decide(id: number, decision: 'approve' | 'reject'): Promise<IDecision> {
    this.check(`decide ${id} ${decision}`);
    if (this.decideError) {
      throw this.decideError;
    }
    const request = this.approvals_.find(r => r.id === id)!;
    this.approvals_ = this.approvals_.filter(r => r.id !== id);
    const status = decision === 'approve' ? 'applied' : 'rejected';
    const v = this.models_.find(m => m.name === request.name)?.versions.find(
      x => x.version === request.version
    );
    if (v && status === 'applied') {
      v.stage = request.stage;
      v.pending = null;
    }
    return { request: { ...request, status, missing: 0 }, version: status === 'applied' ? v ?? null : null };
  }

  async transition(
    name: string,
    version: number,
    body: ITransitionRequest
  ): Promise<ITransitionResult> {
    this.check(`transition ${name} ${version} ${JSON.stringify(body)}`);
    if (body.stage === 'production' && !body.reason) {
      throw new APIError(409, `moving ${name}/${version} to production needs a reason`, true);
    }
    const v = this.models_.find(m => m.name === name)!.versions.find(x => x.version === version)!;
    v.stage = body.stage;
    const gate = body.gate ?? v.gate?.expression;
    return {
      ...v,
      checks: {
        gate: gate ? { expression: gate, passed: true, conditions: [] } : null,
        forced: false,
        verification:
          body.verify === false ? 'skipped (verify=False)' : 'served from a fresh virtualenv'
      }
    };
  }
}

/** Let pending promises settle. */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    await new Promise(resolve => setTimeout(resolve, 0));
  }
}

export function approvalRequest(
  version: IModelVersion,
  stage: string,
  extra: Partial<IApprovalRequest> = {}
): IApprovalRequest {
  return {
    id: 1,
    ref: `${version.name}/${version.version}`,
    name: version.name,
    version: version.version,
    stage,
    requested_by: 'alice',
    requested_at: 0,
    expires_at: 1e10,
    reason: 'better on May data',
    status: 'pending',
    policy: {
      stage,
      approvers: 1,
      requester_may_approve: false,
      allowed: [],
      expires_after: 604800
    },
    approved_by: [],
    rejected_by: [],
    missing: 1,
    outcome: null,
    ...extra
  };
}
