// `flowvis collector`: the reference's go-ipfix collector. A CollectingProcess (src/transport)
// decodes IPFIX from any number of exporters; every data record goes
//
//   CollectingProcess.onMessage ──> Ring (last N records, served by GET /records)
//                               └─> format (json | text) ──> BoundedLineWriter ──> stdout
//
// The handler runs synchronously on the socket's turn and never blocks: when stdout is slower
// than the exporters, the line writer drops whole records and counts them.
import type { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { CollectingProcess, type CollectedMessage, type CollectingProcessStats } from '../transport/collecting-process.js';
import type { TransportLogger } from '../transport/errors.js';
import { silentLogger } from '../transport/errors.js';
import type { Clock } from '../util/clock.js';
import { JsonLineEncoder, TextBlockEncoder } from './format.js';
import { buildHttpServer, listenHttp } from './http.js';
import { DEFAULT_COLLECTOR_PORT, formatHostPort, type CollectorOptions } from './options.js';
import { BoundedLineWriter } from './output.js';
import { Ring } from './ring.js';
import type { CollectedRecord } from './types.js';

export interface CollectorTlsMaterial {
  cert: string;
  key: string;
  ca: string | null;
}

export interface CollectorDependencies {
  /** Where records are printed; process.stdout in the command. */
  out: Writable;
  tls?: CollectorTlsMaterial | null;
  logger?: TransportLogger;
  clock?: Clock;
}

/** The counters printed at shutdown and served at GET /stats. */
export interface CollectorStats {
  /** Data records decoded. */
  recordsReceived: number;
  /** Records missing according to the exporters' sequence numbers. */
  recordsLost: number;
  /** Records received but not delivered: collecting queue full, or stdout too slow. */
  recordsDropped: number;
  /** Of recordsDropped, those stdout could not take in time. */
  recordsNotPrinted: number;
  recordsPrinted: number;
  /** Data records in sets whose template was not (or no longer) known. */
  recordsWithoutTemplate: number;
  messagesReceived: number;
  /** Malformed messages; each closed its TCP/TLS session or dropped its datagram. */
  badMessages: number;
  /** Sessions open now. */
  sessions: number;
  sessionsTotal: number;
  tlsHandshakeFailures: number;
  recordsKept: number;
  perExporter: CollectingProcessStats['perExporter'];
}

export interface CollectorAddresses {
  /** "host:port" the IPFIX listener is bound to. */
  ipfix: string;
  /** "host:port" of the HTTP endpoint, or null when --http was not given. */
  http: string | null;
}

export class Collector {
  readonly ring: Ring<CollectedRecord>;
  private readonly process: CollectingProcess;
  private readonly output: BoundedLineWriter | null;
  private readonly json = new JsonLineEncoder();
  private readonly text = new TextBlockEncoder();
  private http: FastifyInstance | null = null;
  private stopped: Promise<CollectorStats> | null = null;

  constructor(
    readonly options: CollectorOptions,
    deps: CollectorDependencies,
  ) {
    this.ring = new Ring<CollectedRecord>(options.keep);
    this.output = options.format === 'none' ? null : new BoundedLineWriter(deps.out, options.outputBufferBytes);
    const tls = deps.tls ?? null;
    if ((options.transport === 'tls') !== (tls !== null)) {
      throw new Error('Collector: TLS material goes with --transport tls, and only with it');
    }
    this.process = new CollectingProcess({
      protocol: options.transport,
      host: options.address?.host,
      port: options.address?.port ?? DEFAULT_COLLECTOR_PORT,
      tls: tls === null ? undefined : { cert: tls.cert, key: tls.key, ...(tls.ca !== null ? { ca: tls.ca } : {}) },
      logger: deps.logger ?? silentLogger,
      clock: deps.clock,
    });
    this.process.onMessage((m) => this.onMessage(m));
  }

  async start(): Promise<CollectorAddresses> {
    await this.process.start();
    const bound = this.process.address();
    let http: string | null = null;
    if (this.options.http !== null) {
      this.http = buildHttpServer({ ring: this.ring, stats: () => this.stats() });
      try {
        http = await listenHttp(this.http, this.options.http);
      } catch (err) {
        await this.process.close();
        throw err;
      }
    }
    return { ipfix: formatHostPort(bound.address, bound.port), http };
  }

  stats(): CollectorStats {
    const t = this.process.stats();
    const out = this.output?.stats();
    const notPrinted = out?.linesDropped ?? 0;
    return {
      recordsReceived: t.recordsReceived,
      recordsLost: t.recordsLost,
      recordsDropped: t.recordsDropped + notPrinted,
      recordsNotPrinted: notPrinted,
      recordsPrinted: out?.linesWritten ?? 0,
      recordsWithoutTemplate: t.recordsWithoutTemplate,
      messagesReceived: t.messagesReceived,
      badMessages: t.badMessages,
      sessions: t.sessions,
      sessionsTotal: t.sessionsTotal,
      tlsHandshakeFailures: t.tlsHandshakeFailures,
      recordsKept: this.ring.size,
      perExporter: t.perExporter,
    };
  }

  /** Stops listening, writes out what is queued for stdout and returns the final counters. */
  stop(): Promise<CollectorStats> {
    this.stopped ??= (async () => {
      await this.process.close();
      if (this.http !== null) await this.http.close();
      if (this.output !== null) await this.output.end();
      return this.stats();
    })();
    return this.stopped;
  }

  private onMessage(m: CollectedMessage): void {
    const sets = m.message.dataSets;
    if (sets.length === 0) return;
    const exporter = formatHostPort(m.exporterAddress, m.exporterPort);
    const { observationDomainId, exportTime } = m.message.header;
    const keep = this.ring.capacity > 0;
    const output = this.output;
    const json = this.options.format === 'json';
    const jsonEncoder = this.json;
    const textEncoder = this.text;
    for (let s = 0; s < sets.length; s++) {
      const { templateId, records } = sets[s];
      for (let i = 0; i < records.length; i++) {
        const record = records[i];
        if (output !== null && json) {
          // encode() first: it may grow the buffer.
          const length = jsonEncoder.encode(record);
          output.writeBytes(jsonEncoder.buffer, 0, length);
        }
        if (!keep && (output === null || json)) continue;
        const entry: CollectedRecord = { exporter, observationDomainId, templateId, exportTime, record };
        if (keep) this.ring.push(entry);
        if (output !== null && !json) {
          const length = textEncoder.encode(entry);
          output.writeBytes(textEncoder.buffer, 0, length);
        }
      }
    }
  }
}
