// The IPFIX Collecting Process (RFC 7011 10): listens on TCP, UDP or TLS, over IPv4 and
// IPv6, and serves many exporters at once.
//
//   TCP/TLS: one session per connection, with its own deframer and decoder (so its own
//            template cache, RFC 7011 8: templates are scoped to the transport session and
//            observation domain). Bad bytes close that session only.
//   UDP:     one session per (peer address, peer port), each datagram one message
//            (RFC 7011 10.3.3); templates expire after templateLifetimeMs without a refresh
//            (default 1800 s). A bad datagram is dropped; the session stays.
//
// Sequence numbers (RFC 7011 3.1) count the data records sent before a message, mod 2^32,
// per transport session and observation domain; a jump forward is counted as lost records.
//
// Decoded messages reach the consumer either synchronously (onMessage) or through a
// bounded queue (async iteration). When the queue is full, TCP/TLS sessions stop reading
// (the deframer holds the rest of the current chunk, the exporters see TCP backpressure) and
// UDP messages are dropped and counted, so a slow consumer never grows memory without bound.
import { EventEmitter } from 'node:events';
import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';
import { MessageDecoder, readMessageLength } from '../ipfix/index.js';
import { IpfixDeframer } from '../ipfix/deframer.js';
import type { DataRecord } from '../ipfix/api.js';
import type { DecodedMessageOf } from '../ipfix/decoder.js';
import type { RecordShape } from '../ipfix/template.js';
import { systemClock, type Clock } from '../util/clock.js';
import type { TransportProtocol } from '../util/address.js';
import { BoundedQueue } from './bounded-queue.js';
import { TransportError, TransportErrorCode, silentLogger, type TransportLogger } from './errors.js';

export interface CollectorTlsOptions {
  /** PEM server certificate and key. */
  cert: string | Buffer;
  key: string | Buffer;
  /** PEM CA that signs client certificates. When given, clients must present one (mutual TLS). */
  ca?: string | Buffer | (string | Buffer)[];
  /** Default true when ca is given. */
  requireClientCert?: boolean;
  /** Default 'TLSv1.2'. */
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
}

export interface CollectingProcessOptions<R = DataRecord> {
  protocol: TransportProtocol;
  /** Address to listen on; default '::' (IPv6 and IPv4, falling back to '0.0.0.0' without IPv6). */
  host?: string;
  /** 0 picks a free port; address() tells which. */
  port: number;
  tls?: CollectorTlsOptions;
  /** Decoded messages waiting for an async consumer; default 4096. */
  queueCapacity?: number;
  /** UDP template lifetime and idle-session expiry; default 1800000 ms (RFC 7011 8.4). */
  templateLifetimeMs?: number;
  /** Open TCP/TLS connections or tracked UDP peers; default 10000. */
  maxSessions?: number;
  /** SO_RCVBUF for UDP; default 8 MiB (the kernel may cap it at net.core.rmem_max). */
  udpReceiveBufferSize?: number;
  clock?: Clock;
  logger?: TransportLogger;
  /**
   * Decode data records straight into this shape (MessageDecoder.decodeAs, e.g. the aggregator's
   * FLOW_RECORD_SHAPE) instead of DataRecords; no DataRecord is made in between.
   */
  decodeAs?: RecordShape<R>;
  /**
   * With decodeAs and an onMessage handler: a message's records are valid only during the
   * handler's call for it. The session's decoder then overwrites the record objects of earlier
   * messages instead of making new ones for every record (MessageDecoder.decodeAsReusing); for
   * consumers that take what they need from each record at once (the aggregator's ingest).
   * Default false. Messages that wait in the queue (no handler) always get their own records.
   */
  reuseRecords?: boolean;
}

export interface SessionInfo {
  readonly exporterAddress: string;
  readonly exporterPort: number;
  readonly protocol: TransportProtocol;
  readonly sessionId: number;
}

