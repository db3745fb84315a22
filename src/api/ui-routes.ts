// The dashboards on an HTTP server: the static files of the built UI (scripts/build-ui.mjs
// writes them to dist/src/ui/static) and one JSON route per page.
//
//   GET /                              -> 302 /ui/
//   GET /ui/, /ui/<file>               the built UI (index.html, app.js, app.css)
//   GET /api/v1/dashboard/<page>       everything one page draws (src/store/dashboard-queries.ts):
//                                      overview, pod-to-pod, pod-to-external, pod-to-service,
//                                      flow-records, node-throughput, network-policy
//   POST /api/v1/dashboard/<page>/addresses   {"edges": [{source, destination}, ...]}: the
//                                      addresses behind those edges of an edge page
//
// Query parameters are the store API's (parseFlowQuery): a bad one gets 400 with a message that
// says what to write, a store that cannot answer gets 503.
//
// The static files are read once at registration and served from memory: the UI is three files,
// and a fixed table of names leaves no path to traverse.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { DashboardQueries, DASHBOARD_PAGES, EDGE_PAGE_SPECS, isEdgePage, parseEdgeRefs, type DashboardPage } from '../store/dashboard-queries.js';
import { StoreError } from '../store/errors.js';
import { parseFlowQuery } from '../store/query.js';
import type { FlowRepository } from '../store/repository.js';
import { systemClock, type Clock } from '../util/clock.js';
import { STORE_API_PREFIX } from './store-api.js';

export const UI_PREFIX = '/ui';
export const DASHBOARD_PREFIX = `${STORE_API_PREFIX}/dashboard`;

/** Where the build writes the UI: dist/src/ui/static, next to this file's dist/src/api. */
export const DEFAULT_UI_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../ui/static');

export interface UiRoutesOptions {
  repository: () => FlowRepository | null;
  clock?: Clock;
  /** The built UI; default DEFAULT_UI_DIR. */
  staticDir?: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

interface StaticFile {
  body: Buffer;
  type: string;
  etag: string;
}

/** Reads every file of the built UI (one level, by name). */
export function loadStaticFiles(dir: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  if (!existsSync(dir)) return files;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (!statSync(path).isFile()) continue;
    const body = readFileSync(path);
    files.set(name, { body, type: TYPES[extname(name)] ?? 'application/octet-stream', etag: `"${createHash('sha1').update(body).digest('base64url')}"` });
  }
  return files;
}

/** Adds the UI's static files and the dashboard routes to a Fastify instance. */
export async function registerUiRoutes(app: FastifyInstance, options: UiRoutesOptions): Promise<void> {
  const clock = options.clock ?? systemClock;
  const staticDir = options.staticDir ?? DEFAULT_UI_DIR;
  const files = loadStaticFiles(staticDir);

  await app.register(
    async (child) => {
      child.setErrorHandler((err, _req, reply) => {
        if (err instanceof StoreError) {
          void reply.code(err.code === 'STORE_ERR_INVALID_QUERY' ? 400 : 503).send({ error: err.code, message: err.message });
          return;
        }
        const status = (err as { statusCode?: number }).statusCode ?? 500;
        void reply.code(status).send({ error: status >= 500 ? 'internal' : 'bad_request', message: err instanceof Error ? err.message : String(err) });
      });
      child.get<{ Params: { page: string } }>('/:page', async (req, reply) => {
        const view = Object.hasOwn(DASHBOARD_PAGES, req.params.page) ? DASHBOARD_PAGES[req.params.page as DashboardPage] : undefined;
        if (!view) {
          return reply.code(404).send({ error: 'UI_ERR_UNKNOWN_PAGE', message: `no dashboard "${req.params.page}"; use one of ${Object.keys(DASHBOARD_PAGES).join(', ')}` });
        }
        const query = parseFlowQuery((req.query ?? {}) as Record<string, unknown>, Math.floor(clock.now() / 1000));
        const repo = options.repository();
        if (!repo) throw new StoreError('STORE_ERR_UNAVAILABLE', 'the flow store is not open yet (the storage sink opens it at its first commit); retry shortly');
        return view(new DashboardQueries(repo), query);
      });
      // The addresses behind some edges of an edge page, asked for once the page is drawn.
      child.post<{ Params: { page: string } }>('/:page/addresses', async (req, reply) => {
        if (!isEdgePage(req.params.page)) {
          return reply.code(404).send({ error: 'UI_ERR_UNKNOWN_PAGE', message: `no edge addresses for "${req.params.page}"; use one of ${Object.keys(EDGE_PAGE_SPECS).join(', ')}` });
        }
        const query = parseFlowQuery((req.query ?? {}) as Record<string, unknown>, Math.floor(clock.now() / 1000));
        const edges = parseEdgeRefs(req.body);
        const repo = options.repository();
        if (!repo) throw new StoreError('STORE_ERR_UNAVAILABLE', 'the flow store is not open yet (the storage sink opens it at its first commit); retry shortly');
        return new DashboardQueries(repo).edgeAddresses(req.params.page, query, edges);
      });
    },
    { prefix: DASHBOARD_PREFIX },
  );

  const notBuilt = () =>
    `<!doctype html><meta charset="utf-8"><title>flowvis</title><p>UI_ERR_NOT_BUILT: the dashboards are not built in ${staticDir}. ` +
    'Run <code>npm run build</code> (it runs scripts/build-ui.mjs), then restart.</p>';

  app.get('/', async (_req, reply) => reply.redirect(`${UI_PREFIX}/`, 302));
  app.get(UI_PREFIX, async (_req, reply) => reply.redirect(`${UI_PREFIX}/`, 302));
  app.get<{ Params: { '*': string } }>(`${UI_PREFIX}/*`, async (req, reply) => {
    const name = req.params['*'] === '' ? 'index.html' : req.params['*'];
    const file = files.get(name);
    if (!file) {
      if (files.size === 0) return reply.code(503).type('text/html; charset=utf-8').send(notBuilt());
      return reply.code(404).send({ error: 'UI_ERR_NOT_FOUND', message: `no file ${name} in the UI` });
    }
    if (req.headers['if-none-match'] === file.etag) return reply.code(304).send();
    // index.html names the other files, so it is revalidated; the others may be cached briefly.
    void reply
      .header('content-type', file.type)
      .header('etag', file.etag)
      .header('cache-control', name === 'index.html' ? 'no-cache' : 'public, max-age=300')
      .header('x-content-type-options', 'nosniff');
    return reply.send(file.body);
  });
}
