/**
 * The sidebar's state: the runs query and page, the open run, the models, and a poll of
 * `changes` that keeps them live. Plain TypeScript over an {@link IMLOpsAPI}, so the unit
 * tests drive it with a fake server; React components subscribe to it.
 */
import { APIError, errorMessage } from './errors';
import {
  IApprovalRequest,
  IDecision,
  IEvent,
  IExperiment,
  ILineage,
  IMetricPoint,
  IMLOpsAPI,
  IModel,
  IModelVersion,
  IPromoteRequest,
  IRun,
  IRunKeys,
  IRunPatch,
  IRunsQuery,
  IRunSummary,
  ITransitionRequest,
  ITransitionResult
} from './tokens';

/** Why the sidebar cannot show anything, or null. */
export interface IProblem {
  /** missing: the server extension is not running; store: the store cannot be opened. */
  kind: 'missing' | 'store' | 'network' | 'other';
  message: string;
}

/** The run open in the detail view. */
export interface IRunDetail {
  run: IRun | null;
  lineage: ILineage | null;
  histories: Record<string, IMetricPoint[]>;
  error: string | null;
  loading: boolean;
}

export const PAGE_SIZE = 25;
export const POLL_INTERVAL_MS = 2000;

export const DEFAULT_QUERY: IRunsQuery = {
  experiment: '',
  status: '',
  q: '',
  sort: 'started_at',
  order: 'desc',
  offset: 0,
  limit: PAGE_SIZE,
  archived: 'exclude'
};

/** Metrics a table shows first when the runs have them (as the Python charts prefer). */
export const PREFERRED_METRICS = ['roc_auc', 'accuracy', 'acc', 'f1', 'r2', 'rmse', 'val_loss', 'loss'];

/** The sort column of a run table header: started_at, name, status, duration_s, metric. */
export type SortColumn = string;

/** Classify an error of the API into what the sidebar tells the user. */
export function problemFor(error: unknown): IProblem {
  if (error instanceof APIError) {
    if (error.status === 404) {
      return {
        kind: 'missing',
        message:
          'The jupyter-mlops server extension is not running in this Jupyter server.'
      };
    }
    if (error.status === 503) {
      return { kind: 'store', message: error.message };
    }
    if (error.status === 0) {
      return { kind: 'network', message: error.message };
    }
  }
  return { kind: 'other', message: errorMessage(error) };
}

export class MLOpsModel {
  constructor(
    readonly api: IMLOpsAPI,
    options: { pollInterval?: number } = {}
  ) {
    this.pollInterval = options.pollInterval ?? POLL_INTERVAL_MS;
  }

  readonly pollInterval: number;
  query: IRunsQuery = { ...DEFAULT_QUERY };
  /** The metric chosen for the table's last column (null: a default one). */
  metricKey: string | null = null;
  /** The run whose detail was closed last: the table gives its row the focus back. */
  returnTo: string | null = null;
  /** Value columns the user chose (null: the default metric column). */
  chosenColumns: string[] | null = null;
  /** Metric and param keys of every run the filters match (null: not loaded yet). */
  keys: IRunKeys | null = null;
  /** Run ids ticked for a comparison, in the order they were ticked (across pages). */
  selected: string[] = [];
  experiments: IExperiment[] = [];
  runs: IRunSummary[] = [];
  total = 0;
  /** The total number of runs in the store, whatever the filters (archived ones aside). */
  storeTotal = 0;
  /** How many runs are archived (hidden unless "Show archived" is on). */
  archivedTotal = 0;
  loaded = false;
  loading = false;
  problem: IProblem | null = null;
  /** Runs that appeared or changed at the last poll (highlighted for a moment). */
  fresh = new Set<string>();
  detail: IRunDetail | null = null;
  models: IModel[] = [];
  events: IEvent[] = [];
  modelsLoaded = false;
  /** Moves waiting for approval, and who the server says the user is. */
  approvals: IApprovalRequest[] = [];
  user: string | null = null;
  /** A failed poll, shown without hiding what is already there. */
  pollError: string | null = null;
  cursor = '';