export interface CollectedMessage<R = DataRecord> extends SessionInfo {
  readonly observationDomainId: number;
  /** Clock time the message was decoded, ms since the Unix epoch. */
  readonly receivedAt: number;
  /** Data records are DataRecords, or the decodeAs shape's records when that option is set. */
  readonly message: DecodedMessageOf<R>;
}

export interface ExporterStats {
  sessions: number;
  messages: number;
  records: number;
  recordsLost: number;
  /** Lost records by observation domain ID (only domains that lost any). */
  recordsLostByDomain: Record<number, number>;
  badMessages: number;
}

export interface CollectingProcessStats {
  /** Sessions open now (TCP/TLS connections, or UDP peers being tracked). */
  sessions: number;
  sessionsTotal: number;
  messagesReceived: number;
  recordsReceived: number;
  /** Records missing according to sequence numbers. */
  recordsLost: number;
  /** Messages (and their records) dropped because the consumer queue was full. */
  messagesDropped: number;
  recordsDropped: number;
  /** Malformed messages or streams; each closed its TCP session or dropped its datagram. */
  badMessages: number;
  recordsWithoutTemplate: number;
  outOfOrderMessages: number;
  tlsHandshakeFailures: number;
  udpSessionsExpired: number;
  /** Datagrams from new peers refused because maxSessions peers were tracked. */
  sessionsRefused: number;
  /** Times the onMessage handler threw. */
  consumerErrors: number;
  queueLength: number;
  perExporter: Record<string, ExporterStats>;
}

interface ResolvedCollectorOptions {
  readonly protocol: TransportProtocol;
  readonly host: string | undefined;
  readonly port: number;
  readonly tls: Readonly<CollectorTlsOptions> | undefined;
  readonly queueCapacity: number;
  readonly templateLifetimeMs: number;
  readonly maxSessions: number;
  readonly udpReceiveBufferSize: number;
  readonly decodeAs: RecordShape<unknown> | undefined;
  readonly reuseRecords: boolean;
}

function invalid(message: string): never {
  throw new TransportError('TRANSPORT_ERR_INVALID_OPTION', message);
}

function positiveInt(name: string, v: unknown, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) invalid(`${name} must be a positive integer, got ${String(v)}`);
  return v;
}

export function resolveCollectingOptions<R>(o: CollectingProcessOptions<R>): ResolvedCollectorOptions {
  if (o === null || typeof o !== 'object') invalid('options must be an object: { protocol, port, host?, tls? }');
  if (o.protocol !== 'tcp' && o.protocol !== 'udp' && o.protocol !== 'tls') invalid(`protocol must be "tcp", "udp" or "tls", got ${JSON.stringify(o.protocol)}`);
  if (typeof o.port !== 'number' || !Number.isInteger(o.port) || o.port < 0 || o.port > 65535) invalid(`port must be an integer from 0 to 65535 (0 picks a free one), got ${String(o.port)}`);
  if (o.host !== undefined && (typeof o.host !== 'string' || net.isIP(o.host) === 0)) {
    invalid(`host must be an IP address to listen on, e.g. "0.0.0.0", "::" or "127.0.0.1", got ${JSON.stringify(o.host)}`);
  }
  if (o.protocol === 'tls') {
    if (o.tls === undefined || !o.tls.cert || !o.tls.key) invalid('protocol "tls" needs tls.cert and tls.key (PEM); createTlsMaterial() in src/transport/certs.ts makes a set');
    if (o.tls.requireClientCert === true && !o.tls.ca) invalid('tls.requireClientCert needs tls.ca, the CA that signs the client certificates');
    if (o.tls.minVersion !== undefined && o.tls.minVersion !== 'TLSv1.2' && o.tls.minVersion !== 'TLSv1.3') invalid(`tls.minVersion must be "TLSv1.2" or "TLSv1.3", got ${JSON.stringify(o.tls.minVersion)}`);
  } else if (o.tls !== undefined) {
    invalid(`tls options were given but protocol is "${o.protocol}"; set protocol: "tls" or remove tls`);
  }
  if (o.decodeAs !== undefined && (o.decodeAs === null || typeof o.decodeAs !== 'object' || typeof o.decodeAs.properties !== 'function')) {
    invalid('decodeAs must be a RecordShape (e.g. FLOW_RECORD_SHAPE from src/flow/ie-mapping.ts), or left out for DataRecords');
  }
  if (o.reuseRecords !== undefined && typeof o.reuseRecords !== 'boolean') {
    invalid(`reuseRecords must be true or false (true: records valid only during the onMessage call), got ${String(o.reuseRecords)}`);
  }
  return Object.freeze({
    protocol: o.protocol,
    host: o.host,
    port: o.port,
    tls: o.tls === undefined ? undefined : Object.freeze({ ...o.tls }),
    queueCapacity: positiveInt('queueCapacity', o.queueCapacity, 4096),
    templateLifetimeMs: positiveInt('templateLifetimeMs', o.templateLifetimeMs, 1_800_000),
    maxSessions: positiveInt('maxSessions', o.maxSessions, 10_000),
    udpReceiveBufferSize: positiveInt('udpReceiveBufferSize', o.udpReceiveBufferSize, 8 * 1024 * 1024),
    decodeAs: o.decodeAs as RecordShape<unknown> | undefined,
    reuseRecords: o.reuseRecords === true,
  });
}

