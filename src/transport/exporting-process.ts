// The IPFIX Exporting Process (RFC 7011 10): sends data records to one collector over TCP,
// UDP or TLS, with the reference's behaviour:
//   - reconnects with exponential backoff (1 s doubling to 30 s) and resends every template
//     at the start of each new connection (a new TCP/TLS connection is a new transport
//     session, RFC 7011 10.4.2.2, so the collector has forgotten them);
//   - over UDP, resends templates every templateRefreshTimeout (default 600 s, RFC 7011
//     10.3.6) and keeps each message within maxMessageSize (default 1400 bytes, one datagram);
//   - queues records while disconnected or while the socket pushes back, up to
//     maxQueuedRecords; records beyond that are dropped and counted, never buffered without
//     bound.
//
// send() only queues; a pump scheduled with setImmediate encodes what was queued during the
// turn in batches (records of one template go into as few messages as fit) and writes them
// corked, so a batch leaves in one writev.
import { EventEmitter } from 'node:events';
import dgram from 'node:dgram';
import { lookup } from 'node:dns';
import net from 'node:net';
import tls from 'node:tls';
import { MessageWriter } from '../ipfix/index.js';
import type { EncodeShape } from '../ipfix/index.js';
import { encodedRecord, type EncodedRecords } from '../ipfix/writer.js';
import type { DataRecord, TemplateDefinition } from '../ipfix/api.js';
import { systemClock, type Clock } from '../util/clock.js';
import type { TransportProtocol } from '../util/address.js';
import { TransportError, silentLogger, type TransportLogger } from './errors.js';

export interface ExporterTlsOptions {
  /** PEM CA certificate(s) that verify the collector. Omit to use the system's roots. */
  ca?: string | Buffer | (string | Buffer)[];
  /** PEM client certificate and key, for mutual TLS. Give both or neither. */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** The name to verify the server certificate against (and SNI); defaults to host. */
  servername?: string;
  /** Default 'TLSv1.2'. */
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
}

export interface BackoffOptions {
  /** First retry delay; default 1000 ms. */
  initialMs?: number;
  /** Cap of the doubling delay; default 30000 ms. */
  maxMs?: number;
  /** Spread each delay uniformly over [delay/2, delay]; default false. */
  jitter?: boolean;
}

export interface ExportingProcessOptions {
  host: string;
  port: number;
  protocol: TransportProtocol;
  observationDomainId: number;
  templates: readonly TemplateDefinition[];
  tls?: ExporterTlsOptions;
  /** Largest IPFIX message; default 1400 for UDP, 65535 for TCP and TLS. */
  maxMessageSize?: number;
  /** Records held while disconnected or pushed back; default 65536. */
  maxQueuedRecords?: number;
  /** UDP template resend interval; default 600000 ms. Ignored for TCP and TLS. */
  templateRefreshMs?: number;
  backoff?: BackoffOptions;
  /** Give up one connection attempt after this long; default 10000 ms. */
  connectTimeoutMs?: number;
  /** How long close() waits for queued data to leave before it destroys the socket; default 5000 ms. */
  closeTimeoutMs?: number;
  clock?: Clock;
  logger?: TransportLogger;
}

export interface ExportingProcessStats {
  connected: boolean;
  /** Data records handed to the socket. */
  recordsSent: number;
  /** Data records dropped: queue full, closed before they could leave, or not encodable. */
  recordsDropped: number;
  /** Data records waiting in the queue now. */
  recordsQueued: number;
  messagesSent: number;
  bytesSent: number;
  templateMessagesSent: number;
  /** Connections established after the first one. */
  reconnects: number;
  connectAttempts: number;
  /** UDP datagrams the kernel refused to send (e.g. ICMP port unreachable from the last one). */
  udpSendErrors: number;
}

interface ResolvedOptions {
  readonly host: string;
  readonly port: number;
  readonly protocol: TransportProtocol;
  readonly observationDomainId: number;
  readonly templates: readonly TemplateDefinition[];
  readonly tls: Readonly<ExporterTlsOptions> | undefined;
  readonly maxMessageSize: number;
  readonly maxQueuedRecords: number;
  readonly templateRefreshMs: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  readonly backoffJitter: boolean;
  readonly connectTimeoutMs: number;
  readonly closeTimeoutMs: number;
}

