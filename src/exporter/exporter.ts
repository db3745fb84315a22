// The Flow Exporter loop (reference, "Flow Exporter"): every flowPollInterval it dumps the
// conntrack table into the connection store, and between polls it applies conntrack events,
// so a connection that starts and ends between two polls is still exported with its final
// counters. After each poll, what the store says is due becomes FlowRecords (flow-builder.ts),
// then IPFIX data records (src/flow/ie-mapping.ts) under the IPv4 or IPv6 template, handed to
// the exporting process.
//
// While the collector is unreachable, live connections are not expired: their deltas keep
// growing in the store (bounded by maxConnections), and the first export after the reconnect
// carries everything since the last one. Ended and evicted connections still go to the
// exporting process queue, which is bounded and counts what it drops.
//
// Denied connections (NFLOG) are counted per 5-tuple in a second store that ends them by
// timeout only; their policy fields come from the NFLOG prefix.
//
// Restarts (state-file.ts): with a state file, start() loads what the predecessor last exported
// of each connection, so one still open continues its deltas instead of repeating its total;
// the file is written every stateSaveInterval and at stop(), after the forced-end records, with
// the totals they carried (or, when they could not be delivered, with those exported before).
import type { DataRecord } from '../ipfix/api.js';
import type { Clock } from '../util/clock.js';
import { exporterTemplateId, flowRecordToDataRecord } from '../flow/ie-mapping.js';
import { FlowEndReason, PolicyType, RuleAction, type FlowRecord } from '../flow/record.js';
import type { ConntrackDigest, ConntrackDumper, ConntrackEntry, ConntrackEvent } from './conntrack/types.js';
import type { DumpOptions, DumpSummary } from './conntrack/ctnetlink.js';
import type { DeniedPacket } from './nflog/parse.js';
import type { DenyPrefix } from './nflog/prefix.js';
import type { ClusterMetadata } from './k8s/metadata.js';
import type { ExporterConfig } from './config.js';
import { ConnectionStore, connectionKey, type ConnectionExport, type ConnectionStoreStats } from './connection-store.js';
import { FlowBuilder } from './flow-builder.js';
import { ExporterMetrics, readProcInteger, type MetricsSources } from './metrics.js';
import { encodeState, loadStateFile, readBootId, writeStateFile, type SavedConnection } from './state-file.js';

/** Where records go; the ExportingProcess fits. */
export interface RecordSink {
  send(templateId: number, records: readonly DataRecord[]): number;
  stats(): { connected: boolean; recordsSent: number; recordsDropped: number; recordsQueued: number; reconnects: number };
  flush(): Promise<void>;
}

/** A source of denied packets; the NflogSource fits. */
export interface DeniedPacketSource {
  start(onPacket: (p: DeniedPacket) => void, onOverflow?: () => void): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A dumper that can hand entries over one by one (CtnetlinkDumper) instead of as one array,
 * offer each entry's numbers to `known` first (the store's fast path), and say whether the dump
 * was complete.
 */
interface StreamingDumper {
  dumpEach(onEntry: (entry: ConntrackEntry) => void, options?: DumpOptions): Promise<DumpSummary>;
}

export interface ExporterLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface FlowExporterOptions {
  config: ExporterConfig;
  dumper: ConntrackDumper;
  metadata: ClusterMetadata | null;
  sink: RecordSink;
  clock: Clock;
  logger: ExporterLogger;
  denied?: DeniedPacketSource;
  /** Where nf_conntrack_count and nf_conntrack_max are read; default /proc/sys. */
  procSys?: string;
  /** How long stop() waits for the last records to reach the collector; default 5000 ms. */
  flushTimeoutMs?: number;
  /**
   * Keep what was exported per connection across restarts in this file (config stateFile; the
   * CLI passes it), written every `saveIntervalMs` and at stop. Absent: no state is kept.
   */
  state?: { file: string; saveIntervalMs: number; /** Default: the host's (readBootId). */ bootId?: string };
}

export interface FlowExporterStats {
  polls: number;
  pollErrors: number;
  /** Entries seen in the last dump (after the zone filter). */
  lastDumpEntries: number;
  /** Entries and events skipped because no end is a Pod of this Node (connectionFilter localPods). */
  filtered: number;
  /**
   * Dumps that may have missed entries (NLM_F_DUMP_INTR, or messages that could not be read):
   * they update the connections they list but end none.
   */
  incompleteDumps: number;
  events: number;
  eventOverflows: number;
  deniedPackets: number;
  /** Records handed to the sink, by flowEndReason (index 1-5). */
  recordsExported: number[];
  /** Records the sink refused at once (queue full). */
  recordsRefused: number;
  /** Records that could not be built or mapped. */
  recordsUnbuildable: number;
  /** The connection store's own counters (ended by cause, counters never known, evictions). */
  store: ConnectionStoreStats;
}