/** Sequence state of one observation domain within a session. */
interface DomainSequence {
  next: number;
}

interface Session extends SessionInfo {
  readonly decoder: MessageDecoder;
  readonly domains: Map<number, DomainSequence>;
  readonly exporter: ExporterStats;
  lastSeen: number;
}

interface StreamSession extends Session {
  readonly socket: net.Socket;
  readonly deframer: IpfixDeframer;
  readonly onFrame: (frame: Buffer) => boolean;
}

/** '::ffff:10.0.0.1' -> '10.0.0.1', so an IPv4 exporter reads the same on a dual-stack socket. */
function plainAddress(address: string | undefined): string {
  if (address === undefined) return '';
  return address.startsWith('::ffff:') && net.isIPv4(address.slice(7)) ? address.slice(7) : address;
}

export interface CollectingProcessEvents {
  /** A peer sent bytes that are not IPFIX; its session was closed or its datagram dropped. */
  badMessage: [info: { exporterAddress: string; exporterPort: number; code: string; message: string }];
  sessionOpened: [info: SessionInfo];
  sessionClosed: [info: SessionInfo];
}

const MAX_LOGGED_PEERS = 4096;

/**
 * Bytes a plain TCP session reads per system call, into one buffer that every session of the
 * collecting process reuses (readIntoReusedBuffer); Node's default reads as much into a fresh
 * Buffer each time. Not more: a chunk is decoded right after the kernel copied it, while it is
 * still in the processor's cache (reads of 1 MiB were slower in the aggregator's fast phases).
 */
export const TCP_READ_BUFFER_BYTES = 64 * 1024;

/**
 * Makes an accepted TCP socket (net.Server with pauseOnConnect, not yet resumed) read into
 * `buffer`, calling `onRead(bytes, buffer)` for every read, instead of emitting a new Buffer per
 * read as 'data'. This is what the `onread` option of net.Socket / net.connect does, which Node
 * 20 offers only for sockets it creates itself, not for those a server accepts; here the same
 * two socket fields are set (found by their symbols' names) and the handle is told to use the
 * buffer. The data must be used before onRead returns (the next read overwrites it); returning
 * false stops reading until socket.resume(), as socket.pause() does. Why: a fresh 64 KiB Buffer
 * per read is external memory, and every ~64 MB of it makes V8 collect (a scavenge and then a
 * full mark of the heap), and its fresh pages fault in (a server reading 760 MB from 4 loopback
 * clients, 64 KiB per read: 0.36-0.37 s of CPU against 0.59-0.73 s).
 * Returns false, changing nothing, where this Node does not have those fields: the caller then
 * reads through 'data' events.
 */