const DEFAULT_UDP_MESSAGE_SIZE = 1400;
const MAX_MESSAGE_SIZE = 65535;
/** Records of one template gathered from small send() calls into one encode. */
const BATCH_RECORDS = 4096;
/**
 * UDP has no backpressure: a burst larger than the collector's receive buffer is lost. So
 * datagrams leave in bursts of this many per event-loop turn, and the pump encodes the next
 * batch only when the previous one has left.
 */
const UDP_BURST = 32;
const UDP_ERROR_REPORT_MS = 60_000;
const NO_RECORDS: readonly unknown[] = Object.freeze([]);

function invalid(message: string): never {
  throw new TransportError('TRANSPORT_ERR_INVALID_OPTION', message);
}

function positiveInt(name: string, v: unknown, dflt: number, max = Number.MAX_SAFE_INTEGER): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) invalid(`${name} must be an integer from 1 to ${max}, got ${String(v)}`);
  return v;
}

/** Checks the options once, with messages that say what to write instead. */
export function resolveExportingOptions(o: ExportingProcessOptions): ResolvedOptions {
  if (o === null || typeof o !== 'object') invalid('options must be an object: { host, port, protocol, observationDomainId, templates }');
  if (typeof o.host !== 'string' || o.host === '') invalid('host must be a non-empty DNS name or IP address, e.g. "127.0.0.1" or "flow-aggregator.flow-aggregator.svc"');
  if (typeof o.port !== 'number' || !Number.isInteger(o.port) || o.port < 1 || o.port > 65535) invalid(`port must be an integer from 1 to 65535, got ${String(o.port)}`);
  if (o.protocol !== 'tcp' && o.protocol !== 'udp' && o.protocol !== 'tls') invalid(`protocol must be "tcp", "udp" or "tls", got ${JSON.stringify(o.protocol)}`);
  if (typeof o.observationDomainId !== 'number' || !Number.isInteger(o.observationDomainId) || o.observationDomainId < 0 || o.observationDomainId > 0xffffffff) {
    invalid(`observationDomainId must be an integer from 0 to 4294967295, got ${String(o.observationDomainId)}`);
  }
  if (!Array.isArray(o.templates) || o.templates.length === 0) invalid('templates must list at least one TemplateDefinition (the records sent refer to them by templateId)');
  const ids = new Set<number>();
  for (const t of o.templates) {
    if (!t || typeof t.templateId !== 'number' || !Number.isInteger(t.templateId) || t.templateId < 256 || t.templateId > 65535) {
      invalid(`every template needs a templateId from 256 to 65535 (RFC 7011 3.4.1), got ${String(t?.templateId)}`);
    }
    if (ids.has(t.templateId)) invalid(`templateId ${t.templateId} is given twice`);
    ids.add(t.templateId);
  }
  if (o.tls !== undefined && o.protocol !== 'tls') invalid(`tls options were given but protocol is "${o.protocol}"; set protocol: "tls" or remove tls`);
  const t = o.tls;
  if (t !== undefined) {
    if ((t.cert === undefined) !== (t.key === undefined)) invalid('tls.cert and tls.key go together: give both for mutual TLS, or neither');
    if (t.minVersion !== undefined && t.minVersion !== 'TLSv1.2' && t.minVersion !== 'TLSv1.3') invalid(`tls.minVersion must be "TLSv1.2" or "TLSv1.3", got ${JSON.stringify(t.minVersion)}`);
  }
  const maxMessageSize = positiveInt('maxMessageSize', o.maxMessageSize, o.protocol === 'udp' ? DEFAULT_UDP_MESSAGE_SIZE : MAX_MESSAGE_SIZE, MAX_MESSAGE_SIZE);
  if (maxMessageSize < 256) invalid(`maxMessageSize ${maxMessageSize} is too small for a template set; use at least 256 (1400 for UDP over Ethernet)`);
  const backoffInitialMs = positiveInt('backoff.initialMs', o.backoff?.initialMs, 1000);
  const backoffMaxMs = positiveInt('backoff.maxMs', o.backoff?.maxMs, 30_000);
  if (backoffMaxMs < backoffInitialMs) invalid(`backoff.maxMs (${backoffMaxMs}) must not be below backoff.initialMs (${backoffInitialMs})`);
  return Object.freeze({
    host: o.host,
    port: o.port,
    protocol: o.protocol,
    observationDomainId: o.observationDomainId,
    templates: Object.freeze([...o.templates]),
    tls: t === undefined ? undefined : Object.freeze({ ...t }),
    maxMessageSize,
    maxQueuedRecords: positiveInt('maxQueuedRecords', o.maxQueuedRecords, 65536),
    templateRefreshMs: positiveInt('templateRefreshMs', o.templateRefreshMs, 600_000),
    backoffInitialMs,
    backoffMaxMs,
    backoffJitter: o.backoff?.jitter === true,
    connectTimeoutMs: positiveInt('connectTimeoutMs', o.connectTimeoutMs, 10_000),
    closeTimeoutMs: positiveInt('closeTimeoutMs', o.closeTimeoutMs, 5000),
  });
}

