// The flow store's JSON HTTP API: one route per dashboard query, all with the same parameters
// (docs/store.md, "HTTP API"). Parameters are validated once, by parseFlowQuery; a bad one gets
// 400 with a message that says what to write, a store that cannot answer gets 503.
//
//   GET /api/v1/flows          flow records, newest first (insertedAfter: oldest insert first)
//   GET /api/v1/top            top talkers (by=bytes|packets, side=source|destination)
//   GET /api/v1/pod-edges      Pod-to-Pod edges with Tx and Rx totals
//   GET /api/v1/node-matrix    node-to-node matrix
//   GET /api/v1/policy-edges   policy-to-policy edges
//   GET /api/v1/throughput     throughput series, bucket adapted to the range (or bucket=)
//   GET /api/v1/completeness   records dropped or lost in the range
//
// Mountable on another Fastify server (the aggregator's) with registerStoreRoutes, or standalone
// with buildStoreApi. Routes live in their own encapsulated context, so their error handler
// does not change the host's.
import Fastify, { type FastifyInstance } from 'fastify';
import { StoreError } from '../store/errors.js';
import { FlowQueries, parseFlowQuery, type FlowQuery } from '../store/query.js';
import type { FlowRepository } from '../store/repository.js';
import { systemClock, type Clock } from '../util/clock.js';

export const STORE_API_PREFIX = '/api/v1';

export interface StoreApiOptions {
  /** The repository, or null while it is not open yet (answers 503). */
  repository: () => FlowRepository | null;
  clock?: Clock;
}

type View = (q: FlowQueries, query: FlowQuery) => Promise<unknown>;

const VIEWS: Record<string, View> = {
  flows: (q, query) => q.flows(query),
  top: (q, query) => q.top(query),
  'pod-edges': (q, query) => q.podEdges(query),
  'node-matrix': (q, query) => q.nodeMatrix(query),
  'policy-edges': (q, query) => q.policyEdges(query),
  throughput: (q, query) => q.throughput(query),
  completeness: async (q, query) => ({ range: query.range, completeness: await q.completeness(query.range) }),
};

export const STORE_API_ROUTES: readonly string[] = Object.keys(VIEWS).map((v) => `${STORE_API_PREFIX}/${v}`);

/** Adds the store routes under /api/v1 to an existing Fastify instance. */
export async function registerStoreRoutes(app: FastifyInstance, options: StoreApiOptions): Promise<void> {
  const clock = options.clock ?? systemClock;
  await app.register(
    async (child) => {
      child.setErrorHandler((err, _req, reply) => {
        if (err instanceof StoreError) {
          const status = err.code === 'STORE_ERR_INVALID_QUERY' ? 400 : 503;
          void reply.code(status).send({ error: err.code, message: err.message });
          return;
        }
        const status = (err as { statusCode?: number }).statusCode ?? 500;
        void reply.code(status).send({ error: status >= 500 ? 'internal' : 'bad_request', message: err instanceof Error ? err.message : String(err) });
      });
      for (const [name, view] of Object.entries(VIEWS)) {
        child.get(`/${name}`, async (req) => {
          const query = parseFlowQuery((req.query ?? {}) as Record<string, unknown>, Math.floor(clock.now() / 1000));
          const repo = options.repository();
          if (!repo) throw new StoreError('STORE_ERR_UNAVAILABLE', 'the flow store is not open yet (the storage sink opens it at its first commit); retry shortly');
          return view(new FlowQueries(repo), query);
        });
      }
    },
    { prefix: STORE_API_PREFIX },
  );
}

/** A standalone server (does not listen) for `flowvis store serve`. */
export async function buildStoreApi(options: StoreApiOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  await registerStoreRoutes(app, options);
  return app;
}