export function readIntoReusedBuffer(socket: net.Socket, buffer: Buffer, onRead: (bytes: number, buffer: Buffer) => boolean): boolean {
  const symbols = Object.getOwnPropertySymbols(socket);
  const kBuffer = symbols.find((k) => k.description === 'kBuffer');
  const kBufferCb = symbols.find((k) => k.description === 'kBufferCb');
  const fields = socket as unknown as Record<symbol, unknown>;
  const handle = (socket as unknown as { _handle?: { useUserBuffer?: unknown } | null })._handle;
  if (kBuffer === undefined || kBufferCb === undefined || fields[kBuffer] !== null || fields[kBufferCb] !== null) return false;
  if (handle === null || handle === undefined || typeof handle.useUserBuffer !== 'function') return false;
  fields[kBuffer] = buffer;
  fields[kBufferCb] = onRead;
  (handle.useUserBuffer as (b: Uint8Array) => void).call(handle, buffer);
  return true;
}

export class CollectingProcess<R = DataRecord> extends EventEmitter<CollectingProcessEvents> implements AsyncIterable<CollectedMessage<R>> {
  private readonly opts: ResolvedCollectorOptions;
  private readonly clock: Clock;
  private readonly log: TransportLogger;
  private readonly queue: BoundedQueue<CollectedMessage<R>>;
  private handler: ((m: CollectedMessage<R>) => void) | null = null;
  private iterating = false;

  private server: net.Server | null = null;
  private udp: dgram.Socket | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private readonly streamSessions = new Set<StreamSession>();
  private readonly handshaking = new Set<net.Socket>();
  private readonly udpSessions = new Map<string, Session>();
  private readonly exporters = new Map<string, ExporterStats>();
  private readonly loggedPeers = new Set<string>();
  private nextSessionId = 1;
  private readonly pausedSessions = new Set<StreamSession>();
  private waitingForSpace = false;
  private closed = false;
  private tcpReadBuffer: Buffer | null = null;

  private counters = {
    sessionsTotal: 0,
    messagesReceived: 0,
    recordsReceived: 0,
    recordsLost: 0,
    messagesDropped: 0,
    recordsDropped: 0,
    badMessages: 0,
    recordsWithoutTemplate: 0,
    outOfOrderMessages: 0,
    tlsHandshakeFailures: 0,
    udpSessionsExpired: 0,
    sessionsRefused: 0,
    consumerErrors: 0,
  };

  constructor(options: CollectingProcessOptions<R>) {
    super();
    this.opts = resolveCollectingOptions(options);
    this.clock = options.clock ?? systemClock;
    this.log = options.logger ?? silentLogger;
    this.queue = new BoundedQueue(this.opts.queueCapacity);
  }

  /** Binds the listening socket. Rejects with TRANSPORT_ERR_LISTEN_FAILED when it cannot. */
  async start(): Promise<void> {
    if (this.closed) throw new TransportError('TRANSPORT_ERR_CLOSED', 'start() after close(); create a new CollectingProcess');
    if (this.server !== null || this.udp !== null) return;
    const explicit = this.opts.host;
    try {
      await this.listen(explicit ?? '::');
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (explicit === undefined && (code === 'EAFNOSUPPORT' || code === 'EADDRNOTAVAIL')) {
        await this.listen('0.0.0.0');
      } else {
        throw new TransportError('TRANSPORT_ERR_LISTEN_FAILED', `cannot listen on ${explicit ?? '::'}:${this.opts.port}/${this.opts.protocol}: ${(err as Error).message}`, { cause: err });
      }
    }
  }

