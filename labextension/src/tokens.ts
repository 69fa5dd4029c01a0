/**
 * The payloads of the jupyter-mlops REST API (`jupyter_mlops/server/api.yml`), and the
 * client interface the sidebar's model talks to.
 */

export type RunStatus = 'running' | 'finished' | 'failed' | 'interrupted';

/** A page row of `GET runs`: params and latest metrics included. */
export interface IRunSummary {
  run_id: string;
  experiment: string;
  name: string;
  status: RunStatus;
  /** unix seconds */
  started_at: number;
  duration_s: number | null;
  params: Record<string, unknown>;
  metrics: Record<string, number>;
  /** unix seconds when the run was archived; null (or absent): not archived */
  archived_at?: number | null;
}

/** A dataset, model or artifact a run read or wrote. */
export interface IEntity {
  kind: 'dataset' | 'model' | 'artifact';
  name: string;
  fingerprint: string;
  detail: Record<string, unknown>;
}

export interface ICodeSliceCell {
  execution_count: number | null;
  source: string;
  cell_id: string | null;
}

/** Everything recorded about a run: `GET runs/{id}`. */
export interface IRun extends IRunSummary {
  ended_at?: number | null;
  source: string;
  source_hash: string;
  tags: Record<string, string>;
  /** the run's free-text note (null: none) */
  note: string | null;
  inputs: IEntity[];
  outputs: IEntity[];
  error: string | null;
  traceback: string | null;
  stdout: string;
  stderr: string;
  notebook: string | null;
  cell_id: string | null;
  execution_count: number | null;
  code_slice: ICodeSliceCell[];
  warnings: string[];
  environment: Record<string, unknown>;
  git: Record<string, unknown>;
  user: string | null;
  host: string | null;
  parent_run_id: string | null;
}

export interface IRunsPage {
  runs: IRunSummary[];
  total: number;
  offset: number;
  limit: number;
}

export type SortOrder = 'asc' | 'desc';

/** The query parameters of `GET runs`. */
export interface IRunsQuery {
  experiment: string;
  status: '' | RunStatus;
  q: string;
  /** started_at, name, status, duration_s, or metrics.KEY */
  sort: string;
  order: SortOrder;
  offset: number;
  limit: number;
  /** exclude: hide archived runs (the default); include: show them too */
  archived: ArchivedRuns;
}

export type ArchivedRuns = 'exclude' | 'include' | 'only';

/** The body of `PATCH runs/{id}`: each field present changes the run (all or nothing). */
export interface IRunPatch {
  tags?: Record<string, string>;
  remove_tags?: string[];
  /** replaces the note; "" clears it */
  note?: string;
  /** true archives the run, false restores it */
  archived?: boolean;
}

export interface IExperiment {
  name: string;
  /** runs not archived */
  runs: number;
  /** archived runs (absent from older servers) */
  archived?: number;
  last_started_at: number | null;
}

export type LineageKind = 'run' | 'dataset' | 'model' | 'artifact';

export interface ILineageNode {
  /** `run:<run_id>` or a content fingerprint */
  id: string;
  kind: LineageKind;
  name: string;
  names: string[];
  detail: Record<string, unknown>;
}

export interface ILineageEdge {
  source: string;
  target: string;
}

/** `GET runs/{id}/lineage` */
export interface ILineage {
  focus: string;
  nodes: ILineageNode[];
  edges: ILineageEdge[];
}

export interface IMetricPoint {
  step: number;
  value: number;
  timestamp: number;
}

/** `GET runs/{id}/metrics/{key}` */
export interface IMetricHistory {
  run_id: string;
  key: string;
  points: IMetricPoint[];
}

export interface IGateCondition {
  text: string;
  value: number | null;
  threshold: number | null;
  passed: boolean;
}

export interface IGateResult {
  expression: string;
  passed: boolean;
  conditions: IGateCondition[];
}

export interface IModelVersion {
  name: string;
  version: number;
  run_id: string;
  /** the name of that run (null if the run is gone) */
  run_name: string | null;
  model_fingerprint: string;
  model_variable: string;
  /** staging, production, archived, or null */
  stage: string | null;
  aliases: string[];
  created_at: number;
  created_by: string | null;
  reason: string | null;
  gate: IGateResult | null;
  /** the open request to move this version that waits for approval */
  pending?: IPendingMove | null;
}

/** A version's move that waits for approval (`IModelVersion.pending`). */
export interface IPendingMove {
  request: number;
  stage: string;
  expires_at: number;
}

/** Which stage moves need approval, by how many and whom. */
export interface IPolicy {
  stage: string;
  approvers: number;
  requester_may_approve: boolean;
  /** who may approve or reject; empty: any user */
  allowed: string[];
  expires_after: number;
}

/** A request to move a version to a stage, waiting for (or decided by) its approvers. */
export interface IApprovalRequest {
  id: number;
  ref: string;
  name: string;
  version: number;
  stage: string;
  requested_by: string;
  requested_at: number;
  expires_at: number;
  reason: string | null;
  /** pending, approved (being carried out), applied, failed, rejected, expired */
  status: string;
  policy: IPolicy;
  approved_by: string[];
  rejected_by: string[];
  /** approvals still needed */
  missing: number;
  outcome: string | null;
  /** why the asking user may not decide it (null: may), as the server's policy check says */
  refusal?: string | null;
}

