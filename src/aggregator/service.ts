// The Flow Aggregator service: collecting process -> aggregation -> record buffers -> sinks,
// with certificate management, the export timer and the numbers the API reports.
//
//   exporters --IPFIX tls|tcp|udp--> CollectingProcess --FlowRecord--> AggregationProcess
//        (per-session templates, bounded queue)              | expire() every tick
//                                                            v
//                         SinkPump(ipfix)  SinkPump(log)  SinkPump(...)   bounded, never block
import { CollectingProcess, type CollectedMessage, type CollectingProcessStats } from '../transport/collecting-process.js';
import type { TransportLogger } from '../transport/errors.js';
import type { AggregatedFlowRecord } from '../flow/record.js';
import { SinkFanout, SinkPump, type Sink, type SinkStats } from '../sinks/sink.js';
import { LogSink } from '../sinks/log-sink.js';
import { IpfixSink } from '../sinks/ipfix-sink.js';
import { StoreSink, type StoreSinkStats } from '../sinks/store-sink.js';
import { openRepository, type FlowRepository } from '../store/repository.js';
import { systemClock, type Clock } from '../util/clock.js';
import { AggregationProcess, recordProblem, type AggregationStats } from './aggregation.js';
import { CertificateManager, publishToKubernetes } from './certificates.js';
import type { WireFlowRecord } from './wire-record.js';
import type { AggregatorConfig } from './config.js';
import type { EncodedRecords } from '../ipfix/writer.js';

export interface AggregatorLogger extends TransportLogger {
  error(obj: object, msg: string): void;
}

/** Flows exported per step of the shutdown flush. */
const FLUSH_CHUNK = 4096;

const silent: AggregatorLogger = { info() {}, warn() {}, debug() {}, error() {} };

export interface FlowAggregatorDeps {
  clock?: Clock;
  logger?: AggregatorLogger;
  /** Sinks beyond the configured ones (the storage sink, tests). */
  extraSinks?: Sink[];
  /** How often expire() runs; default 1000 ms. 0: never (tests call tick()). */
  tickMs?: number;
  /** RSA key size for generated certificates; default 2048. */
  keyBits?: number;
}

export interface RecordMetrics {
  recordsReceived: number;
  recordsExported: number;
  /** Every record lost on the way: refused by validation, dropped by the collecting queue, by a sink buffer or by the IPFIX exporting process. */
  recordsDropped: number;
  flowsCorrelated: number;
  pendingCorrelation: number;
  flowsTracked: number;
  evictions: number;
  uncorrelatedExported: number;
  /** Open transport sessions per exporter address. */
  connectionsPerExporter: Record<string, number>;
  aggregation: AggregationStats;
  collector: Omit<CollectingProcessStats, 'perExporter'>;
  sinks: SinkStats[];
  certificateRotations: number;
}

export class FlowAggregator {
  readonly aggregation: AggregationProcess;
  private readonly clock: Clock;
  private readonly log: AggregatorLogger;
  private readonly fanout: SinkFanout;
  private readonly certs: CertificateManager | null;
  private collecting: CollectingProcess<WireFlowRecord> | null = null;
  private tickTimer: NodeJS.Timeout | null = null;
  private certTimer: NodeJS.Timeout | null = null;
  private readonly invalidLogged = new Set<string>();
  private collectorTotalsBeforeRestart = { recordsDropped: 0, recordsReceived: 0 };
  private readonly storeSink: StoreSink | null = null;

