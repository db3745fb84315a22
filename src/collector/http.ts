// The collector's small HTTP endpoint:
//   GET /records?count=N&format=json|text   the newest N kept records (oldest first)
//   GET /stats                              the collector's counters
// Bad query parameters get 400 with a coded message; nothing here can stop the collector.
import Fastify, { type FastifyInstance } from 'fastify';
import { CollectorErrorCode } from './errors.js';
import { recordToJson, recordToText } from './format.js';
import type { Ring } from './ring.js';
import type { CollectedRecord } from './types.js';
import { MAX_KEEP, formatHostPort, type ListenAddress } from './options.js';

export const DEFAULT_RECORDS_COUNT = 10;

export interface RecordsEndpointSource {
  ring: Ring<CollectedRecord>;
  stats(): object;
}

interface HttpErrorBody {
  error: { code: string; message: string };
}

function badRequest(message: string): HttpErrorBody {
  return { error: { code: CollectorErrorCode.badQuery, message } };
}

/** A kept record with where it came from, as one JSON object. */
export function collectedRecordToJson(entry: CollectedRecord): string {
  return (
    `{"exporter":${JSON.stringify(entry.exporter)},"observationDomainId":${entry.observationDomainId},` +
    `"templateId":${entry.templateId},"exportTime":${entry.exportTime},"record":${recordToJson(entry.record)}}`
  );
}

export function buildHttpServer(source: RecordsEndpointSource): FastifyInstance {
  const app = Fastify({ logger: false });

  app.get('/records', async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    for (const key of Object.keys(query)) {
      if (key !== 'count' && key !== 'format') {
        return reply.code(400).send(badRequest(`unknown query parameter "${key}"; use count and format`));
      }
    }
    let count = DEFAULT_RECORDS_COUNT;
    if (query.count !== undefined) {
      const text = query.count;
      if (typeof text !== 'string' || !/^\d+$/.test(text) || Number(text) > MAX_KEEP) {
        return reply.code(400).send(badRequest(`count "${String(text)}" is not a whole number from 0 to ${MAX_KEEP}`));
      }
      count = Number(text);
    }
    const format = query.format ?? 'json';
    if (format !== 'json' && format !== 'text') {
      return reply.code(400).send(badRequest(`format "${String(format)}" is not json or text`));
    }
    const records = source.ring.last(count);
    if (format === 'text') {
      return reply.type('text/plain; charset=utf-8').send(records.map(recordToText).join(''));
    }
    const body = `{"count":${records.length},"records":[${records.map(collectedRecordToJson).join(',')}]}`;
    return reply.type('application/json; charset=utf-8').send(body);
  });

  app.get('/stats', async () => source.stats());

  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({
      error: { code: CollectorErrorCode.notFound, message: `${request.method} ${request.url} not found; try GET /records or GET /stats` },
    });
  });

  return app;
}

/** Starts the endpoint and returns its bound "host:port". */
export async function listenHttp(app: FastifyInstance, address: ListenAddress): Promise<string> {
  await app.listen({ host: address.host, port: address.port });
  const bound = app.server.address();
  if (bound === null || typeof bound === 'string') return String(bound);
  return formatHostPort(bound.address, bound.port);
}