  /** The bound address; port is the real one when 0 was asked for. */
  address(): { address: string; port: number; family: string } {
    const a = (this.server?.address() ?? this.udp?.address()) as net.AddressInfo | null | undefined;
    if (!a || typeof a !== 'object') throw new TransportError('TRANSPORT_ERR_CLOSED', 'address() before start() or after close()');
    return { address: a.address, port: a.port, family: a.family };
  }

  /**
   * Delivers every decoded message synchronously, in arrival order, instead of queueing it.
   * Use this or async iteration, not both.
   */
  onMessage(handler: (m: CollectedMessage<R>) => void): void {
    if (this.iterating) throw new Error('CollectingProcess: onMessage() while an async iterator consumes the queue; use one of them');
    this.handler = handler;
    for (let m = this.queue.shift(); m !== undefined; m = this.queue.shift()) handler(m);
  }

  /** Async iteration over decoded messages (through the bounded queue); ends after close(). */
  [Symbol.asyncIterator](): AsyncIterator<CollectedMessage<R>> {
    if (this.handler !== null) throw new Error('CollectingProcess: async iteration while onMessage() is set; use one of them');
    this.iterating = true;
    return this.queue[Symbol.asyncIterator]();
  }

  stats(): CollectingProcessStats {
    const perExporter: Record<string, ExporterStats> = {};
    for (const [addr, s] of this.exporters) perExporter[addr] = { ...s, recordsLostByDomain: { ...s.recordsLostByDomain } };
    return {
      sessions: this.streamSessions.size + this.udpSessions.size,
      ...this.counters,
      queueLength: this.queue.length,
      perExporter,
    };
  }

  /** Forgets UDP peers (and their templates) idle for templateLifetimeMs; runs on a timer too. */
  expireIdleSessions(): number {
    const cutoff = this.clock.now() - this.opts.templateLifetimeMs;
    let n = 0;
    for (const [key, s] of this.udpSessions) {
      if (s.lastSeen <= cutoff) {
        this.udpSessions.delete(key);
        s.exporter.sessions--;
        n++;
        this.emit('sessionClosed', s);
      }
    }
    this.counters.udpSessionsExpired += n;
    return n;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    const server = this.server;
    const udp = this.udp;
    this.server = null;
    this.udp = null;
    for (const s of this.streamSessions) s.socket.destroy();
    for (const raw of this.handshaking) raw.destroy();
    const waits: Promise<void>[] = [];
    if (server !== null) waits.push(new Promise((r) => server.close(() => r())));
    if (udp !== null) waits.push(new Promise((r) => udp.close(() => r())));
    await Promise.all(waits);
    this.udpSessions.clear();
    this.queue.close();
  }

  // --- listening ---------------------------------------------------------------------------

  private listen(host: string): Promise<void> {
    return this.opts.protocol === 'udp' ? this.listenUdp(host) : this.listenStream(host);
  }