  constructor(
    readonly config: AggregatorConfig,
    private readonly deps: FlowAggregatorDeps = {},
  ) {
    this.clock = deps.clock ?? systemClock;
    this.log = deps.logger ?? silent;
    const sinks: Sink[] = [];
    let ipfixSink: IpfixSink | null = null;
    if (config.sinks.includes('ipfix') && config.externalFlowCollector) {
      ipfixSink = new IpfixSink({ collector: config.externalFlowCollector, logger: this.log });
      sinks.push(ipfixSink);
    }
    if (config.sinks.includes('log')) sinks.push(new LogSink(config.logSinkPath));
    if (config.store) {
      const st = config.store;
      this.storeSink = new StoreSink({
        open: () => openRepository(st.url),
        commitIntervalMs: st.commitIntervalMs,
        capacity: st.bufferSize,
        insertsInFlight: st.insertsInFlight,
        retentionMs: st.retentionMs,
        retentionCheckIntervalMs: st.retentionCheckIntervalMs,
        clock: this.clock,
        counters: () => {
          const m = this.metrics();
          return { recordsDropped: m.recordsDropped, recordsLost: m.collector.recordsLost ?? 0 };
        },
        logger: { warn: (m: string) => this.log.warn({}, m) },
      });
      sinks.push(this.storeSink);
    }
    sinks.push(...(deps.extraSinks ?? []));
    const sinkLogger = { warn: (m: string) => this.log.warn({}, m) };
    this.fanout = new SinkFanout(sinks.map((s) => new SinkPump(s, { capacity: config.sinkBufferSize, logger: sinkLogger })));
    // When the IPFIX sink is the only sink, IPv4 flows go to it as encoded data records,
    // written straight from their slots (AggregationOptions.onExportEncoded): no record object
    // per exported flow. Any other sink (log, store, extra) needs the records as objects, so
    // then every flow goes through the sink buffers as before.
    const direct = ipfixSink !== null && sinks.length === 1 ? ipfixSink : null;
    this.aggregation = new AggregationProcess({
      clock: this.clock,
      activeTimeoutMs: config.activeTimeoutMs,
      inactiveTimeoutMs: config.inactiveTimeoutMs,
      correlationWaitMs: config.correlationWaitMs,
      maxFlows: config.maxFlows,
      onExport: (r) => this.fanout.offer(r),
      ...(direct === null ? {} : { onExportEncoded: (batch: EncodedRecords) => void direct.writeEncoded(batch) }),
    });
    this.certs =
      config.aggregatorTransportProtocol === 'tls'
        ? new CertificateManager({
            dir: config.certDir,
            serverNames: [config.flowAggregatorAddress],
            validityMs: config.certValidityMs,
            renewBeforeMs: config.certRenewBeforeMs,
            clock: this.clock,
            ...(deps.keyBits ? { keyBits: deps.keyBits } : {}),
            onChange: async (material) => {
              if (config.kubernetes) await publishToKubernetes(material, config.kubernetes.namespace, config.kubernetes.kubeconfig);
            },
          })
        : null;
  }

  async start(): Promise<void> {
    this.fanout.start();
    if (this.certs) await this.certs.check();
    await this.startCollecting(this.config.listenPort);
    const tickMs = this.deps.tickMs ?? 1000;
    if (tickMs > 0) {
      this.tickTimer = setInterval(() => this.tick(), tickMs);
      this.tickTimer.unref();
    }
    if (this.certs) {
      this.certTimer = setInterval(() => void this.rotateCertificates(), this.config.certCheckIntervalMs);
      this.certTimer.unref();
    }
  }

  /** Runs the timeouts now; returns how many records were exported. */
  tick(): number {
    return this.aggregation.expire();
  }

  /** Checks the certificates and, when they were renewed, restarts the collecting process with them. */
  async rotateCertificates(): Promise<boolean> {
    if (!this.certs) return false;
    try {
      const rotated = await this.certs.check();
      if (rotated) {
        this.log.info({ dir: this.config.certDir }, 'certificates renewed; restarting the collecting process');
        const port = this.collecting ? this.collecting.address().port : this.config.listenPort;
        await this.stopCollecting();
        await this.startCollecting(port);
      }
      return rotated;
    } catch (err) {
      this.log.error({ err }, 'certificate check failed; the current certificates stay in use');
      return false;
    }
  }

  /** The TLS material in use (CA, server, client), or null without TLS. */
  tlsMaterial() {
    return this.certs ? this.certs.current() : null;
  }

  collectorAddress(): { address: string; port: number; family: string } {
    if (!this.collecting) throw new Error('FlowAggregator: not started');
    return this.collecting.address();
  }

  records(filter?: (r: AggregatedFlowRecord) => boolean, limit?: number): AggregatedFlowRecord[] {
    return this.aggregation.records(filter, limit);
  }

  /** The flow store the storage sink writes to; null without a store or before its first commit. */
  storeRepository(): FlowRepository | null {
    return this.storeSink?.repository() ?? null;
  }

  /** The storage sink's counters (records pending, written, dropped, failed commits); null without a store. */
  storeSinkStats(): StoreSinkStats | null {
    return this.storeSink?.stats() ?? null;
  }

  metrics(): RecordMetrics {
    const agg = this.aggregation.stats();
    const col = this.collecting?.stats();
    const sinks = this.fanout.stats();
    const connectionsPerExporter: Record<string, number> = {};
    let collector: RecordMetrics['collector'];
    if (col) {
      const { perExporter, ...rest } = col;
      for (const [address, s] of Object.entries(perExporter)) connectionsPerExporter[address] = s.sessions;
      collector = rest;
    } else {
      collector = {} as RecordMetrics['collector'];
    }
    const collectorDropped = (col?.recordsDropped ?? 0) + this.collectorTotalsBeforeRestart.recordsDropped;
    // The IPFIX sinks' exporting processes drop too (queue full, closed, not encodable): with
    // the IPFIX sink alone, IPv4 records reach that queue without passing a sink buffer.
    let sinkDropped = sinks.reduce((n, s) => n + s.droppedBufferFull + s.failed, 0);
    for (const pump of this.fanout.pumps) if (pump.sink instanceof IpfixSink) sinkDropped += pump.sink.stats().recordsDropped;
    return {
      recordsReceived: agg.recordsReceived,
      recordsExported: agg.recordsExported,
      recordsDropped: agg.recordsInvalid + collectorDropped + sinkDropped,
      flowsCorrelated: agg.flowsCorrelated,
      pendingCorrelation: agg.pendingCorrelation,
      flowsTracked: agg.flowsTracked,
      evictions: agg.evictions,
      uncorrelatedExported: agg.uncorrelatedExported,
      connectionsPerExporter,
      aggregation: agg,
      collector,
      sinks,
      certificateRotations: this.certs?.rotations ?? 0,
    };
  }