  /** Bumped at every change: React re-renders on it. */
  get version(): number {
    return this._version;
  }

  subscribe(listener: () => void): () => void {
    this._listeners.add(listener);
    return () => this._listeners.delete(listener);
  }

  protected changed(): void {
    this._version++;
    for (const listener of [...this._listeners]) {
      listener();
    }
  }

  /** True when a filter narrows the runs (the empty state then says so). */
  get filtered(): boolean {
    return !!(this.query.experiment || this.query.status || this.query.q);
  }

  /**
   * Metric keys of every run the filters match (from the server), sorted; until they
   * arrive, those of the runs on the page.
   */
  get metricKeys(): string[] {
    if (this.keys) {
      return this.keys.metrics;
    }
    const keys = new Set<string>();
    for (const run of this.runs) {
      Object.keys(run.metrics ?? {}).forEach(k => keys.add(k));
    }
    return [...keys].sort();
  }

  /**
   * The metric of the table's last column: the one chosen if the filtered runs have it,
   * else a metric they have (a preferred one first).
   */
  get metricColumn(): string | null {
    const keys = this.metricKeys;
    if (this.metricKey && keys.includes(this.metricKey)) {
      return this.metricKey;
    }
    return PREFERRED_METRICS.find(k => keys.includes(k)) ?? keys[0] ?? null;
  }

  /**
   * The value columns of the table, `metrics.KEY` or `params.KEY`: those chosen, else the
   * default metric column.
   */
  get columns(): string[] {
    if (this.chosenColumns !== null) {
      return this.chosenColumns;
    }
    const metric = this.metricColumn;
    return metric ? [`metrics.${metric}`] : [];
  }

  /** Show or hide a value column (`metrics.KEY` or `params.KEY`). */
  toggleColumn(column: string): void {
    const columns = this.columns;
    this.chosenColumns = columns.includes(column)
      ? columns.filter(c => c !== column)
      : [...columns, column];
    this.changed();
  }

  /** Whether the table shows an Experiment column: when no experiment is chosen. */
  get showsExperiment(): boolean {
    return this.query.experiment === '' && this.experiments.length > 1;
  }

  /** Whether a run is ticked for a comparison. */
  isSelected(runId: string): boolean {
    return this.selected.includes(runId);
  }

  /**
   * Tick or untick a run for a comparison. With `range` (shift-click), every run of the
   * page from the last one clicked to this one takes this run's new state.
   */
  toggleSelected(runId: string, range = false): void {
    const select = !this.isSelected(runId);
    const ids = this.runs.map(r => r.run_id);
    const from = this._anchor === null ? -1 : ids.indexOf(this._anchor);
    const to = ids.indexOf(runId);
    const span =
      range && from >= 0 && to >= 0
        ? ids.slice(Math.min(from, to), Math.max(from, to) + 1)
        : [runId];
    this.setSelected(span, select);
    this._anchor = runId;
  }

  /** Tick every run of the page, or untick them all when they all are ticked already. */
  togglePage(): void {
    const ids = this.runs.map(r => r.run_id);
    this.setSelected(ids, !this.pageSelected);
  }

  /** Whether every run of the page is ticked. */
  get pageSelected(): boolean {
    return this.runs.length > 0 && this.runs.every(r => this.isSelected(r.run_id));
  }

  clearSelection(): void {
    this.selected = [];
    this._anchor = null;
    this.changed();
  }

  private setSelected(ids: string[], select: boolean): void {
    const kept = this.selected.filter(id => !ids.includes(id));
    this.selected = select ? [...kept, ...ids] : kept;
    this.changed();
  }