/** `GET approvals`: the waiting requests, the policies, and who is asking. */
export interface IApprovals {
  requests: IApprovalRequest[];
  policies: IPolicy[];
  user: string;
}

/** `POST approvals/N/approve|reject`: the request now, and the version if it moved. */
export interface IDecision {
  request: IApprovalRequest;
  version: IModelVersion | null;
}

export interface IModel {
  name: string;
  latest_version: number;
  versions: IModelVersion[];
}

/** An entry of the audit log. */
export interface IEvent {
  seq: number;
  at: number;
  actor: string;
  action: string;
  subject: string;
  detail: Record<string, unknown>;
  reason: string | null;
  hash: string;
}

/** `GET changes?since=` */
export interface IChanges {
  cursor: string;
  changed: boolean;
  runs: string[];
  events: boolean;
}

/** The body of `POST models/{name}/versions`. */
export interface IPromoteRequest {
  run_id: string;
  stage?: string;
  gate?: string;
  reason?: string;
  force?: boolean;
  verify?: boolean;
}

/**
 * The body of `POST models/{name}/versions/{v}/stage`. A move to production takes the
 * checks of a promotion: it needs a reason, runs the gate (default: the version's own) and
 * verifies the bundle in a fresh virtualenv unless `verify` is false.
 */
export interface ITransitionRequest {
  stage: string;
  reason?: string;
  gate?: string;
  force?: boolean;
  verify?: boolean;
}

/** What a transition checked: the gate that ran (null: none) and the verification. */
export interface ITransitionChecks {
  gate: IGateResult | null;
  forced: boolean;
  /** what serving the bundle from a fresh virtualenv found, "skipped …", or null */
  verification: string | null;
}

/** The answer of `POST models/{name}/versions/{v}/stage`. */
export interface ITransitionResult extends IModelVersion {
  checks: ITransitionChecks;
}

/** `GET keys`: the metric and param keys of every run the filters match. */
export interface IRunKeys {
  metrics: string[];
  params: string[];
}

/** A row of a comparison: one value per compared run (null when not set). */
export interface IComparedRow {
  key: string;
  values: unknown[];
  differs: boolean;
}

/** A plotly figure specification (`application/vnd.plotly.v1+json` data). */
export interface IPlotlyFigure {
  data: Record<string, unknown>[];
  layout: Record<string, unknown>;
}

/** `GET compare?runs=`: runs side by side. */
export interface IComparison {
  runs: (Pick<
    IRunSummary,
    'run_id' | 'name' | 'experiment' | 'status' | 'started_at' | 'duration_s'
  > & { label: string })[];
  params: IComparedRow[];
  metrics: IComparedRow[];
  curves: IPlotlyFigure[];
  parallel: IPlotlyFigure | null;
}

/** The REST API as the sidebar uses it (a fake implements it in the unit tests). */
export interface IMLOpsAPI {
  experiments(): Promise<{ experiments: IExperiment[] }>;
  runs(query: Partial<IRunsQuery>): Promise<IRunsPage>;
  run(runId: string): Promise<IRun>;
  keys(query: Partial<IRunsQuery>): Promise<IRunKeys>;
  /** A gate evaluated over a run's metrics, without promoting (400: not understood). */
  gate(runId: string, expression: string): Promise<IGateResult>;
  compare(runIds: string[], theme?: 'light' | 'dark'): Promise<IComparison>;
  lineage(runId: string): Promise<ILineage>;
  metric(runId: string, key: string): Promise<IMetricHistory>;
  models(): Promise<{ models: IModel[] }>;
  events(limit?: number): Promise<{ events: IEvent[] }>;
  changes(since: string): Promise<IChanges>;
  /** Tag, annotate, archive or restore a run (audited); answers the run as changed. */
  updateRun(runId: string, patch: IRunPatch): Promise<IRun>;
  /** Delete a run's records (409: still running, or a registered model version's run). */
  deleteRun(runId: string): Promise<{ deleted: string[] }>;
  promote(name: string, body: IPromoteRequest): Promise<IModelVersion>;
  transition(
    name: string,
    version: number,
    body: ITransitionRequest
  ): Promise<ITransitionResult>;
  /** The requests waiting for approval, and the policies. */
  approvals(): Promise<IApprovals>;
  /** Approve or reject a request as the signed-in user (403: the policy says not this user). */
  decide(request: number, decision: 'approve' | 'reject', reason?: string): Promise<IDecision>;
}

/** What the sidebar asks of JupyterLab (notebooks, clipboard). */
export interface ISidebarActions {
  /** Insert code cells (in order) below the active cell; returns what happened. */
  insertIntoNotebook(sources: string[]): { ok: boolean; message: string };
  /** Copy text to the system clipboard. */
  copy(text: string): void;
  /** Open the selected runs side by side in the main area (absent: no comparison). */
  compare?(runIds: string[]): void;
}
