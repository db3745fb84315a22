// Expectations shared by the end-to-end scenarios: a flow's final record at the collector and
// in the store, and the checks that tie both to what the traffic generator sent.
import assert from 'node:assert/strict';
import type { Conversation } from '../../src/testbed/traffic.js';
import { tupleOf, withinHeaderTolerance, type E2eCluster, type FlowTuple, type IpfixRecord, type StoreRow } from './e2e-cluster.js';

/** The application bytes and packets one conversation put on the wire each way. */
export interface AppTraffic {
  forwardBytes: number;
  reverseBytes: number;
  /** UDP: datagrams each way (one packet each); null for TCP (segmentation is the kernel's). */
  forwardPackets: number | null;
  reversePackets: number | null;
  /** TCP segments the sending side may have retransmitted (see withinHeaderTolerance). */
  forwardRetransmits: number;
  reverseRetransmits: number;
}

export function appTraffic(c: Conversation, retransmitted = { forward: 0, reverse: 0 }): AppTraffic {
  const udp = c.protocol === 'UDP';
  return {
    forwardBytes: c.bytesSent,
    reverseBytes: c.bytesReceived,
    forwardPackets: udp ? c.datagramsSent : null,
    reversePackets: udp ? c.datagramsReceived : null,
    forwardRetransmits: retransmitted.forward,
    reverseRetransmits: retransmitted.reverse,
  };
}

const n = (v: unknown): number => Number(v);

/** Whether a record's totals (one counter prefix/suffix) cover the conversation, within header tolerance. */
export function countersCover(
  get: (name: string) => unknown,
  t: FlowTuple,
  app: AppTraffic,
  suffix = '',
): boolean {
  const fwd = withinHeaderTolerance(n(get(`octetTotalCount${suffix}`)), n(get(`packetTotalCount${suffix}`)), app.forwardBytes, t.family, t.protocol, app.forwardRetransmits);
  const rev = withinHeaderTolerance(n(get(`reverseOctetTotalCount${suffix}`)), n(get(`reversePacketTotalCount${suffix}`)), app.reverseBytes, t.family, t.protocol, app.reverseRetransmits);
  const pk =
    (app.forwardPackets === null || n(get(`packetTotalCount${suffix}`)) === app.forwardPackets) &&
    (app.reversePackets === null || n(get(`reversePacketTotalCount${suffix}`)) === app.reversePackets);
  return fwd && rev && pk;
}

/** Asserts countersCover with a message that shows the numbers. */
export function assertCounters(what: string, get: (name: string) => unknown, t: FlowTuple, app: AppTraffic, suffix = ''): void {
  const shown = ['packetTotalCount', 'octetTotalCount', 'reversePacketTotalCount', 'reverseOctetTotalCount'].map((k) => `${k}${suffix}=${String(get(`${k}${suffix}`))}`);
  assert.ok(countersCover(get, t, app, suffix), `${what}: ${shown.join(' ')} do not match the application bytes ${JSON.stringify(app)} within header tolerance (IPv${t.family}, protocol ${t.protocol})`);
}

/** Sum of a counter over records. */
export function sum(rows: readonly Record<string, unknown>[], key: string): number {
  return rows.reduce((s, r) => s + n(r[key]), 0);
}

export interface FinalFlow {
  tuple: FlowTuple;
  /** The traffic the counters were checked against. */
  app: AppTraffic;
  /** Every IPFIX record of the flow, arrival order. */
  ipfix: IpfixRecord[];
  /** The last one: it carries the final totals. */
  last: Record<string, string | number | boolean>;
  /** Every store row of the flow, oldest first. */
  store: StoreRow[];
  /** The newest store row. */
  row: StoreRow;
}

/**
 * Waits until the flow of a conversation has been exported with its whole traffic (and, for an
 * inter-node flow, by both Nodes), then until the store holds the same totals, and returns both.
 * Checks on the way that nothing was counted twice: at the collector and in the store, the
 * deltas of every record add up to the final totals.
 */