  /** Load the metric and param keys of every run the filters match. */
  async loadKeys(): Promise<void> {
    const { experiment, status, q, archived } = this.query;
    const asked = `${experiment}\u0000${status}\u0000${q}\u0000${archived}`;
    this._keysRequest = asked;
    try {
      const keys = await this.api.keys({ experiment, status, q, archived });
      if (asked === this._keysRequest) {
        this.keys = keys;
        this.changed();
      }
    } catch {
      // the page's own keys stand in; the runs request reports what is wrong
    }
  }

  get page(): number {
    return Math.floor(this.query.offset / this.query.limit) + 1;
  }

  get pages(): number {
    return Math.max(1, Math.ceil(this.total / this.query.limit));
  }

  /** Change filters (back to the first page unless an offset is given) and reload. */
  async setQuery(patch: Partial<IRunsQuery>): Promise<void> {
    const offset = patch.offset ?? 0;
    const before = this.query;
    this.query = { ...this.query, ...patch, offset: Math.max(0, offset) };
    this.changed();
    const refilter =
      before.experiment !== this.query.experiment ||
      before.status !== this.query.status ||
      before.q !== this.query.q ||
      before.archived !== this.query.archived;
    await Promise.all([this.loadRuns(), refilter ? this.loadKeys() : null]);
  }

  async clearFilters(): Promise<void> {
    await this.setQuery({ experiment: '', status: '', q: '' });
  }

  /** Whether archived runs are listed too. */
  get showsArchived(): boolean {
    return this.query.archived !== 'exclude';
  }

  /** List archived runs too (marked), or hide them again. */
  async setShowArchived(show: boolean): Promise<void> {
    await this.setQuery({ archived: show ? 'include' : 'exclude' });
  }

  /** Sort by a column; the same column again flips the order. */
  async sortBy(column: SortColumn): Promise<void> {
    const order =
      this.query.sort === column
        ? this.query.order === 'desc'
          ? 'asc'
          : 'desc'
        : column === 'name' || column === 'status'
          ? 'asc'
          : 'desc';
    await this.setQuery({ sort: column, order });
  }

  async setMetricKey(key: string): Promise<void> {
    const sortedByOld =
      this.query.sort.startsWith('metrics.') &&
      this.query.sort !== `metrics.${key}`;
    this.metricKey = key;
    if (this.chosenColumns !== null) {
      const others = this.chosenColumns.filter(c => !c.startsWith('metrics.'));
      this.chosenColumns = [`metrics.${key}`, ...others];
    }
    this.changed();
    if (sortedByOld) {
      await this.setQuery({ sort: `metrics.${key}` });
    }
  }

  async nextPage(): Promise<void> {
    if (this.page < this.pages) {
      await this.setQuery({ offset: this.query.offset + this.query.limit });
    }
  }

  async previousPage(): Promise<void> {
    if (this.page > 1) {
      await this.setQuery({ offset: this.query.offset - this.query.limit });
    }
  }

  /** Load the experiments and the current page of runs. */
  async refresh(): Promise<void> {
    this.loading = true;
    this.changed();
    try {
      const [{ experiments }] = await Promise.all([
        this.api.experiments(),
        this.loadRuns(false),
        this.loadKeys()
      ]);
      this.setExperiments(experiments);
      this.problem = null;
    } catch (error) {
      this.problem = problemFor(error);
    } finally {
      this.loading = false;
      this.loaded = true;
      this.changed();
    }
  }

  private setExperiments(experiments: IExperiment[]): void {
    this.experiments = experiments;
    this.storeTotal = experiments.reduce((n, e) => n + e.runs, 0);
    this.archivedTotal = experiments.reduce((n, e) => n + (e.archived ?? 0), 0);
  }

