import { ServerConnection } from '@jupyterlab/services';

import { requestAPI } from './request';
import {
  IApprovals,
  IChanges,
  IComparison,
  IDecision,
  IEvent,
  IExperiment,
  IGateResult,
  ILineage,
  IMetricHistory,
  IMLOpsAPI,
  IModel,
  IModelVersion,
  IPromoteRequest,
  IRun,
  IRunKeys,
  IRunPatch,
  IRunsPage,
  IRunsQuery,
  ITransitionRequest,
  ITransitionResult
} from './tokens';

/** The query string of a request, without empty values. */
export function queryString(params: Record<string, unknown>): string {
  const parts = Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(
      ([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`
    );
  return parts.length ? `?${parts.join('&')}` : '';
}

const enc = encodeURIComponent;

/** The REST API over Jupyter's authenticated server connection. */
export class MLOpsAPI implements IMLOpsAPI {
  constructor(private readonly settings?: ServerConnection.ISettings) {}

  private get<T>(path: string): Promise<T> {
    return requestAPI<T>(path, {}, this.settings);
  }

  private send<T>(method: string, path: string, body?: unknown): Promise<T> {
    return requestAPI<T>(
      path,
      { method, body: body === undefined ? undefined : JSON.stringify(body) },
      this.settings
    );
  }

  experiments(): Promise<{ experiments: IExperiment[] }> {
    return this.get('experiments');
  }

  runs(query: Partial<IRunsQuery>): Promise<IRunsPage> {
    return this.get(`runs${queryString(query)}`);
  }

  run(runId: string): Promise<IRun> {
    return this.get(`runs/${enc(runId)}`);
  }

  keys(query: Partial<IRunsQuery>): Promise<IRunKeys> {
    const { experiment, status, q, archived } = query;
    return this.get(`keys${queryString({ experiment, status, q, archived })}`);
  }

  gate(runId: string, expression: string): Promise<IGateResult> {
    return this.get(`runs/${enc(runId)}/gate${queryString({ expression })}`);
  }

  compare(runIds: string[], theme: 'light' | 'dark' = 'light'): Promise<IComparison> {
    return this.get(`compare${queryString({ runs: runIds.join(','), theme })}`);
  }

  lineage(runId: string): Promise<ILineage> {
    return this.get(`runs/${enc(runId)}/lineage`);
  }

  metric(runId: string, key: string): Promise<IMetricHistory> {
    return this.get(`runs/${enc(runId)}/metrics/${enc(key)}`);
  }

  models(): Promise<{ models: IModel[] }> {
    return this.get('models');
  }

  events(limit = 20): Promise<{ events: IEvent[] }> {
    return this.get(`events${queryString({ limit })}`);
  }

  changes(since: string): Promise<IChanges> {
    return this.get(`changes${queryString({ since })}`);
  }

  updateRun(runId: string, patch: IRunPatch): Promise<IRun> {
    return this.send('PATCH', `runs/${enc(runId)}`, patch);
  }

  deleteRun(runId: string): Promise<{ deleted: string[] }> {
    return this.send('DELETE', `runs/${enc(runId)}`);
  }

  promote(name: string, body: IPromoteRequest): Promise<IModelVersion> {
    return this.send('POST', `models/${enc(name)}/versions`, body);
  }

  transition(
    name: string,
    version: number,
    body: ITransitionRequest
  ): Promise<ITransitionResult> {
    return this.send('POST', `models/${enc(name)}/versions/${version}/stage`, body);
  }

  approvals(): Promise<IApprovals> {
    return this.get('approvals');
  }

  decide(request: number, decision: 'approve' | 'reject', reason?: string): Promise<IDecision> {
    return this.send('POST', `approvals/${request}/${decision}`, reason ? { reason } : {});
  }
}