  private listenStream(host: string): Promise<void> {
    let server: net.Server;
    if (this.opts.protocol === 'tls') {
      const t = this.opts.tls as CollectorTlsOptions;
      const requireClientCert = t.requireClientCert ?? t.ca !== undefined;
      server = tls.createServer({
        cert: t.cert,
        key: t.key,
        ca: t.ca,
        requestCert: requireClientCert,
        rejectUnauthorized: requireClientCert,
        minVersion: t.minVersion ?? 'TLSv1.2',
      });
      server.on('secureConnection', (socket: tls.TLSSocket) => this.onStreamConnection(socket));
      // Connections still in their handshake are not sessions yet; close() must end them too.
      server.on('connection', (raw: net.Socket) => {
        this.handshaking.add(raw);
        raw.once('close', () => this.handshaking.delete(raw));
      });
      server.on('tlsClientError', (err: Error & { code?: string }, socket: tls.TLSSocket) => {
        this.counters.tlsHandshakeFailures++;
        this.logPeerOnce(plainAddress(socket.remoteAddress), socket.remotePort ?? 0, 'TRANSPORT_ERR_TLS_HANDSHAKE', `TLS handshake failed: ${err.message}`);
      });
    } else {
      // Paused until onStreamConnection has chosen how the session reads (readIntoReusedBuffer).
      server = net.createServer({ pauseOnConnect: true }, (socket) => this.onStreamConnection(socket));
    }
    server.maxConnections = this.opts.maxSessions;
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      server.once('error', onError);
      server.listen({ host, port: this.opts.port, ipv6Only: false }, () => {
        server.off('error', onError);
        server.on('error', (err) => this.log.warn({ code: 'TRANSPORT_ERR_LISTEN_FAILED' }, `collector server error: ${err.message}`));
        this.server = server;
        resolve();
      });
    });
  }

  private listenUdp(host: string): Promise<void> {
    const socket = dgram.createSocket({ type: net.isIPv4(host) ? 'udp4' : 'udp6', ipv6Only: false });
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => {
        socket.close();
        reject(err);
      };
      socket.once('error', onError);
      socket.bind({ address: host, port: this.opts.port }, () => {
        socket.off('error', onError);
        try {
          socket.setRecvBufferSize(this.opts.udpReceiveBufferSize);
        } catch (err) {
          this.log.warn({ size: this.opts.udpReceiveBufferSize }, `cannot set the UDP receive buffer size: ${(err as Error).message}`);
        }
        socket.on('error', (err) => this.log.warn({ code: 'TRANSPORT_ERR_LISTEN_FAILED' }, `collector UDP socket error: ${err.message}`));
        socket.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo));
        this.udp = socket;
        const sweepEvery = Math.min(this.opts.templateLifetimeMs, 60_000);
        this.sweepTimer = setInterval(() => this.expireIdleSessions(), sweepEvery);
        this.sweepTimer.unref();
        resolve();
      });
    });
  }

  // --- sessions ----------------------------------------------------------------------------

  private exporterStats(address: string): ExporterStats {
    let s = this.exporters.get(address);
    if (s === undefined) {
      if (this.exporters.size >= 2 * this.opts.maxSessions) this.forgetIdleExporters();
      s = { sessions: 0, messages: 0, records: 0, recordsLost: 0, recordsLostByDomain: {}, badMessages: 0 };
      this.exporters.set(address, s);
    }
    return s;
  }

  /** Keeps per-exporter counters bounded: drops the oldest exporters that have no open session. */
  private forgetIdleExporters(): void {
    for (const [addr, s] of this.exporters) {
      if (this.exporters.size < this.opts.maxSessions) break;
      if (s.sessions === 0) this.exporters.delete(addr);
    }
  }

  private onStreamConnection(socket: net.Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    const exporterAddress = plainAddress(socket.remoteAddress);
    const exporter = this.exporterStats(exporterAddress);
    const session: StreamSession = {
      exporterAddress,
      exporterPort: socket.remotePort ?? 0,
      protocol: this.opts.protocol,
      sessionId: this.nextSessionId++,
      decoder: new MessageDecoder({ clock: this.clock }),
      deframer: new IpfixDeframer(),
      domains: new Map(),
      exporter,
      lastSeen: this.clock.now(),
      socket,
      // Returning false pauses the deframer: the queue is full and the consumer is async.
      onFrame: (frame: Buffer): boolean => {
        this.accept(session, this.decodeFrame(session.decoder, frame));
        return this.handler !== null || !this.queue.isFull;
      },
    };
    this.streamSessions.add(session);
    this.counters.sessionsTotal++;
    exporter.sessions++;
    // Plain TCP reads into the collecting process's one read buffer (the deframer copies what
    // it keeps of a chunk); TLS sockets, and a Node without user-buffer reads, emit 'data'.
    const reused = this.opts.protocol === 'tcp' && readIntoReusedBuffer(socket, this.readBuffer(), (bytes, buffer) => this.onStreamChunk(session, buffer.subarray(0, bytes), true));
    if (!reused) socket.on('data', (chunk: Buffer) => void this.onStreamChunk(session, chunk, false));
    if (this.opts.protocol === 'tcp') socket.resume();
    socket.on('error', (err) => this.log.debug({ peer: `${exporterAddress}:${session.exporterPort}` }, `collector session error: ${err.message}`));
    socket.once('close', () => {
      this.streamSessions.delete(session);
      this.pausedSessions.delete(session);
      exporter.sessions--;
      this.emit('sessionClosed', session);
    });
    this.emit('sessionOpened', session);
  }

  /** Feeds a chunk of a TCP/TLS session to its deframer; false when the session stops reading (paused or closed). */
  private onStreamChunk(session: StreamSession, chunk: Buffer, transient: boolean): boolean {
    try {
      if (session.deframer.push(chunk, session.onFrame, transient)) return true;
      this.pauseSession(session);
    } catch (err) {
      this.badMessage(session, err);
      session.socket.destroy();
    }
    return false;
  }

  /** The read buffer that every plain TCP session reads into (readIntoReusedBuffer), made on first use. */
  private readBuffer(): Buffer {
    this.tcpReadBuffer ??= Buffer.allocUnsafe(TCP_READ_BUFFER_BYTES);
    return this.tcpReadBuffer;
  }

  private onDatagram(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const key = `${rinfo.address}|${rinfo.port}`;
    let session = this.udpSessions.get(key);
    if (session === undefined) {
      if (this.udpSessions.size >= this.opts.maxSessions) {
        this.counters.sessionsRefused++;
        this.logPeerOnce(plainAddress(rinfo.address), rinfo.port, 'TRANSPORT_ERR_TOO_MANY_SESSIONS', `datagram dropped: already tracking ${this.opts.maxSessions} UDP peers (raise maxSessions)`);
        return;
      }
      const exporterAddress = plainAddress(rinfo.address);
      const exporter = this.exporterStats(exporterAddress);
      session = {
        exporterAddress,
        exporterPort: rinfo.port,
        protocol: 'udp',
        sessionId: this.nextSessionId++,
        decoder: new MessageDecoder({ clock: this.clock, templateLifetimeMs: this.opts.templateLifetimeMs }),
        domains: new Map(),
        exporter,
        lastSeen: 0,
      };
      this.udpSessions.set(key, session);
      this.counters.sessionsTotal++;
      exporter.sessions++;
      this.emit('sessionOpened', session);
    }
    session.lastSeen = this.clock.now();
    try {
      const length = readMessageLength(msg, 0);
      if (length !== msg.length) {
        throw new TransportError('TRANSPORT_ERR_DATAGRAM_LENGTH', `datagram of ${msg.length} bytes carries a message length of ${length}; one datagram must hold exactly one IPFIX message`);
      }
      this.accept(session, this.decodeFrame(session.decoder, msg));
    } catch (err) {
      this.badMessage(session, err);
    }
  }

  private decodeFrame(decoder: MessageDecoder, frame: Buffer): DecodedMessageOf<R> {
    const shape = this.opts.decodeAs;
    if (shape === undefined) return decoder.decode(frame) as unknown as DecodedMessageOf<R>;
    // Reused records only when the message goes to the handler at once (accept, below).
    if (this.opts.reuseRecords && this.handler !== null) return decoder.decodeAsReusing(frame, shape) as DecodedMessageOf<R>;
    return decoder.decodeAs(frame, shape) as DecodedMessageOf<R>;
  }

  /** Counts, tracks sequence numbers and delivers one decoded message. */
  private accept(session: Session, message: DecodedMessageOf<R>): void {
    const header = message.header;
    const sets = message.dataSets;
    let records = 0;
    for (let i = 0; i < sets.length; i++) records += sets[i].records.length;
    const exporter = session.exporter;
    this.counters.messagesReceived++;
    this.counters.recordsReceived += records;
    this.counters.recordsWithoutTemplate += message.recordsWithoutTemplate;
    exporter.messages++;
    exporter.records += records;

    const domainId = header.observationDomainId;
    const seq = header.sequenceNumber >>> 0;
    const count = records + message.recordsWithoutTemplate;
    const d = session.domains.get(domainId);
    if (d === undefined) {
      session.domains.set(domainId, { next: (seq + count) >>> 0 });
    } else {
      const gap = (seq - d.next) >>> 0;
      if (gap < 0x80000000) {
        if (gap !== 0) {
          this.counters.recordsLost += gap;
          exporter.recordsLost += gap;
          exporter.recordsLostByDomain[domainId] = (exporter.recordsLostByDomain[domainId] ?? 0) + gap;
        }
        d.next = (seq + count) >>> 0;
      } else {
        // Behind the expected number: a late (reordered or duplicated) UDP datagram.
        this.counters.outOfOrderMessages++;
      }
    }

    const collected: CollectedMessage<R> = {
      exporterAddress: session.exporterAddress,
      exporterPort: session.exporterPort,
      protocol: session.protocol,
      sessionId: session.sessionId,
      observationDomainId: domainId,
      receivedAt: this.clock.now(),
      message,
    };
    const handler = this.handler;
    if (handler !== null) {
      try {
        handler(collected);
      } catch (err) {
        // The consumer's bug is not the exporter's fault: keep the session.
        this.counters.consumerErrors++;
        this.log.warn({ sessionId: session.sessionId }, `onMessage handler threw: ${(err as Error).message}`);
      }
      return;
    }
    if (!this.queue.push(collected)) {
      this.counters.messagesDropped++;
      this.counters.recordsDropped += records;
    }
  }

  /**
   * TCP backpressure: the queue is full, so this session stops reading (its deframer holds
   * the rest of the chunk it was in) until the consumer has drained half the queue. The
   * exporter then sees a full TCP window; nothing is dropped.
   */
  private pauseSession(session: StreamSession): void {
    session.socket.pause();
    this.pausedSessions.add(session);
    if (this.waitingForSpace) return;
    this.waitingForSpace = true;
    void this.queue.whenSpace().then(() => {
      this.waitingForSpace = false;
      if (this.closed) return;
      const sessions = [...this.pausedSessions];
      this.pausedSessions.clear();
      for (const s of sessions) {
        if (s.socket.destroyed) continue;
        try {
          if (s.deframer.resume(s.onFrame)) s.socket.resume();
          else this.pauseSession(s);
        } catch (err) {
          this.badMessage(s, err);
          s.socket.destroy();
        }
      }
    });
  }

  private badMessage(session: Session, err: unknown): void {
    const e = err as Error & { code?: string };
    this.counters.badMessages++;
    session.exporter.badMessages++;
    const code = typeof e.code === 'string' ? e.code : TransportErrorCode.decoderFault;
    const action = session.protocol === 'udp' ? 'datagram dropped' : 'session closed';
    this.logPeerOnce(session.exporterAddress, session.exporterPort, code, `malformed IPFIX from exporter, ${action}: ${e.message}`);
    this.emit('badMessage', { exporterAddress: session.exporterAddress, exporterPort: session.exporterPort, code, message: e.message });
  }

  /** Logs a peer's fault once per peer address, so a noisy peer cannot flood the log. */
  private logPeerOnce(address: string, port: number, code: string, message: string): void {
    if (this.loggedPeers.has(address)) return;
    if (this.loggedPeers.size >= MAX_LOGGED_PEERS) this.loggedPeers.clear();
    this.loggedPeers.add(address);
    this.log.warn({ peer: `${address}:${port}`, code }, message);
  }
}