  /** Load the current page; a failure becomes the problem (or is thrown, for refresh). */
  async loadRuns(catchErrors = true): Promise<void> {
    const asked = this._runsRequest + 1;
    this._runsRequest = asked;
    try {
      const page = await this.api.runs(this.query);
      if (asked !== this._runsRequest) {
        return; // a newer query answered (or will answer) instead
      }
      this.runs = page.runs;
      this.total = page.total;
      if (!this.filtered && !this.showsArchived) {
        this.storeTotal = page.total;
      }
      if (this.runs.length === 0 && this.query.offset > 0 && page.total > 0) {
        // the page ran past the end (runs were filtered away): go to the last one
        const last = Math.floor((page.total - 1) / this.query.limit);
        this.query = { ...this.query, offset: last * this.query.limit };
        await this.loadRuns(catchErrors);
        return;
      }
      this.problem = null;
    } catch (error) {
      if (!catchErrors) {
        throw error;
      }
      this.problem = problemFor(error);
    } finally {
      this.changed();
    }
  }

  /**
   * Ask the server what changed since the last poll; reload what is shown if anything did.
   * Returns whether something changed.
   */
  async poll(): Promise<boolean> {
    let changes;
    try {
      changes = await this.api.changes(this.cursor);
      this.pollError = null;
    } catch (error) {
      const problem = problemFor(error);
      if (problem.kind === 'missing' || problem.kind === 'store') {
        this.problem = problem;
      } else {
        this.pollError = problem.message;
      }
      this.changed();
      return false;
    }
    this.cursor = changes.cursor;
    if (!changes.changed) {
      this.fresh = new Set(); // the highlight of the last change lasts one poll
      this.changed();
      return false;
    }
    this.fresh = new Set(changes.runs);
    await this.reloadList();
    const open = this.detail?.run?.run_id;
    if (open && changes.runs.includes(open)) {
      await this.openRun(open, false);
    }
    if (changes.events && this.modelsLoaded) {
      await this.loadModels();
    }
    this.changed();
    return true;
  }

  /**
   * Poll every `pollInterval` ms while active (the sidebar is visible). Becoming active
   * takes a cursor, then loads what is shown: nothing written in between is missed.
   */
  setActive(active: boolean): void {
    if (active === this._active) {
      return;
    }
    this._active = active;
    if (active) {
      void this.start();
    } else if (this._timer !== null) {
      clearTimeout(this._timer);
      this._timer = null;
    }
  }

  get active(): boolean {
    return this._active;
  }

  private async start(): Promise<void> {
    try {
      this.cursor = (await this.api.changes('')).cursor;
    } catch {
      this.cursor = ''; // refresh() says what is wrong
    }
    await this.refresh();
    this.schedule(this.pollInterval);
  }

  private schedule(delay: number): void {
    if (!this._active || this._disposed) {
      return;
    }
    if (this._timer !== null) {
      clearTimeout(this._timer);
    }
    this._timer = setTimeout(async () => {
      this._timer = null;
      try {
        await this.poll();
      } finally {
        this.schedule(this.pollInterval);
      }
    }, delay);
  }

  /** Open a run's detail: the run, its lineage and the history of each metric. */
  async openRun(runId: string, showLoading = true): Promise<void> {
    const previous = this.detail;
    this._openRunId = runId;
    this.detail = {
      run: previous?.run?.run_id === runId ? previous.run : null,
      lineage: previous?.run?.run_id === runId ? previous.lineage : null,
      histories: previous?.run?.run_id === runId ? previous.histories : {},
      error: null,
      loading: showLoading
    };
    this.changed();
    const asked = ++this._detailRequest;
    try {
      const [run, lineage] = await Promise.all([
        this.api.run(runId),
        this.api.lineage(runId).catch(() => null)
      ]);
      const keys = Object.keys(run.metrics ?? {});
      const histories: Record<string, IMetricPoint[]> = {};
      await Promise.all(
        keys.map(async key => {
          try {
            histories[key] = (await this.api.metric(run.run_id, key)).points;
          } catch {
            histories[key] = [];
          }
        })
      );
      if (asked === this._detailRequest) {
        this.detail = { run, lineage, histories, error: null, loading: false };
      }
    } catch (error) {
      if (asked === this._detailRequest) {
        this.detail = {
          run: null,
          lineage: null,
          histories: {},
          error: errorMessage(error),
          loading: false
        };
      }
    }
    this.changed();
  }

