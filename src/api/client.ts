// Where the CLI gets its answers: a store opened in this process, or the HTTP API of a running
// aggregator (needed for the embedded store, which one process holds at a time).
import { StoreError } from '../store/errors.js';
import { FlowQueries, parseFlowQuery } from '../store/query.js';
import { openRepository, type FlowRepository } from '../store/repository.js';
import { STORE_API_PREFIX } from './store-api.js';

export type ViewName = 'flows' | 'top' | 'pod-edges' | 'node-matrix' | 'policy-edges' | 'throughput' | 'completeness';
export const VIEW_NAMES: readonly ViewName[] = ['flows', 'top', 'pod-edges', 'node-matrix', 'policy-edges', 'throughput', 'completeness'];

export interface QuerySource {
  run(view: ViewName, params: Record<string, string>): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

export async function localSource(store: string, now: () => number = () => Date.now()): Promise<QuerySource & { repo: FlowRepository }> {
  const repo = await openRepository(store);
  const q = new FlowQueries(repo);
  return {
    repo,
    async run(view, params) {
      const query = parseFlowQuery(params, Math.floor(now() / 1000));
      switch (view) {
        case 'flows':
          return q.flows(query) as unknown as Record<string, unknown>;
        case 'top':
          return q.top(query) as unknown as Record<string, unknown>;
        case 'pod-edges':
          return q.podEdges(query) as unknown as Record<string, unknown>;
        case 'node-matrix':
          return q.nodeMatrix(query) as unknown as Record<string, unknown>;
        case 'policy-edges':
          return q.policyEdges(query) as unknown as Record<string, unknown>;
        case 'throughput':
          return q.throughput(query) as unknown as Record<string, unknown>;
        case 'completeness':
          return { range: query.range, completeness: await q.completeness(query.range) };
      }
    },
    close: () => repo.close(),
  };
}

export function apiSource(baseUrl: string): QuerySource {
  let base: URL;
  try {
    base = new URL(baseUrl);
  } catch {
    throw new StoreError('STORE_ERR_INVALID_OPTION', `--api ${baseUrl} is not a URL; write e.g. http://flow-aggregator:10348`);
  }
  return {
    async run(view, params) {
      const url = new URL(`${STORE_API_PREFIX}/${view}`, base);
      for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
      let res: Response;
      try {
        res = await fetch(url);
      } catch (err) {
        throw new StoreError('STORE_ERR_UNAVAILABLE', `cannot reach ${url.origin}: ${(err as Error).message}`);
      }
      const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
      if (res.status === 400) throw new StoreError('STORE_ERR_INVALID_QUERY', String(body.message ?? 'bad query'));
      if (!res.ok) throw new StoreError('STORE_ERR_UNAVAILABLE', `${url.origin} answered ${res.status}: ${String(body.message ?? '')}`);
      return body;
    },
    async close() {},
  };
}