const LOG_EVERY_MS = 60_000;
/** How long a connection a dump no longer lists waits for its DESTROY event (ConnectionStoreOptions.eventGraceMs). */
const EVENT_GRACE_MS = 1000;

export class FlowExporter {
  readonly store: ConnectionStore;
  readonly deniedStore: ConnectionStore;
  /** Served by the CLI at the metrics address; its gauges read this exporter at scrape time. */
  readonly metrics: ExporterMetrics;
  private readonly opts: FlowExporterOptions;
  private readonly builder: FlowBuilder;
  private readonly denyByKey = new Map<string, DenyPrefix>();
  private readonly counts: Omit<FlowExporterStats, 'store'> = {
    polls: 0,
    pollErrors: 0,
    lastDumpEntries: 0,
    filtered: 0,
    incompleteDumps: 0,
    events: 0,
    eventOverflows: 0,
    deniedPackets: 0,
    recordsExported: [0, 0, 0, 0, 0, 0],
    recordsRefused: 0,
    recordsUnbuildable: 0,
  };
  private timer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => Promise<void>) | null = null;
  private running = false;
  private polling: Promise<void> | null = null;
  private lastLogged = new Map<string, number>();
  private lastStoreEvictions = 0;
  private lastCountersUnknown = 0;
  private readonly bootId: string;
  private lastStateSaveMs = 0;
  private stateSaving: Promise<void> | null = null;
  private stateWriteErrors = 0;
  /** Saved connections were loaded and the first complete dump has not yet said which still exist. */
  private restorePending = false;

  constructor(opts: FlowExporterOptions) {
    this.opts = opts;
    const { config, clock } = opts;
    this.store = new ConnectionStore({
      activeTimeoutMs: config.activeTimeoutMs,
      idleTimeoutMs: config.idleTimeoutMs,
      maxConnections: config.maxConnections,
      clock,
      eventGraceMs: EVENT_GRACE_MS,
    });
    this.deniedStore = new ConnectionStore({
      activeTimeoutMs: config.activeTimeoutMs,
      idleTimeoutMs: config.idleTimeoutMs,
      maxConnections: Math.max(1, Math.min(config.maxConnections, 65_536)),
      clock,
      forgetIdle: true,
    });
    this.builder = new FlowBuilder({
      nodeName: config.nodeName,
      metadata: opts.metadata,
      podCidrsOverride: config.podCIDRs.map((c) => c.text),
    });
    this.metrics = new ExporterMetrics(this.metricsSources());
    this.bootId = opts.state ? (opts.state.bootId ?? readBootId()) : '';
  }

  stats(): FlowExporterStats {
    return { ...this.counts, recordsExported: [...this.counts.recordsExported], store: this.store.stats() };
  }

  private metricsSources(): MetricsSources {
    const procSys = this.opts.procSys ?? '/proc/sys';
    return {
      conntrackTotal: () => readProcInteger(`${procSys}/net/netfilter/nf_conntrack_count`),
      conntrackConsidered: () => (this.counts.polls > 0 ? this.counts.lastDumpEntries : undefined),
      conntrackMax: () => readProcInteger(`${procSys}/net/netfilter/nf_conntrack_max`),
      storeConnections: () => this.store.size + this.deniedStore.size,
      exportingProcess: () => this.opts.sink.stats(),
      state: () => {
        if (!this.opts.state) return undefined;
        const s = this.store.stats();
        return { restored: s.restored, discarded: s.restoreDiscarded, writeErrors: this.stateWriteErrors };
      },
    };
  }

  /** Subscribes to events and denied packets, polls at once, then every flowPollInterval. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.loadState();
    try {
      this.unsubscribe = await this.opts.dumper.subscribe(
        (ev) => this.onEvent(ev),
        () => this.onOverflow(),
      );
    } catch (err) {
      this.opts.logger.warn({ err }, 'conntrack events unavailable; connections that start and end between two polls will be missed');
    }
    if (this.opts.denied) {
      try {
        await this.opts.denied.start((p) => this.onDeniedPacket(p), () => this.onOverflow());
      } catch (err) {
        this.opts.logger.warn({ err, group: this.opts.config.nflogGroup }, 'NFLOG source unavailable; denied connections will not be reported');
      }
    }
    this.scheduleNext(0);
  }

  /**
   * Stops polling, takes a last dump, exports what is due, then every remaining connection
   * with flowEndReason 4 (forced end), and waits (bounded) for the records to leave.
   */
  async stop(): Promise<void> {
    const wasRunning = this.running;
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.polling) await this.polling;
    if (this.unsubscribe) {
      await this.unsubscribe().catch((err: unknown) => this.opts.logger.warn({ err }, 'unsubscribing from conntrack events failed'));
      this.unsubscribe = null;
    }
    if (this.opts.denied) await this.opts.denied.stop().catch(() => undefined);
    if (wasRunning) await this.pollOnce({ forceExport: true });
    const exportedBefore = this.opts.state ? this.store.savedConnections() : [];
    const exportedAll: SavedConnection[] = [];
    this.exportAll(this.store.drainAll(exportedAll), false);
    this.exportAll(this.deniedStore.drainAll(), true);
    this.countUnknown();
    const timeoutMs = this.opts.flushTimeoutMs ?? 5000;
    let timer: NodeJS.Timeout | undefined;
    const flushed = await Promise.race([
      this.opts.sink.flush().then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (!flushed) this.opts.logger.warn({ timeoutMs, queued: this.opts.sink.stats().recordsQueued }, 'records still queued at shutdown; they are lost');
    // The successor continues from what reached the collector: the forced-end totals once
    // they left, else what had been exported before them.
    if (this.opts.state && wasRunning) await this.saveState(flushed ? exportedAll : exportedBefore);
  }

  /** Reads the state file (start): never fails; a file it cannot use is logged and ignored. */
  private loadState(): void {
    const state = this.opts.state;
    if (!state) return;
    const { logger, config } = this.opts;
    const loaded = loadStateFile(state.file, { nodeName: config.nodeName, bootId: this.bootId });
    if (loaded.kind === 'absent') {
      logger.info({ stateFile: state.file }, 'no exporter state file: first start, every open connection reports its whole total');
    } else if (loaded.kind !== 'loaded') {
      logger.warn({ stateFile: state.file, why: loaded.why }, `exporter state file ${loaded.kind === 'old' ? 'is not for this run' : 'is unreadable'}; ignored, starting fresh (open connections report their whole total once)`);
    } else {
      this.store.restore(loaded.state.connections);
      this.restorePending = loaded.state.connections.length > 0;
      logger.info({ stateFile: state.file, connections: loaded.state.connections.length, savedAtMs: loaded.state.savedAtMs }, 'exporter state loaded: open connections continue from the totals exported before the restart');
    }
    this.lastStateSaveMs = this.opts.clock.now();
  }

  /** Writes the state file (the connections given, else the store's now); waits for a write in flight first. */
  private async saveState(connections?: readonly SavedConnection[]): Promise<void> {
    const state = this.opts.state;
    if (!state) return;
    if (this.stateSaving) await this.stateSaving;
    const text = encodeState({
      nodeName: this.opts.config.nodeName,
      bootId: this.bootId,
      savedAtMs: this.opts.clock.now(),
      connections: connections ?? this.store.savedConnections(),
    });
    this.lastStateSaveMs = this.opts.clock.now();
    const why = 'cannot write the exporter state file; a restart will report open connections\' whole totals once';
    this.stateSaving = writeStateFile(state.file, text)
      .catch((err: unknown) => {
        this.stateWriteErrors++;
        const obj = { stateFile: state.file, err: (err as Error).message };
        // The write at shutdown is always logged; periodic ones at most once a minute.
        if (this.running) this.logSometimes('state', 'warn', obj, why);
        else this.opts.logger.warn(obj, why);
      })
      .finally(() => {
        this.stateSaving = null;
      });
    await this.stateSaving;
  }

  /** After a poll: the first complete dump settles the restored connections; the state file is due every saveIntervalMs. */
  private afterPoll(): void {
    if (this.restorePending && this.store.pendingRestores === 0) {
      this.restorePending = false;
      const s = this.store.stats();
      this.opts.logger.info({ restored: s.restored, discarded: s.restoreDiscarded }, 'restored connections settled by the first complete dump');
    }
    const state = this.opts.state;
    if (!state || !this.running || this.stateSaving) return;
    if (this.opts.clock.now() - this.lastStateSaveMs < state.saveIntervalMs) return;
    void this.saveState();
  }

  /**
   * One poll: dump, update the store, export what is due. Tests call it directly with a
   * manual clock; start() calls it on a timer. A failed dump ends no connection.
   */
  async pollOnce(options: { forceExport?: boolean } = {}): Promise<void> {
    const { clock, dumper } = this.opts;
    const metrics = this.metrics;
    const started = process.hrtime.bigint();
    const startedMs = clock.now();
    this.counts.polls++;
    try {
      let seen = 0;
      const store = this.store;
      // A connection the store holds is updated whatever the filter says now: the filter picks
      // which connections to follow, and a held one that a dump skipped would look ended.
      const onEntry = (e: ConntrackEntry) => {
        seen++;
        if (store.holds(e) || this.accepts(e)) store.dumpEntry(e);
      };
      // The fast path: held connections are updated from the parsed numbers, without an entry.
      const known = (d: ConntrackDigest): boolean => {
        if (!store.dumpKnown(d)) return false;
        seen++;
        return true;
      };
      store.beginDump(startedMs);
      const streaming = dumper as Partial<StreamingDumper>;
      let complete = true;
      if (typeof streaming.dumpEach === 'function') {
        const summary = await streaming.dumpEach.call(dumper, onEntry, { known });
        complete = !summary.interrupted && summary.malformed === 0;
      } else {
        for (const e of await dumper.dump()) onEntry(e);
      }
      if (!complete) {
        this.counts.incompleteDumps++;
        this.logSometimes('incomplete', 'warn', { incompleteDumps: this.counts.incompleteDumps }, 'conntrack dump incomplete (interrupted or unreadable messages); no connection is ended by it');
      }
      store.endDump(complete);
      this.counts.lastDumpEntries = seen;
    } catch (err) {
      this.counts.pollErrors++;
      metrics.pollErrors.inc();
      this.logSometimes('poll', 'error', { err }, 'conntrack dump failed; the store keeps its connections until the next poll');
    }
    this.exportDue(options.forceExport === true);
    metrics.pollDuration.observe(Number(process.hrtime.bigint() - started) / 1e9);
    this.afterPoll();
  }

  /** Exports what is due now, unless the collector is unreachable (then only after reconnect). */
  exportDue(force = false): void {
    if (!force && !this.opts.sink.stats().connected) return;
    this.exportAll(this.store.expire(), false);
    this.exportAll(this.deniedStore.expire(), true);
    this.countUnknown();
  }

  /** Connections dropped because no dump or DESTROY ever gave their counters: a dropped record each. */
  private countUnknown(): void {
    const unknown = this.store.stats().countersUnknown;
    if (unknown <= this.lastCountersUnknown) return;
    this.metrics.recordsDropped.inc({ cause: 'counters_unknown' }, unknown - this.lastCountersUnknown);
    this.logSometimes('unknown', 'warn', { countersUnknown: unknown }, 'connections known only from conntrack NEW/UPDATE events ended without a dump or DESTROY event giving their counters; not exported (no counters to report), counted');
    this.lastCountersUnknown = unknown;
  }

  private scheduleNext(delayMs: number): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      const t0 = Date.now();
      this.polling = this.pollOnce().finally(() => {
        this.polling = null;
        this.scheduleNext(Math.max(0, this.opts.config.pollIntervalMs - (Date.now() - t0)));
      });
    }, delayMs);
  }

  private accepts(e: ConntrackEntry): boolean {
    if (this.opts.config.connectionFilter === 'all') return true;
    const ok = this.builder.touchesLocalPod(e, e.startMs > 0 ? e.startMs : this.opts.clock.now());
    if (!ok) this.counts.filtered++;
    return ok;
  }

  private onEvent(ev: ConntrackEvent): void {
    this.counts.events++;
    if (this.store.holds(ev.entry) || this.accepts(ev.entry)) this.store.applyEvent(ev);
  }

  private onOverflow(): void {
    this.counts.eventOverflows++;
    this.metrics.eventOverflows.inc();
    this.logSometimes('overflow', 'warn', { overflows: this.counts.eventOverflows }, 'kernel dropped conntrack or NFLOG messages (ENOBUFS); the next dump repairs the store');
  }

  private onDeniedPacket(p: DeniedPacket): void {
    if (p.deny === null) return; // another NFLOG user's rule, not a policy verdict
    this.counts.deniedPackets++;
    const entry: ConntrackEntry = {
      id: 0,
      ipVersion: p.ipVersion,
      protocol: p.protocol,
      zone: 0,
      mark: p.mark,
      status: 0,
      labels: null,
      original: { sourceAddress: p.sourceAddress, destinationAddress: p.destinationAddress, sourcePort: p.sourcePort, destinationPort: p.destinationPort },
      reply: { sourceAddress: p.destinationAddress, destinationAddress: p.sourceAddress, sourcePort: p.destinationPort, destinationPort: p.sourcePort },
      originalPackets: 1,
      originalBytes: p.bytes,
      replyPackets: 0,
      replyBytes: 0,
      tcpState: '',
      startMs: p.timestampMs,
      stopMs: 0,
    };
    const before = this.deniedStore.stats().created;
    this.deniedStore.addPackets(entry);
    if (this.deniedStore.stats().created > before) this.metrics.deniedConnections.inc();
    this.denyByKey.set(connectionKey(entry), p.deny);
  }

  private exportAll(exports: readonly ConnectionExport[], denied: boolean): void {
    if (exports.length === 0) return;
    const { sink } = this.opts;
    const metrics = this.metrics;
    const byTemplate = new Map<number, DataRecord[]>();
    const byReason = [0, 0, 0, 0, 0, 0];
    for (const x of exports) {
      let record: FlowRecord;
      let data: DataRecord;
      try {
        record = this.builder.build(x);
        if (denied) this.applyDeny(x, record);
        data = flowRecordToDataRecord(record);
      } catch (err) {
        this.counts.recordsUnbuildable++;
        metrics.recordsDropped.inc({ cause: 'unbuildable' });
        this.logSometimes('build', 'error', { err }, 'a flow record could not be built; it is dropped and counted');
        continue;
      }
      const tid = exporterTemplateId(record.ipVersion);
      let list = byTemplate.get(tid);
      if (!list) byTemplate.set(tid, (list = []));
      list.push(data);
      byReason[x.flowEndReason]++;
    }
    for (let reason = 1; reason < byReason.length; reason++) {
      if (byReason[reason] === 0) continue;
      this.counts.recordsExported[reason] += byReason[reason];
      metrics.recordsExported.inc({ flowEndReason: String(reason) }, byReason[reason]);
    }
    for (const [tid, list] of byTemplate) {
      const accepted = sink.send(tid, list);
      if (accepted < list.length) this.counts.recordsRefused += list.length - accepted;
    }
    const evictions = this.store.stats().evictions + this.deniedStore.stats().evictions;
    if (evictions > this.lastStoreEvictions) {
      metrics.evictions.inc(evictions - this.lastStoreEvictions);
      this.logSometimes('evict', 'warn', { evictions, maxConnections: this.opts.config.maxConnections }, 'connection store full; connections evicted and exported with flowEndReason 5');
      this.lastStoreEvictions = evictions;
    }
  }

  /** Denied connections: the NFLOG prefix says which direction denied it, how, and by which policy. */
  private applyDeny(x: ConnectionExport, r: FlowRecord): void {
    const key = connectionKey(x.entry);
    const deny = this.denyByKey.get(key);
    if (!deny) return;
    if (x.flowEndReason !== FlowEndReason.activeTimeout) this.denyByKey.delete(key);
    const action = deny.action === 'reject' ? RuleAction.reject : RuleAction.drop;
    const slash = deny.policy.indexOf('/');
    const namespace = slash > 0 ? deny.policy.slice(0, slash) : '';
    const name = slash > 0 ? deny.policy.slice(slash + 1) : deny.policy;
    if (deny.direction === 'ingress') {
      r.ingressNetworkPolicyRuleAction = action;
      if (name !== '') {
        r.ingressNetworkPolicyName = name;
        r.ingressNetworkPolicyNamespace = namespace;
        r.ingressNetworkPolicyType = PolicyType.k8sNetworkPolicy;
        r.ingressNetworkPolicyRuleName = '';
      }
    } else {
      r.egressNetworkPolicyRuleAction = action;
      if (name !== '') {
        r.egressNetworkPolicyName = name;
        r.egressNetworkPolicyNamespace = namespace;
        r.egressNetworkPolicyType = PolicyType.k8sNetworkPolicy;
        r.egressNetworkPolicyRuleName = '';
      }
    }
  }

  /** Logs one line per kind at most once a minute, so a storm does not flood the log. */
  private logSometimes(kind: string, level: 'warn' | 'error', obj: object, msg: string): void {
    const now = this.opts.clock.now();
    const last = this.lastLogged.get(kind);
    if (last !== undefined && now - last < LOG_EVERY_MS) return;
    this.lastLogged.set(kind, now);
    this.opts.logger[level](obj, msg);
  }
}