interface QueuedBatch {
  templateId: number;
  /** DataRecords, or records of the shape's type (sendAs); empty for an encoded batch. */
  records: readonly unknown[];
  shape: EncodeShape<never> | undefined;
  /** Records encoded already (sendEncoded), or null. */
  encoded: EncodedRecords | null;
}

type StreamSocket = net.Socket | tls.TLSSocket;

export interface ExportingProcessEvents {
  connected: [];
  disconnected: [err: TransportError | null];
  error: [err: Error];
}

export class ExportingProcess extends EventEmitter<ExportingProcessEvents> {
  private readonly opts: ResolvedOptions;
  private readonly clock: Clock;
  private readonly log: TransportLogger;
  private readonly templateIds: Set<number>;

  private stream: StreamSocket | null = null;
  private udp: dgram.Socket | null = null;
  /**
   * Memory that encoded batches are framed into on a stream, back here once the socket has
   * written the messages: a fresh buffer per message was external memory, and every ~64 MB of it
   * set off a full collection of the heap (a flush of 1,000,000 flows framed about 240 MB).
   */
  private readonly frames: Buffer[] = [];
  private writer: MessageWriter | null = null;
  private connected = false;
  private started = false;
  private closing = false;
  private closed = false;
  private blocked = false;
  private pumpScheduled = false;
  private udpInFlight = 0;
  private udpBacklog: Buffer[] = [];
  private udpBacklogHead = 0;
  private udpBurstScheduled = false;
  private udpErrorReportedAt = -Infinity;
  private attempt = 0;
  private everConnected = false;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private refreshTimer: NodeJS.Timeout | null = null;
  private lastTemplatesAt = 0;
  private flushWaiters: (() => void)[] = [];
  private closePromise: Promise<void> | null = null;

  private queue: QueuedBatch[] = [];
  private queueHead = 0;
  private queuedRecords = 0;

  private counters = {
    recordsSent: 0,
    recordsDropped: 0,
    messagesSent: 0,
    bytesSent: 0,
    templateMessagesSent: 0,
    reconnects: 0,
    connectAttempts: 0,
    udpSendErrors: 0,
  };

  constructor(options: ExportingProcessOptions) {
    super();
    this.opts = resolveExportingOptions(options);
    this.clock = options.clock ?? systemClock;
    this.log = options.logger ?? silentLogger;
    this.templateIds = new Set(this.opts.templates.map((t) => t.templateId));
  }

  /** Starts connecting; returns at once. Records sent before the connection is up are queued. */
  start(): void {
    if (this.closing) throw new TransportError('TRANSPORT_ERR_CLOSED', 'start() after close(); create a new ExportingProcess');
    if (this.started) return;
    this.started = true;
    if (this.opts.protocol === 'udp') {
      this.refreshTimer = setInterval(() => this.schedulePump(), this.opts.templateRefreshMs);
      this.refreshTimer.unref();
    }
    this.connect();
  }

  /**
   * Queues data records of one template for export and returns how many were accepted; the
   * rest are dropped and counted (queue full). The array is kept until it is encoded: do not
   * change it afterwards.
   */
  send(templateId: number, records: readonly DataRecord[]): number {
    return this.enqueue(templateId, records, undefined);
  }

  /**
   * Like send, for records of any type T that the shape maps to the template's IEs: they are
   * encoded with MessageWriter.encodeAs, so no DataRecord is built per record.
   */
  sendAs<T>(templateId: number, records: readonly T[], shape: EncodeShape<T>): number {
    return this.enqueue(templateId, records, shape as EncodeShape<never>);
  }