  /** Stops collecting, exports every tracked flow, drains the sinks and closes them. */
  async stop(): Promise<void> {
    if (this.tickTimer) clearInterval(this.tickTimer);
    if (this.certTimer) clearInterval(this.certTimer);
    this.tickTimer = null;
    this.certTimer = null;
    await this.stopCollecting();
    // Exported in chunks, with the sinks draining in between: a million flows exported at once
    // would all be alive in the sink buffers at the same time (and promoted to the old heap).
    while (this.aggregation.flush(FLUSH_CHUNK) === FLUSH_CHUNK) await this.sinksDrained();
    await this.fanout.close();
  }

  /**
   * Yields until every sink buffer, and the IPFIX sink's exporting queue behind it, holds at
   * most FLUSH_CHUNK records, or for at most 16 turns of the event loop. The IPFIX sink hands
   * records to its exporting process at once; while the collector's socket pushes back they wait
   * in that queue as objects, and exported records that live through two young-generation
   * collections are copied into the old generation (and freed only by a full one).
   */
  private async sinksDrained(): Promise<void> {
    for (let turn = 0; turn < 16; turn++) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.fanout.stats().every((s) => s.buffered <= FLUSH_CHUNK) && this.exportQueued() <= FLUSH_CHUNK) return;
    }
  }

  /** Records queued in the IPFIX sinks' exporting processes, not yet encoded. */
  private exportQueued(): number {
    let queued = 0;
    for (const pump of this.fanout.pumps) if (pump.sink instanceof IpfixSink) queued += pump.sink.stats().recordsQueued;
    return queued;
  }

  private async startCollecting(port: number): Promise<void> {
    const material = this.certs?.current();
    const collecting = new CollectingProcess({
      protocol: this.config.aggregatorTransportProtocol,
      host: this.config.listenAddress,
      port,
      ...(material ? { tls: { cert: material.server.certPem, key: material.server.keyPem, ca: material.ca.certPem, requireClientCert: true } } : {}),
      clock: this.clock,
      logger: this.log,
      // Exporter records straight into WireFlowRecords: numeric IPv4 addresses and names as
      // string-table ids. No DataRecord per record, no address text until a flow is exported,
      // no string for a name the table knows.
      decodeAs: this.aggregation.wireShape,
      // onMessage ingests every record before the next message is decoded: the session's
      // decoder overwrites its record objects instead of making new ones per record.
      reuseRecords: true,
    });
    collecting.onMessage((m) => this.onMessage(m));
    collecting.on('badMessage', (info) => this.log.warn(info, 'malformed IPFIX from an exporter'));
    await collecting.start();
    this.collecting = collecting;
    this.log.info({ ...collecting.address(), protocol: this.config.aggregatorTransportProtocol }, 'collecting process listening');
  }

  private async stopCollecting(): Promise<void> {
    const c = this.collecting;
    if (!c) return;
    const s = c.stats();
    this.collectorTotalsBeforeRestart.recordsDropped += s.recordsDropped;
    this.collectorTotalsBeforeRestart.recordsReceived += s.recordsReceived;
    this.collecting = null;
    await c.close();
  }

  private onMessage(m: CollectedMessage<WireFlowRecord>): void {
    const from = { address: m.exporterAddress, observationDomainId: m.observationDomainId };
    const now = this.clock.now();
    try {
      for (const set of m.message.dataSets) {
        for (const r of set.records) {
          if (!this.aggregation.ingestWire(r, from, now) && !this.invalidLogged.has(m.exporterAddress) && this.invalidLogged.size < 4096) {
            this.invalidLogged.add(m.exporterAddress);
            this.log.warn({ exporter: m.exporterAddress, templateId: set.templateId, problem: recordProblem(r) }, 'record refused (logged once per exporter)');
          }
        }
      }
    } finally {
      // The message's name ids were valid until now: names no flow took are freed.
      this.aggregation.sweep();
    }
  }
}