  closeRun(): void {
    this._detailRequest++;
    this.returnTo = this._openRunId;
    this.detail = null;
    this.changed();
  }

  /**
   * Tag, annotate, archive or restore a run (audited by the server); the open detail shows
   * the run as changed, and the list reloads (an archived run leaves it). Errors (400: a bad
   * tag or note) are thrown for the caller to show.
   */
  async updateRun(runId: string, patch: IRunPatch): Promise<IRun> {
    const run = await this.api.updateRun(runId, patch);
    if (this.detail?.run?.run_id === run.run_id) {
      this.detail = { ...this.detail, run };
    }
    this.changed();
    await this.reloadList();
    return run;
  }

  /**
   * Delete a run's records; the detail closes and the list reloads. Errors (409: running,
   * or a registered model version's run) are thrown for the caller to show.
   */
  async deleteRun(runId: string): Promise<string[]> {
    const ids = this.runs.map(r => r.run_id);
    const at = ids.indexOf(runId);
    const { deleted } = await this.api.deleteRun(runId);
    if (this.detail?.run && deleted.includes(this.detail.run.run_id)) {
      this.closeRun();
      // its row is gone: the focus goes to the row that takes its place
      this.returnTo = at < 0 ? null : (ids[at + 1] ?? ids[at - 1] ?? null);
    }
    this.selected = this.selected.filter(id => !deleted.includes(id));
    await this.reloadList();
    return deleted;
  }

  /** Reload the experiments, the page and the keys (after a change made here). */
  private async reloadList(): Promise<void> {
    const [{ experiments }] = await Promise.all([
      this.api.experiments().catch(() => ({ experiments: this.experiments })),
      this.loadRuns(),
      this.loadKeys()
    ]);
    this.setExperiments(experiments);
    this.changed();
  }

  /** Load the registered models and the recent audit events. */
  async loadModels(): Promise<void> {
    try {
      const [{ models }, { events }, approvals] = await Promise.all([
        this.api.models(),
        this.api.events(10).catch(() => ({ events: [] as IEvent[] })),
        this.api.approvals().catch(() => null)
      ]);
      this.models = models;
      this.events = events;
      this.approvals = approvals?.requests ?? [];
      this.user = approvals?.user ?? null;
      this.modelsLoaded = true;
    } catch (error) {
      this.problem = problemFor(error);
    }
    this.changed();
  }

  /** The model name a run was last registered under, or null. */
  registeredAs(runId: string): string | null {
    let latest: IModelVersion | null = null;
    for (const m of this.models) {
      for (const v of m.versions) {
        if (v.run_id === runId && (!latest || v.created_at > latest.created_at)) {
          latest = v;
        }
      }
    }
    return latest?.name ?? null;
  }

  /** Promote a run's model; the models are reloaded. Errors (409: refused) are thrown. */
  async promote(name: string, body: IPromoteRequest): Promise<IModelVersion> {
    const version = await this.api.promote(name, body);
    await this.loadModels();
    return version;
  }

  async transition(
    name: string,
    version: number,
    body: ITransitionRequest
  ): Promise<ITransitionResult> {
    const moved = await this.api.transition(name, version, body);
    await this.loadModels();
    return moved;
  }

  /** Approve or reject a waiting move; the models are reloaded. Errors (403, 409) are thrown. */
  async decide(
    request: number,
    decision: 'approve' | 'reject',
    reason?: string
  ): Promise<IDecision> {
    const outcome = await this.api.decide(request, decision, reason);
    await this.loadModels();
    return outcome;
  }

  dispose(): void {
    this._disposed = true;
    this.setActive(false);
    this._listeners.clear();
  }

  private _version = 0;
  private _listeners = new Set<() => void>();
  private _active = false;
  private _disposed = false;
  private _timer: ReturnType<typeof setTimeout> | null = null;
  private _runsRequest = 0;
  private _keysRequest = '';
  private _anchor: string | null = null;
  private _openRunId: string | null = null;
  private _detailRequest = 0;
}