  /**
   * Like send, for data records encoded already (RecordBatchEncoder, e.g. the aggregator's
   * exported flows): they are framed into messages (MessageWriter.encodeEncoded) with this
   * process's headers and sequence numbers. Returns how many were accepted; the rest of the
   * batch is dropped and counted (queue full).
   */
  sendEncoded(batch: EncodedRecords): number {
    if (this.closing) throw new TransportError('TRANSPORT_ERR_CLOSED', 'sendEncoded() after close()');
    if (!this.templateIds.has(batch.templateId)) {
      throw new TransportError('TRANSPORT_ERR_UNKNOWN_TEMPLATE', `templateId ${batch.templateId} is not one of the templates given to the exporting process (${[...this.templateIds].join(', ')})`);
    }
    const n = batch.count;
    if (n === 0) {
      batch.release?.();
      return 0;
    }
    const room = this.opts.maxQueuedRecords - this.queuedRecords;
    if (room <= 0) {
      this.counters.recordsDropped += n;
      batch.release?.();
      return 0;
    }
    let accepted = batch;
    if (n > room) {
      this.counters.recordsDropped += n - room;
      accepted = {
        templateId: batch.templateId, bytes: batch.bytes.subarray(0, batch.ends[room - 1]), ends: batch.ends.subarray(0, room), count: room,
        ...(batch.release === undefined ? {} : { release: batch.release }),
      };
    }
    this.queue.push({ templateId: batch.templateId, records: NO_RECORDS, shape: undefined, encoded: accepted });
    this.queuedRecords += accepted.count;
    this.schedulePump();
    return accepted.count;
  }

  private enqueue(templateId: number, records: readonly unknown[], shape: EncodeShape<never> | undefined): number {
    if (this.closing) throw new TransportError('TRANSPORT_ERR_CLOSED', 'send() after close()');
    if (!this.templateIds.has(templateId)) {
      throw new TransportError('TRANSPORT_ERR_UNKNOWN_TEMPLATE', `templateId ${templateId} is not one of the templates given to the exporting process (${[...this.templateIds].join(', ')})`);
    }
    const n = records.length;
    if (n === 0) return 0;
    const room = this.opts.maxQueuedRecords - this.queuedRecords;
    if (room <= 0) {
      this.counters.recordsDropped += n;
      return 0;
    }
    const accepted = n <= room ? records : records.slice(0, room);
    if (n > room) this.counters.recordsDropped += n - room;
    this.queue.push({ templateId, records: accepted, shape, encoded: null });
    this.queuedRecords += accepted.length;
    this.schedulePump();
    return accepted.length;
  }