export async function finalFlow(cluster: E2eCluster, what: string, c: Conversation, opts: { interNode?: boolean; endReason?: number } = {}): Promise<FinalFlow> {
  const t = tupleOf(c, cluster.topology);
  let app = appTraffic(c);
  const complete = (r: IpfixRecord): boolean => {
    const d = r.record;
    const get = (k: string) => d[k];
    if (opts.endReason !== undefined && d.flowEndReason !== opts.endReason) return false;
    if (!countersCover(get, t, app)) return false;
    if (opts.interNode) return countersCover(get, t, app, 'FromSourceNode') && countersCover(get, t, app, 'FromDestinationNode');
    return true;
  };
  const ipfix = await cluster.waitForIpfix(what, t, async (rs) => {
    if (rs.length === 0) return false;
    app = appTraffic(c, await cluster.retransmissions(c));
    return rs.some(complete);
  });
  // Later records of the same flow (a second Node's end record) may follow the first complete one.
  const last = ipfix[ipfix.length - 1].record;
  assert.ok(complete(ipfix[ipfix.length - 1]), `${what}: a record arrived after the complete one and changed it: ${JSON.stringify(last)}`);
  for (const [delta, total] of [['octetDeltaCount', 'octetTotalCount'], ['packetDeltaCount', 'packetTotalCount'], ['reverseOctetDeltaCount', 'reverseOctetTotalCount'], ['reversePacketDeltaCount', 'reversePacketTotalCount']]) {
    assert.equal(sum(ipfix.map((r) => r.record), delta), n(last[total]), `${what}: the IPFIX records' ${delta} add up to the final ${total} (nothing counted twice); records: ${JSON.stringify(ipfix.map((r) => r.record))}`);
  }
  const store = await cluster.waitForStore(what, t, (rows) => rows.length > 0 && sum(rows, 'octetDeltaCount') >= n(last.octetTotalCount) && n(rows[rows.length - 1].octetTotalCount) === n(last.octetTotalCount));
  const row = store[store.length - 1];
  for (const [delta, total] of [['octetDeltaCount', 'octetTotalCount'], ['packetDeltaCount', 'packetTotalCount'], ['reverseOctetDeltaCount', 'reverseOctetTotalCount'], ['reversePacketDeltaCount', 'reversePacketTotalCount']]) {
    assert.equal(sum(store, delta), n(row[total]), `${what}: the store rows' ${delta} add up to the final ${total}; rows: ${JSON.stringify(store)}`);
    assert.equal(n(row[total]), n(last[total]), `${what}: the store's ${total} is the collector's`);
  }
  assertCounters(`${what}: the store row`, (k) => row[k], t, app);
  return { tuple: t, app, ipfix, last, store, row };
}

/** The fields the collector and the store both carry, under their names in each. */
export function assertSameInBoth(what: string, f: FinalFlow, expected: Record<string, string | number>): void {
  const ipfixName: Record<string, string> = {};
  const storeName: Record<string, string> = {};
  const ipv = Number(f.row.ipVersion) === 6 ? 'IPv6' : 'IPv4';
  ipfixName.destinationClusterIP = `destinationClusterIP${ipv === 'IPv6' ? 'v6' : 'v4'}`;
  const gotIpfix: Record<string, unknown> = {};
  const gotStore: Record<string, unknown> = {};
  for (const k of Object.keys(expected)) {
    gotIpfix[k] = f.last[ipfixName[k] ?? k];
    gotStore[k] = f.row[storeName[k] ?? k];
  }
  const want = { ...expected };
  // The store keeps '' where the wire has the zero address for "no ClusterIP".
  const wantStore = { ...want };
  if ('destinationClusterIP' in want && (want.destinationClusterIP === '0.0.0.0' || want.destinationClusterIP === '::')) wantStore.destinationClusterIP = '';
  assert.deepEqual(gotIpfix, want, `${what}: fields at the collector`);
  assert.deepEqual(gotStore, wantStore, `${what}: fields in the store`);
}