  /** Resolves once every queued record has been handed to the kernel (or the process is closed). */
  flush(): Promise<void> {
    if (this.isFlushed() || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.flushWaiters.push(resolve);
      this.schedulePump();
    });
  }

  /**
   * Stops reconnecting, writes what is queued when connected, and closes the socket. Records
   * still queued because there is no connection are counted as dropped.
   */
  close(): Promise<void> {
    this.closePromise ??= this.doClose();
    return this.closePromise;
  }

  private async doClose(): Promise<void> {
    this.closing = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    this.reconnectTimer = null;
    this.refreshTimer = null;
    if (this.connected) {
      this.blocked = false;
      this.pump(true);
    }
    this.dropQueued();
    const stream = this.stream;
    const udp = this.udp;
    if (stream !== null) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => stream.destroy(), this.opts.closeTimeoutMs);
        stream.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
        stream.end();
      });
    } else if (udp !== null) {
      await this.waitUdpIdle();
      await new Promise<void>((resolve) => udp.close(() => resolve()));
      this.udp = null;
      if (this.connected) {
        this.connected = false;
        this.emit('disconnected', null);
      }
    }
    this.closed = true;
    this.resolveFlushWaiters();
  }

  stats(): ExportingProcessStats {
    return { connected: this.connected, recordsQueued: this.queuedRecords, ...this.counters };
  }

  // --- connection management -------------------------------------------------------------

  private connect(): void {
    this.reconnectTimer = null;
    if (this.closing) return;
    this.counters.connectAttempts++;
    if (this.opts.protocol === 'udp') this.connectUdp();
    else this.connectStream();
  }

  private connectStream(): void {
    const { host, port, protocol } = this.opts;
    let socket: StreamSocket;
    if (protocol === 'tls') {
      const t = this.opts.tls ?? {};
      socket = tls.connect({
        host,
        port,
        ca: t.ca,
        cert: t.cert,
        key: t.key,
        servername: t.servername ?? (net.isIP(host) === 0 ? host : undefined),
        minVersion: t.minVersion ?? 'TLSv1.2',
        rejectUnauthorized: true,
      });
    } else {
      socket = net.connect({ host, port });
    }
    this.stream = socket;
    socket.setNoDelay(true);
    socket.setTimeout(this.opts.connectTimeoutMs);
    let failure: TransportError | null = null;
    const onTimeout = (): void => {
      failure = new TransportError('TRANSPORT_ERR_CONNECT_FAILED', `connecting to ${host}:${port} over ${protocol} timed out after ${this.opts.connectTimeoutMs} ms`);
      socket.destroy();
    };
    socket.once('timeout', onTimeout);
    socket.once(protocol === 'tls' ? 'secureConnect' : 'connect', () => {
      socket.setTimeout(0);
      socket.off('timeout', onTimeout);
      socket.setKeepAlive(true, 30_000);
      this.onConnected();
    });
    socket.on('drain', () => {
      this.blocked = false;
      this.schedulePump();
    });
    socket.on('error', (err: Error & { code?: string }) => {
      failure = this.wrapSocketError(err);
    });
    // The collector sends nothing on an IPFIX session; read to notice when it closes.
    socket.on('data', () => {});
    socket.once('close', () => this.onStreamClosed(socket, failure));
  }

  private wrapSocketError(err: Error & { code?: string }): TransportError {
    const { host, port, protocol } = this.opts;
    // With TLS 1.3 the server judges the client certificate after the client has finished its
    // side of the handshake, so an alert can arrive on a connection that looked established.
    const text = `${err.code ?? ''} ${err.message}`;
    const tlsFailure = protocol === 'tls' && (err.code?.startsWith('ERR_SSL') || (!this.connected && /ERR_TLS|CERT|SELF_SIGNED|ALTNAME|certificate|handshake|alert/i.test(text)));
    if (tlsFailure) return new TransportError('TRANSPORT_ERR_TLS_HANDSHAKE', `TLS handshake with ${host}:${port} failed: ${err.message}`, { cause: err });
    if (!this.connected) return new TransportError('TRANSPORT_ERR_CONNECT_FAILED', `connecting to ${host}:${port} over ${protocol} failed: ${err.message}`, { cause: err });
    return new TransportError('TRANSPORT_ERR_CONNECTION_LOST', `connection to ${host}:${port} over ${protocol} lost: ${err.message}`, { cause: err });
  }

  private connectUdp(): void {
    const { host, port } = this.opts;
    if (net.isIP(host) !== 0) {
      this.connectUdpTo(host);
      return;
    }
    // Resolve first: the socket's family (udp4 or udp6) must match the collector's address.
    lookup(host, (err, address) => {
      if (this.closing) return;
      if (err) {
        this.reportError(new TransportError('TRANSPORT_ERR_CONNECT_FAILED', `UDP export to ${host}:${port}: ${err.message}`, { cause: err }));
        this.scheduleReconnect();
        return;
      }
      this.connectUdpTo(address);
    });
  }

  private connectUdpTo(address: string): void {
    const { host, port } = this.opts;
    const socket = dgram.createSocket(net.isIPv6(address) ? 'udp6' : 'udp4');
    this.udp = socket;
    // ICMP errors (port unreachable) surface here and in send callbacks on a connected socket.
    socket.on('error', (err: Error) => this.onUdpError(err));
    socket.connect(port, address, (err?: Error) => {
      if (this.closing) return;
      if (err) {
        socket.close();
        this.udp = null;
        this.reportError(new TransportError('TRANSPORT_ERR_CONNECT_FAILED', `UDP export to ${host}:${port}: ${err.message}`, { cause: err }));
        this.scheduleReconnect();
        return;
      }
      this.onConnected();
    });
  }

  private onConnected(): void {
    if (this.closing) return;
    this.connected = true;
    this.blocked = false;
    this.attempt = 0;
    if (this.everConnected) this.counters.reconnects++;
    this.everConnected = true;
    // A new stream is a new transport session: sequence numbers and templates start over.
    if (this.writer === null || this.opts.protocol !== 'udp') {
      this.writer = new MessageWriter({ observationDomainId: this.opts.observationDomainId, maxMessageSize: this.opts.maxMessageSize, clock: this.clock });
      for (const t of this.opts.templates) this.writer.addTemplate(t);
    }
    this.log.info({ host: this.opts.host, port: this.opts.port, protocol: this.opts.protocol }, 'IPFIX exporting process connected');
    this.sendTemplates();
    this.emit('connected');
    this.schedulePump();
  }

  private onStreamClosed(socket: StreamSocket, failure: TransportError | null): void {
    if (this.stream !== socket) return;
    this.stream = null;
    const wasConnected = this.connected;
    this.connected = false;
    this.blocked = false;
    const err = failure ?? (this.closing ? null : new TransportError('TRANSPORT_ERR_CONNECTION_LOST', `the collector at ${this.opts.host}:${this.opts.port} closed the connection`));
    if (err !== null) this.reportError(err);
    if (wasConnected) {
      this.log.info({ host: this.opts.host, port: this.opts.port }, 'IPFIX exporting process disconnected');
      this.emit('disconnected', err);
    }
    if (this.closing) {
      this.dropQueued();
      this.resolveFlushWaiters();
      return;
    }
    this.scheduleReconnect();
  }

  /** Exponential backoff: initial, 2x, 4x, ... capped at max; optionally jittered. */
  backoffDelay(attempt: number): number {
    const base = Math.min(this.opts.backoffMaxMs, this.opts.backoffInitialMs * 2 ** Math.min(attempt, 30));
    return this.opts.backoffJitter ? Math.round(base / 2 + (Math.random() * base) / 2) : base;
  }

  private scheduleReconnect(): void {
    if (this.closing || this.reconnectTimer !== null) return;
    const delay = this.backoffDelay(this.attempt);
    this.attempt++;
    this.log.debug({ host: this.opts.host, port: this.opts.port, delayMs: delay }, 'IPFIX exporting process will reconnect');
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  private reportError(err: TransportError): void {
    this.log.warn({ code: err.code, host: this.opts.host, port: this.opts.port }, err.message);
    // An 'error' event without a listener would throw; reconnects are routine, so only emit when someone listens.
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  // --- writing -----------------------------------------------------------------------------

  private schedulePump(): void {
    if (this.pumpScheduled || !this.connected || this.blocked) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump(false);
    });
  }

  private sendTemplates(): void {
    const writer = this.writer;
    if (writer === null) return;
    const msgs = writer.templateMessages();
    this.counters.templateMessagesSent += msgs.length;
    this.lastTemplatesAt = this.clock.now();
    this.writeMessages(msgs, 0);
  }

  /** Encodes queued records and writes them until the queue is empty or the socket pushes back. */
  private pump(force: boolean): void {
    if (!this.connected || this.writer === null) return;
    if (this.opts.protocol === 'udp' && this.clock.now() - this.lastTemplatesAt >= this.opts.templateRefreshMs) this.sendTemplates();
    const stream = this.stream;
    stream?.cork();
    try {
      while (this.queueHead < this.queue.length && (force || !this.blocked)) {
        const { templateId, records, shape, encoded } = this.takeBatch();
        if (encoded !== null) this.frameAndWrite(encoded);
        else this.encodeAndWrite(templateId, records, shape);
      }
    } finally {
      stream?.uncork();
    }
    if (this.queueHead === this.queue.length) {
      this.queue = [];
      this.queueHead = 0;
    }
    if (stream !== null && stream.writableNeedDrain) this.blocked = true;
    this.checkFlushed();
  }

  /** The next batch: one queued send(), or several small ones of the same template joined. */
  private takeBatch(): QueuedBatch {
    const first = this.queue[this.queueHead++];
    if (first.encoded !== null) {
      this.queuedRecords -= first.encoded.count;
      return first;
    }
    this.queuedRecords -= first.records.length;
    if (first.records.length >= BATCH_RECORDS / 4) return first;
    let joined: unknown[] | null = null;
    while (this.queueHead < this.queue.length) {
      const next = this.queue[this.queueHead];
      const size = (joined?.length ?? first.records.length) + next.records.length;
      if (next.encoded !== null || next.templateId !== first.templateId || next.shape !== first.shape || size > BATCH_RECORDS) break;
      if (joined === null) joined = first.records.slice();
      for (let i = 0; i < next.records.length; i++) joined.push(next.records[i]);
      this.queueHead++;
      this.queuedRecords -= next.records.length;
    }
    return joined === null ? first : { templateId: first.templateId, records: joined, shape: first.shape, encoded: null };
  }

  /**
   * Frames an encoded batch into messages (copies of its bytes, so the batch is released to its
   * encoder right after); a record too large for a message is dropped and counted alone.
   */
  private frameAndWrite(batch: EncodedRecords): void {
    try {
      this.frameAndWriteBatch(batch);
    } finally {
      batch.release?.();
    }
  }

  private frameAndWriteBatch(batch: EncodedRecords): void {
    const writer = this.writer as MessageWriter;
    let msgs: Buffer[];
    let frame: Buffer | null = null;
    try {
      // On a stream the messages go into reused memory; a UDP backlog keeps its datagrams.
      msgs = this.stream === null ? writer.encodeEncoded(batch) : writer.encodeEncoded(batch, (bytes) => (frame = this.takeFrame(bytes)));
    } catch (firstErr) {
      let bad = 0;
      let lastErr = firstErr;
      for (let i = 0; i < batch.count; i++) {
        try {
          this.writeMessages(writer.encodeEncoded(encodedRecord(batch, i)), 1);
        } catch (err) {
          bad++;
          lastErr = err;
        }
      }
      this.counters.recordsDropped += bad;
      const e = lastErr as Error & { code?: string };
      this.log.warn({ code: e.code, templateId: batch.templateId, dropped: bad }, `IPFIX exporting process dropped records it could not frame: ${e.message}`);
      if (this.listenerCount('error') > 0) this.emit('error', e);
      return;
    }
    const taken = frame as Buffer | null;
    this.writeMessages(msgs, batch.count, taken === null ? undefined : () => this.giveFrame(taken));
  }

  private takeFrame(bytes: number): Buffer {
    for (let i = this.frames.length - 1; i >= 0; i--) {
      const b = this.frames[i];
      if (b.length >= bytes) {
        this.frames[i] = this.frames[this.frames.length - 1];
        this.frames.pop();
        return b;
      }
    }
    return Buffer.allocUnsafeSlow(Math.max(bytes, FRAME_BYTES));
  }

  private giveFrame(b: Buffer): void {
    if (this.frames.length < MAX_SPARE_FRAMES) this.frames.push(b);
  }

  private encode(templateId: number, records: readonly unknown[], shape: EncodeShape<never> | undefined): Buffer[] {
    const writer = this.writer as MessageWriter;
    return shape === undefined ? writer.encodeRecords(templateId, records as DataRecord[]) : writer.encodeAs(templateId, records as never[], shape);
  }

  private encodeAndWrite(templateId: number, records: readonly unknown[], shape: EncodeShape<never> | undefined): void {
    let msgs: Buffer[];
    try {
      msgs = this.encode(templateId, records, shape);
    } catch (err) {
      // One bad record must not sink the batch: encode one by one and drop only the bad ones.
      this.encodeOneByOne(templateId, records, shape, err);
      return;
    }
    this.writeMessages(msgs, records.length);
  }

  private encodeOneByOne(templateId: number, records: readonly unknown[], shape: EncodeShape<never> | undefined, firstErr: unknown): void {
    let bad = 0;
    let lastErr = firstErr;
    for (const r of records) {
      try {
        this.writeMessages(this.encode(templateId, [r], shape), 1);
      } catch (err) {
        bad++;
        lastErr = err;
      }
    }
    this.counters.recordsDropped += bad;
    const e = lastErr as Error & { code?: string };
    this.log.warn({ code: e.code, templateId, dropped: bad }, `IPFIX exporting process dropped records it could not encode: ${e.message}`);
    if (this.listenerCount('error') > 0) this.emit('error', e);
  }

  /** `written`: called once the stream has written every message (or failed), when their memory may be reused. */
  private writeMessages(msgs: Buffer[], records: number, written?: () => void): void {
    let bytes = 0;
    for (const m of msgs) bytes += m.length;
    const stream = this.stream;
    if (stream !== null) {
      const last = msgs.length - 1;
      for (let i = 0; i < last; i++) stream.write(msgs[i]);
      if (last >= 0) stream.write(msgs[last], written);
      else written?.();
    } else if (this.udp !== null) {
      for (let i = 0; i < msgs.length; i++) this.udpBacklog.push(msgs[i]);
      this.sendUdpBurst();
    } else {
      return;
    }
    this.counters.messagesSent += msgs.length;
    this.counters.bytesSent += bytes;
    this.counters.recordsSent += records;
  }

  /** Sends up to UDP_BURST backlogged datagrams now and schedules the rest for later turns. */
  private sendUdpBurst(): void {
    const udp = this.udp;
    if (udp === null) return;
    const backlog = this.udpBacklog;
    const end = Math.min(backlog.length, this.udpBacklogHead + UDP_BURST);
    for (let i = this.udpBacklogHead; i < end; i++) {
      this.udpInFlight++;
      udp.send(backlog[i], this.onUdpSent);
      backlog[i] = EMPTY;
    }
    this.udpBacklogHead = end;
    if (end < backlog.length) {
      this.blocked = true;
      if (!this.udpBurstScheduled) {
        this.udpBurstScheduled = true;
        setImmediate(() => {
          this.udpBurstScheduled = false;
          this.sendUdpBurst();
        });
      }
      return;
    }
    this.udpBacklog = [];
    this.udpBacklogHead = 0;
    if (this.blocked) {
      this.blocked = false;
      this.schedulePump();
    }
  }

  private readonly onUdpSent = (err: Error | null): void => {
    this.udpInFlight--;
    if (err) {
      this.counters.udpSendErrors++;
      this.onUdpError(err);
    }
    this.checkFlushed();
  };

  /**
   * Typically ECONNREFUSED from an ICMP port unreachable: nobody listens yet. UDP has no
   * session to lose, so keep sending; report at most once a minute, not per datagram.
   */
  private onUdpError(err: Error): void {
    const now = this.clock.now();
    if (now - this.udpErrorReportedAt < UDP_ERROR_REPORT_MS) return;
    this.udpErrorReportedAt = now;
    this.reportError(new TransportError('TRANSPORT_ERR_CONNECTION_LOST', `UDP export to ${this.opts.host}:${this.opts.port}: ${err.message} (${this.counters.udpSendErrors} datagrams refused so far)`, { cause: err }));
  }

  private waitUdpIdle(): Promise<void> {
    if (this.udpInFlight === 0 && this.udpBacklog.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.udpInFlight === 0 && this.udpBacklog.length === 0) resolve();
        else setImmediate(check);
      };
      check();
    });
  }

  private isFlushed(): boolean {
    if (this.queuedRecords > 0) return false;
    if (this.stream !== null) return this.stream.writableLength === 0;
    return this.udpInFlight === 0 && this.udpBacklog.length === 0;
  }

  private checkFlushed(): void {
    if (this.flushWaiters.length === 0) return;
    if (this.isFlushed()) {
      this.resolveFlushWaiters();
    } else if (this.stream !== null && this.queuedRecords === 0 && !this.blocked) {
      // Written but still in the socket's buffer: resolve when the last write completes.
      this.stream.write(EMPTY, () => this.checkFlushed());
    }
  }

  private resolveFlushWaiters(): void {
    const ws = this.flushWaiters;
    this.flushWaiters = [];
    for (const w of ws) w();
  }

  private dropQueued(): void {
    if (this.queuedRecords > 0) {
      this.counters.recordsDropped += this.queuedRecords;
      this.log.warn({ host: this.opts.host, port: this.opts.port, dropped: this.queuedRecords }, 'IPFIX exporting process closed with records still queued');
    }
    this.queue = [];
    this.queueHead = 0;
    this.queuedRecords = 0;
  }
}

const EMPTY = Buffer.alloc(0);
/** The framing memory's least size: a batch of the record batch encoder's default 256 KiB, with its messages' headers. */
const FRAME_BYTES = 288 * 1024;
/** Framing buffers kept for reuse: the batches whose messages a socket may be writing at once. */
const MAX_SPARE_FRAMES = 16;
