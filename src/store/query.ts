// The one query layer behind the HTTP API, the UI and the CLI. Parameters are validated once
// here (parseFlowQuery), then each dashboard query is built as SQL through a small per-engine
// Dialect. Values are validated and then escaped into literals: ClickHouse 18 has no query
// parameters, and one path for both engines keeps them answering alike.
//
// Counters: records carry delta counts since their previous export, so a window's traffic is
// the sum of the deltas of the records that ended in it.
import { isIP } from 'node:net';
import { FlowType, RuleAction } from '../flow/record.js';
import { parseDuration } from '../util/duration.js';
import { StoreError } from './errors.js';
import { ipKeyRange, ipNetRange, V6_NET_BASE, type KeyRange, type NetRange } from './ip-key.js';
import { planSegments, rollup, rollupCanFilter, ROLLUP_MEASURES, type RollupName } from './rollups.js';
import { COLUMN_NAMES, type StoredFlow } from './schema.js';

/** The SQL differences between the engines. */
export interface Dialect {
  /** A string literal. */
  str(value: string): string;
  /** A literal comparable with a time column, from epoch seconds. */
  time(seconds: number): string;
  /** A time column read as epoch seconds. */
  readTime(column: string): string;
  /** A time column rounded down to a multiple of `seconds`, as epoch seconds. */
  bucket(column: string, seconds: number): string;
  /** An aggregate or integer expression returned as a JS number. */
  num(expr: string): string;
  count(): string;
  /** The literal 1 with the type of the rollups' record counts. */
  one(): string;
  /** Where a rollup tier's rows are: a table, and a condition that selects them ('' for none). */
  rollup(name: RollupName, tier: number): { table: string; where: string };
}

/** What the query layer needs from an engine. */
export interface SqlRunner {
  readonly dialect: Dialect;
  /** Runs a SELECT; numbers come back as numbers (not bigint or text). */
  select(sql: string): Promise<Record<string, unknown>[]>;
  /** True when the store keeps the rollups (rollups.ts); otherwise every query reads raw rows. */
  readonly rollups?: boolean;
}

export interface TimeRange {
  /** Epoch seconds, inclusive. */
  from: number;
  /** Epoch seconds, exclusive. */
  to: number;
}

export interface NameRef {
  namespace: string | null;
  name: string;
}

export interface FlowFilter {
  namespace?: string;
  pod?: NameRef;
  node?: string;
  /** "namespace/name" (any port) or "namespace/name:port". */
  service?: string;
  policy?: NameRef;
  /** The ingress policy only (the destination side's). */
  ingressPolicy?: NameRef;
  /** The egress policy only (the source side's). */
  egressPolicy?: NameRef;
  action?: RuleAction;
  protocol?: number;
  flowType?: FlowType;
  /** Key range of the address or block; `net`: its networks when it is whole networks (ip-key.ts ipNetRange), else null. */
  ip?: KeyRange & { text: string; net?: NetRange | null };
  port?: number;
}

export type Metric = 'bytes' | 'packets';
export type Side = 'source' | 'destination';

export interface FlowQuery {
  range: TimeRange;
  filter: FlowFilter;
  limit: number;
  offset: number;
  /** top: rank by bytes or packets. */
  by: Metric;
  /** top: rank sources or destinations. */
  side: Side;
  /** throughput: bucket seconds; chosen from the range unless given. */
  bucketSeconds: number;
  /** flows --follow: only records inserted after this (epoch seconds). */
  insertedAfter: number | null;
  /** flows: order by this column ('-' prefix: descending); null for the default order. */
  sort: { column: keyof StoredFlow; descending: boolean } | null;
}

export const DEFAULT_RANGE_SECONDS = 3600;
export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 10_000;
export const MAX_OFFSET = 10_000_000;
/** flows, newest first: the first part of the range read (seconds before `to`). */
const NEWEST_FIRST_SPAN = 3600;
/** Throughput series aim at no more than this many points. */
export const MAX_POINTS = 300;
/** Candidate bucket sizes, in seconds. */
export const BUCKET_STEPS: readonly number[] = [1, 5, 10, 30, 60, 300, 600, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400];

const PROTOCOLS: ReadonlyMap<string, number> = new Map([
  ['icmp', 1],
  ['tcp', 6],
  ['udp', 17],
  ['icmpv6', 58],
  ['sctp', 132],
]);
const FLOW_TYPES: ReadonlyMap<string, FlowType> = new Map(Object.entries(FlowType) as [string, FlowType][]);
const ACTIONS: ReadonlyMap<string, RuleAction> = new Map([
  ['allow', RuleAction.allow],
  ['drop', RuleAction.drop],
  ['reject', RuleAction.reject],
]);

/** Kubernetes object names (DNS subdomain), plus '_' for Antrea rule names. */
const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,251}[A-Za-z0-9])?$/;

export const QUERY_PARAMETERS = [
  'from', 'to', 'last', 'namespace', 'pod', 'node', 'service', 'policy', 'action', 'protocol',
  'flowType', 'ip', 'port', 'limit', 'offset', 'by', 'side', 'bucket', 'insertedAfter',
  'ingressPolicy', 'egressPolicy', 'sort',
] as const;

function bad(message: string): never {
  throw new StoreError('STORE_ERR_INVALID_QUERY', message);
}

function name(param: string, v: string): string {
  if (!NAME.test(v)) bad(`${param}=${v} is not a valid name; write a Kubernetes name such as ${param}=web-1`);
  return v;
}

function nameRef(param: string, v: string): NameRef {
  const parts = v.split('/');
  if (parts.length > 2) bad(`${param}=${v} is not valid; write a name or namespace/name, e.g. ${param}=shop/web`);
  if (parts.length === 2) return { namespace: name(param, parts[0]), name: name(param, parts[1]) };
  return { namespace: null, name: name(param, parts[0]) };
}

function intIn(param: string, v: string, min: number, max: number, example: string): number {
  if (!/^\d{1,10}$/.test(v) || Number(v) < min || Number(v) > max) bad(`${param}=${v} is not valid; write a whole number from ${min} to ${max}, e.g. ${param}=${example}`);
  return Number(v);
}

/** Epoch seconds, an RFC 3339 time, "now", or "now-<duration>" (e.g. now-15m). */
export function parseTime(param: string, v: string, nowSeconds: number): number {
  if (v === 'now') return nowSeconds;
  if (v.startsWith('now-')) {
    let ms: number;
    try {
      ms = parseDuration(v.slice(4));
    } catch {
      bad(`${param}=${v} is not valid; write now-<duration>, e.g. ${param}=now-15m`);
    }
    if (!(ms > 0)) bad(`${param}=${v}: the duration must be positive, e.g. ${param}=now-15m`);
    return nowSeconds - Math.floor(ms / 1000);
  }
  if (/^\d{1,12}$/.test(v)) return Number(v);
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(v)) {
    const ms = Date.parse(v);
    if (Number.isFinite(ms)) return Math.floor(ms / 1000);
  }
  return bad(`${param}=${v} is not a time; write epoch seconds, an RFC 3339 time such as 2024-05-01T12:00:00Z, now, or now-<duration> such as now-1h`);
}

/** The smallest candidate bucket that keeps the series within MAX_POINTS. */
export function bucketFor(range: TimeRange, maxPoints = MAX_POINTS): number {
  const span = Math.max(1, range.to - range.from);
  for (const step of BUCKET_STEPS) if (Math.ceil(span / step) <= maxPoints) return step;
  return Math.ceil(span / maxPoints / 86400) * 86400;
}

/**
 * Validates query parameters (from the URL or the CLI) into a FlowQuery; throws
 * STORE_ERR_INVALID_QUERY with a message that says what to write instead.
 */
export function parseFlowQuery(params: Record<string, unknown>, nowSeconds: number): FlowQuery {
  const filter: FlowFilter = {};
  const get = new Map<string, string>();
  for (const [key, raw] of Object.entries(params)) {
    if (raw === undefined) continue;
    if (!(QUERY_PARAMETERS as readonly string[]).includes(key)) bad(`unknown query parameter "${key}"; use one of ${QUERY_PARAMETERS.join(', ')}`);
    if (typeof raw !== 'string' && typeof raw !== 'number') bad(`query parameter "${key}" is given more than once or is not text; give it once`);
    const v = String(raw).trim();
    if (v === '') bad(`query parameter "${key}" is empty; give it a value or leave it out`);
    get.set(key, v);
  }
  if (get.has('last') && get.has('from')) bad('give either last=<duration> or from=<time>, not both');
  let to = get.has('to') ? parseTime('to', get.get('to')!, nowSeconds) : nowSeconds;
  let from: number;
  if (get.has('last')) {
    let ms = 0;
    try {
      ms = parseDuration(get.get('last')!);
    } catch {
      bad(`last=${get.get('last')} is not a duration; write e.g. last=15m or last=24h`);
    }
    if (!(ms >= 1000)) bad(`last=${get.get('last')} is too short; write at least 1s, e.g. last=15m`);
    from = to - Math.floor(ms / 1000);
  } else {
    from = get.has('from') ? parseTime('from', get.get('from')!, nowSeconds) : to - DEFAULT_RANGE_SECONDS;
  }
  if (from >= to) bad(`the time range is empty: from (${from}) must be before to (${to})`);
  // `to` is exclusive; a range given up to "now" includes the current second.
  if (!get.has('to')) to += 1;

  for (const [key, v] of get) {
    switch (key) {
      case 'namespace':
        filter.namespace = name(key, v);
        break;
      case 'pod':
        filter.pod = nameRef(key, v);
        break;
      case 'node':
        filter.node = name(key, v);
        break;
      case 'service': {
        const m = /^([^/:]+)\/([^/:]+)(?::([^/:]+))?$/.exec(v);
        if (!m) bad(`service=${v} is not valid; write namespace/name or namespace/name:port, e.g. service=shop/frontend:http`);
        name(key, m[1]);
        name(key, m[2]);
        if (m[3] !== undefined) name(key, m[3]);
        filter.service = v;
        break;
      }
      case 'policy':
        filter.policy = nameRef(key, v);
        break;
      case 'ingressPolicy':
        filter.ingressPolicy = nameRef(key, v);
        break;
      case 'egressPolicy':
        filter.egressPolicy = nameRef(key, v);
        break;
      case 'action': {
        const a = ACTIONS.get(v.toLowerCase());
        if (a === undefined) bad(`action=${v} is not valid; write one of ${[...ACTIONS.keys()].join(', ')}`);
        filter.action = a;
        break;
      }
      case 'protocol': {
        const named = PROTOCOLS.get(v.toLowerCase());
        filter.protocol = named ?? (/^\d{1,3}$/.test(v) && Number(v) <= 255 ? Number(v) : bad(`protocol=${v} is not a protocol; write a number from 0 to 255 or one of ${[...PROTOCOLS.keys()].join(', ')}`));
        break;
      }
      case 'flowType': {
        const t = FLOW_TYPES.get(v);
        if (t === undefined) bad(`flowType=${v} is not valid; write one of ${[...FLOW_TYPES.keys()].join(', ')}`);
        filter.flowType = t;
        break;
      }
      case 'ip': {
        const range = ipKeyRange(v);
        if (!range) bad(`ip=${v} is not an IP address or CIDR block; write e.g. ip=10.10.0.5, ip=10.10.0.0/16 or ip=fd00::/64`);
        filter.ip = { ...range, text: v, net: ipNetRange(v) };
        break;
      }
      case 'port':
        filter.port = intIn(key, v, 0, 65535, '443');
        break;
    }
  }
  const by = (get.get('by') ?? 'bytes') as Metric;
  if (by !== 'bytes' && by !== 'packets') bad(`by=${get.get('by')} is not valid; write by=bytes or by=packets`);
  const side = (get.get('side') ?? 'source') as Side;
  if (side !== 'source' && side !== 'destination') bad(`side=${get.get('side')} is not valid; write side=source or side=destination`);
  let sort: FlowQuery['sort'] = null;
  if (get.has('sort')) {
    const v = get.get('sort')!;
    const column = (v.startsWith('-') ? v.slice(1) : v) as keyof StoredFlow;
    if (!(COLUMN_NAMES as readonly string[]).includes(column)) bad(`sort=${v} is not a column; write a column name, '-' first for descending, e.g. sort=-octetDeltaCount`);
    sort = { column, descending: v.startsWith('-') };
  }
  const range = { from, to };
  let bucketSeconds = bucketFor(range);
  if (get.has('bucket')) {
    let ms = 0;
    try {
      ms = parseDuration(get.get('bucket')!);
    } catch {
      bad(`bucket=${get.get('bucket')} is not a duration; write e.g. bucket=1m`);
    }
    const s = ms / 1000;
    if (!Number.isInteger(s) || s < 1) bad(`bucket=${get.get('bucket')} must be a whole number of seconds, at least 1s, e.g. bucket=1m`);
    if (Math.ceil((to - from) / s) > 10 * MAX_POINTS) bad(`bucket=${get.get('bucket')} gives more than ${10 * MAX_POINTS} points over this range; write a larger bucket or leave it out to have one chosen`);
    bucketSeconds = s;
  }
  return {
    range,
    filter,
    limit: get.has('limit') ? intIn('limit', get.get('limit')!, 1, MAX_LIMIT, '100') : DEFAULT_LIMIT,
    offset: get.has('offset') ? intIn('offset', get.get('offset')!, 0, MAX_OFFSET, '100') : 0,
    by,
    side,
    bucketSeconds,
    insertedAfter: get.has('insertedAfter') ? intIn('insertedAfter', get.get('insertedAfter')!, 0, 2 ** 32, '1700000000') : null,
    sort,
  };
}

/** The WHERE clause of a query. */
export function whereClause(d: Dialect, q: Pick<FlowQuery, 'range' | 'filter' | 'insertedAfter'>): string {
  const parts = [`flowEndSeconds >= ${d.time(q.range.from)}`, `flowEndSeconds < ${d.time(q.range.to)}`];
  const filters = filterClause(d, q);
  if (filters !== '') parts.push(filters);
  return parts.join(' AND ');
}

/** The filter part of the WHERE clause (without the time range); '' when there is none. */
export function filterClause(d: Dialect, q: Pick<FlowQuery, 'filter' | 'insertedAfter'>): string {
  const f = q.filter;
  const s = (v: string) => d.str(v);
  const parts: string[] = [];
  const either = (a: string, b: string) => `((${a}) OR (${b}))`;
  const ref = (prefix: string, nsCol: string, r: NameRef) => (r.namespace === null ? `${prefix} = ${s(r.name)}` : `${prefix} = ${s(r.name)} AND ${nsCol} = ${s(r.namespace)}`);
  if (f.namespace !== undefined) parts.push(either(`sourcePodNamespace = ${s(f.namespace)}`, `destinationPodNamespace = ${s(f.namespace)}`));
  if (f.pod) parts.push(either(ref('sourcePodName', 'sourcePodNamespace', f.pod), ref('destinationPodName', 'destinationPodNamespace', f.pod)));
  if (f.node !== undefined) parts.push(either(`sourceNodeName = ${s(f.node)}`, `destinationNodeName = ${s(f.node)}`));
  if (f.service !== undefined) {
    parts.push(
      f.service.includes(':')
        ? `destinationServicePortName = ${s(f.service)}`
        : `substring(destinationServicePortName, 1, ${f.service.length + 1}) = ${s(`${f.service}:`)}`,
    );
  }
  if (f.policy) {
    parts.push(either(ref('ingressNetworkPolicyName', 'ingressNetworkPolicyNamespace', f.policy), ref('egressNetworkPolicyName', 'egressNetworkPolicyNamespace', f.policy)));
  }
  if (f.ingressPolicy) parts.push(ref('ingressNetworkPolicyName', 'ingressNetworkPolicyNamespace', f.ingressPolicy));
  if (f.egressPolicy) parts.push(ref('egressNetworkPolicyName', 'egressNetworkPolicyNamespace', f.egressPolicy));
  if (f.action !== undefined) parts.push(either(`ingressNetworkPolicyRuleAction = ${f.action}`, `egressNetworkPolicyRuleAction = ${f.action}`));
  if (f.protocol !== undefined) parts.push(`protocolIdentifier = ${f.protocol}`);
  if (f.flowType !== undefined) parts.push(`flowType = ${f.flowType}`);
  if (f.ip?.net) {
    // Whole networks: numbers, which the Pod rollup also keeps.
    const net = f.ip.net;
    const within = (c: string) => `${c} BETWEEN ${net.low} AND ${net.high}${net.allV4 ? ` OR ${c} BETWEEN 0 AND ${V6_NET_BASE - 1}` : ''}`;
    parts.push(either(within('sourceIPNet'), within('destinationIPNet')));
  } else if (f.ip) {
    parts.push(
      either(`sourceIPKey >= ${s(f.ip.low)} AND sourceIPKey <= ${s(f.ip.high)}`, `destinationIPKey >= ${s(f.ip.low)} AND destinationIPKey <= ${s(f.ip.high)}`),
    );
  }
  if (f.port !== undefined) parts.push(either(`sourceTransportPort = ${f.port}`, `destinationTransportPort = ${f.port}`));
  if (q.insertedAfter !== null) parts.push(`timeInserted > ${d.time(q.insertedAfter)}`);
  return parts.join(' AND ');
}

/** What a group-by query reads: the raw rows, or a rollup's tiers and raw rows at the edges. */
export interface Scan {
  from: string;
  where: string;
  /** The record count of a group. */
  count: string;
  /** True when rollups answer part of the range. */
  rollup: boolean;
}

/**
 * The rows a group-by over `name`'s keys reads (rollups.ts): whole buckets from the rollup's
 * tiers, the rest from raw rows, as one UNION ALL with the raw column names (the bucket start
 * as flowEndSeconds). `bucketSeconds`: the query groups by time in buckets of this size, so a
 * tier is used only when it divides it. Raw rows alone when the filters need other columns.
 */
export function scanFor(d: Dialect, q: Pick<FlowQuery, 'range' | 'filter' | 'insertedAfter'>, name: RollupName, bucketSeconds = 0, enabled = true): Scan {
  const spec = rollup(name);
  const raw: Scan = { from: 'flows', where: whereClause(d, q), count: d.count(), rollup: false };
  if (!enabled || !rollupCanFilter(spec, q.filter, q.insertedAfter)) return raw;
  const segments = planSegments(q.range.from, q.range.to, spec.tiers, (t) => bucketSeconds === 0 || bucketSeconds % t === 0);
  if (!segments.some((seg) => seg.tier > 0)) return raw;
  const filters = filterClause(d, q);
  const measures = ROLLUP_MEASURES.join(', ');
  const branches = segments.map((seg) => {
    if (seg.tier === 0) {
      const keys = spec.keys.map((k) => (k.expr === k.name ? k.name : `${k.expr} AS ${k.name}`));
      const where = [`flowEndSeconds >= ${d.time(seg.from)}`, `flowEndSeconds < ${d.time(seg.to)}`, filters].filter((x) => x !== '').join(' AND ');
      return `SELECT ${[...keys, 'flowEndSeconds', measures, `${d.one()} AS flows`].join(', ')} FROM flows WHERE ${where}`;
    }
    const at = d.rollup(name, seg.tier);
    const where = [at.where, `bucket >= ${d.time(seg.from)}`, `bucket < ${d.time(seg.to)}`, filters].filter((x) => x !== '').join(' AND ');
    return `SELECT ${[...spec.keys.map((k) => k.name), 'bucket AS flowEndSeconds', measures, 'flows'].join(', ')} FROM ${at.table} WHERE ${where}`;
  });
  return { from: `(${branches.join(' UNION ALL ')}) AS f`, where: '1 = 1', count: d.num('sum(flows)'), rollup: true };
}

// ---- Results ------------------------------------------------------------------------------

export interface Completeness {
  /** Records the aggregator dropped in the window (invalid, queue full, sink buffers full). */
  recordsDropped: number;
  /** Records missing by IPFIX sequence numbers in the window. */
  recordsLost: number;
  /** Records the store sink dropped because its retry buffer was full. */
  storeDropped: number;
  /** Counter snapshots that cover the window; 0 means nothing is known about losses. */
  snapshots: number;
  /** True when snapshots cover the window and nothing was dropped or lost. */
  complete: boolean;
}

export interface Page {
  limit: number;
  offset: number;
  /** The offset of the next page; null on the last page. */
  nextOffset: number | null;
}

export interface QueryResult<T> {
  range: TimeRange;
  items: T[];
  page: Page;
  completeness: Completeness;
}

export interface Talker {
  /** "namespace/pod" for a Pod, else the IP address. */
  endpoint: string;
  namespace: string;
  pod: string;
  ip: string;
  bytes: number;
  reverseBytes: number;
  packets: number;
  reversePackets: number;
  flows: number;
}

export interface PodEdge {
  sourcePodNamespace: string;
  sourcePodName: string;
  destinationPodNamespace: string;
  destinationPodName: string;
  /** Bytes and packets from the source Pod to the destination Pod. */
  txBytes: number;
  txPackets: number;
  /** Bytes and packets back (the reverse direction). */
  rxBytes: number;
  rxPackets: number;
  flows: number;
}

export interface NodeCell {
  sourceNodeName: string;
  /** '' for traffic to outside the cluster. */
  destinationNodeName: string;
  txBytes: number;
  rxBytes: number;
  flows: number;
}

export interface PolicyEdge {
  egressNetworkPolicyNamespace: string;
  egressNetworkPolicyName: string;
  egressNetworkPolicyRuleAction: number;
  ingressNetworkPolicyNamespace: string;
  ingressNetworkPolicyName: string;
  ingressNetworkPolicyRuleAction: number;
  bytes: number;
  flows: number;
}

export interface ThroughputPoint {
  /** Bucket start, epoch seconds. */
  t: number;
  bytes: number;
  reverseBytes: number;
  packets: number;
  /** (bytes + reverseBytes) * 8 / bucket seconds. */
  bitsPerSecond: number;
}

export interface ThroughputResult extends QueryResult<ThroughputPoint> {
  bucketSeconds: number;
}

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0));
const str = (v: unknown): string => (v === null || v === undefined ? '' : String(v));

/** Runs the dashboard queries on one engine. */
export class FlowQueries {
  constructor(private readonly db: SqlRunner) {}

  private page<T>(rows: T[], q: FlowQuery): { items: T[]; page: Page } {
    const more = rows.length > q.limit;
    return { items: more ? rows.slice(0, q.limit) : rows, page: { limit: q.limit, offset: q.offset, nextOffset: more ? q.offset + q.limit : null } };
  }

  private limitClause(q: FlowQuery): string {
    return `LIMIT ${q.limit + 1} OFFSET ${q.offset}`;
  }

  /** Flow records, newest first; with insertedAfter, oldest insert first (for --follow). */
  async flows(q: FlowQuery): Promise<QueryResult<StoredFlow>> {
    const d = this.db.dialect;
    const cols = COLUMN_NAMES.map((c) => (c === 'timeInserted' || c.startsWith('flowStart') || c.startsWith('flowEndSeconds') ? `${d.readTime(c)} AS ${c}` : c));
    const tieBreak = 'sourceIP, destinationIP, sourceTransportPort, destinationTransportPort, octetDeltaCount';
    let order = `flowEndSeconds DESC, timeInserted DESC, ${tieBreak}`;
    if (q.insertedAfter !== null) order = `timeInserted, flowEndSeconds, ${tieBreak}`;
    else if (q.sort !== null) order = `${q.sort.column}${q.sort.descending ? ' DESC' : ''}, ${order}`;
    const page = (range: TimeRange) => this.db.select(`SELECT ${cols.join(', ')} FROM flows WHERE ${whereClause(d, { ...q, range })} ORDER BY ${order} ${this.limitClause(q)}`);
    // Newest first: the page's rows end at or after the (offset + limit + 1)-th latest end of the
    // range, which one column gives; whole rows are read only from there (the embedded store's
    // Parquet segments decode a row's 54 columns only where that filter and their statistics let them).
    const newestPage = (range: TimeRange) => {
      const where = whereClause(d, { ...q, range });
      const latest = `SELECT flowEndSeconds AS e FROM flows WHERE ${where} ORDER BY e DESC LIMIT ${q.offset + q.limit + 1}`;
      return this.db.select(
        `SELECT ${cols.join(', ')} FROM flows WHERE ${where} AND flowEndSeconds >= (SELECT min(e) FROM (${latest}) AS latest) ORDER BY ${order} ${this.limitClause(q)}`,
      );
    };
    let rows: Record<string, unknown>[];
    if (q.insertedAfter === null && q.sort === null) {
      // Newest first: the page lies in the latest part of the range that holds a full page, so
      // try the last hour, then 8 times more, before scanning the whole range. Exact: every row
      // left out ended before every row of the part read.
      let span = NEWEST_FIRST_SPAN;
      for (;;) {
        const from = Math.max(q.range.from, q.range.to - span);
        rows = await newestPage({ from, to: q.range.to });
        if (from === q.range.from || rows.length > q.limit) break;
        span *= 8;
      }
    } else {
      rows = await page(q.range);
    }
    const flows = rows.map((r) => {
      const out = {} as Record<string, number | string>;
      for (const c of COLUMN_NAMES) out[c] = typeof r[c] === 'string' ? (r[c] as string) : num(r[c]);
      return out as unknown as StoredFlow;
    });
    return { range: q.range, ...this.page(flows, q), completeness: await this.completeness(q.range) };
  }

  /** Top talkers: sources (or destinations) ranked by bytes or packets in both directions. */
  async top(q: FlowQuery): Promise<QueryResult<Talker>> {
    const d = this.db.dialect;
    const p = q.side === 'source' ? 'source' : 'destination';
    const rank = q.by === 'bytes' ? 'bytes + reverseBytes' : 'packets + reversePackets';
    const scan = scanFor(d, q, 'pods', 0, this.db.rollups === true);
    const sql =
      `SELECT ${p}PodNamespace AS namespace, ${p}PodName AS pod, ` +
      `CASE WHEN ${p}PodName = '' THEN ${p}IP ELSE '' END AS ip, ` +
      `${d.num('sum(octetDeltaCount)')} AS bytes, ${d.num('sum(reverseOctetDeltaCount)')} AS reverseBytes, ` +
      `${d.num('sum(packetDeltaCount)')} AS packets, ${d.num('sum(reversePacketDeltaCount)')} AS reversePackets, ${scan.count} AS flows ` +
      `FROM ${scan.from} WHERE ${scan.where} GROUP BY namespace, pod, ip ORDER BY ${rank} DESC, namespace, pod, ip ${this.limitClause(q)}`;
    const rows = (await this.db.select(sql)).map((r) => ({
      endpoint: str(r.pod) === '' ? str(r.ip) : `${str(r.namespace)}/${str(r.pod)}`,
      namespace: str(r.namespace),
      pod: str(r.pod),
      ip: str(r.ip),
      bytes: num(r.bytes),
      reverseBytes: num(r.reverseBytes),
      packets: num(r.packets),
      reversePackets: num(r.reversePackets),
      flows: num(r.flows),
    }));
    return { range: q.range, ...this.page(rows, q), completeness: await this.completeness(q.range) };
  }

  /** Pod-to-Pod edges with Tx (source to destination) and Rx (reverse) totals. */
  async podEdges(q: FlowQuery): Promise<QueryResult<PodEdge>> {
    const d = this.db.dialect;
    const scan = scanFor(d, q, 'pods', 0, this.db.rollups === true);
    const sql =
      `SELECT sourcePodNamespace, sourcePodName, destinationPodNamespace, destinationPodName, ` +
      `${d.num('sum(octetDeltaCount)')} AS txBytes, ${d.num('sum(packetDeltaCount)')} AS txPackets, ` +
      `${d.num('sum(reverseOctetDeltaCount)')} AS rxBytes, ${d.num('sum(reversePacketDeltaCount)')} AS rxPackets, ${scan.count} AS flows ` +
      `FROM ${scan.from} WHERE ${scan.where} AND sourcePodName != '' AND destinationPodName != '' ` +
      `GROUP BY sourcePodNamespace, sourcePodName, destinationPodNamespace, destinationPodName ` +
      `ORDER BY txBytes + rxBytes DESC, sourcePodNamespace, sourcePodName, destinationPodNamespace, destinationPodName ${this.limitClause(q)}`;
    const rows = (await this.db.select(sql)).map((r) => ({
      sourcePodNamespace: str(r.sourcePodNamespace),
      sourcePodName: str(r.sourcePodName),
      destinationPodNamespace: str(r.destinationPodNamespace),
      destinationPodName: str(r.destinationPodName),
      txBytes: num(r.txBytes),
      txPackets: num(r.txPackets),
      rxBytes: num(r.rxBytes),
      rxPackets: num(r.rxPackets),
      flows: num(r.flows),
    }));
    return { range: q.range, ...this.page(rows, q), completeness: await this.completeness(q.range) };
  }

  /** Node-to-node matrix: one cell per (source node, destination node) pair. */
  async nodeMatrix(q: FlowQuery): Promise<QueryResult<NodeCell>> {
    const d = this.db.dialect;
    const scan = scanFor(d, q, 'nodes', 0, this.db.rollups === true);
    const sql =
      `SELECT sourceNodeName, destinationNodeName, ${d.num('sum(octetDeltaCount)')} AS txBytes, ` +
      `${d.num('sum(reverseOctetDeltaCount)')} AS rxBytes, ${scan.count} AS flows ` +
      `FROM ${scan.from} WHERE ${scan.where} AND sourceNodeName != '' ` +
      `GROUP BY sourceNodeName, destinationNodeName ORDER BY sourceNodeName, destinationNodeName ${this.limitClause(q)}`;
    const rows = (await this.db.select(sql)).map((r) => ({
      sourceNodeName: str(r.sourceNodeName),
      destinationNodeName: str(r.destinationNodeName),
      txBytes: num(r.txBytes),
      rxBytes: num(r.rxBytes),
      flows: num(r.flows),
    }));
    return { range: q.range, ...this.page(rows, q), completeness: await this.completeness(q.range) };
  }

  /** Policy-to-policy edges: egress policy of the source to ingress policy of the destination. */
  async policyEdges(q: FlowQuery): Promise<QueryResult<PolicyEdge>> {
    const d = this.db.dialect;
    const keys =
      'egressNetworkPolicyNamespace, egressNetworkPolicyName, egressNetworkPolicyRuleAction, ' +
      'ingressNetworkPolicyNamespace, ingressNetworkPolicyName, ingressNetworkPolicyRuleAction';
    const scan = scanFor(d, q, 'policies', 0, this.db.rollups === true);
    const sql =
      `SELECT ${keys}, ${d.num('sum(octetDeltaCount) + sum(reverseOctetDeltaCount)')} AS bytes, ${scan.count} AS flows ` +
      `FROM ${scan.from} WHERE ${scan.where} AND (egressNetworkPolicyName != '' OR ingressNetworkPolicyName != '') ` +
      `GROUP BY ${keys} ORDER BY bytes DESC, ${keys} ${this.limitClause(q)}`;
    const rows = (await this.db.select(sql)).map((r) => ({
      egressNetworkPolicyNamespace: str(r.egressNetworkPolicyNamespace),
      egressNetworkPolicyName: str(r.egressNetworkPolicyName),
      egressNetworkPolicyRuleAction: num(r.egressNetworkPolicyRuleAction),
      ingressNetworkPolicyNamespace: str(r.ingressNetworkPolicyNamespace),
      ingressNetworkPolicyName: str(r.ingressNetworkPolicyName),
      ingressNetworkPolicyRuleAction: num(r.ingressNetworkPolicyRuleAction),
      bytes: num(r.bytes),
      flows: num(r.flows),
    }));
    return { range: q.range, ...this.page(rows, q), completeness: await this.completeness(q.range) };
  }

  /** Throughput over time; every bucket of the range is present, empty ones as 0. */
  async throughput(q: FlowQuery): Promise<ThroughputResult> {
    const d = this.db.dialect;
    const b = q.bucketSeconds;
    const scan = scanFor(d, q, 'totals', b, this.db.rollups === true);
    const sql =
      `SELECT ${d.bucket('flowEndSeconds', b)} AS t, ${d.num('sum(octetDeltaCount)')} AS bytes, ` +
      `${d.num('sum(reverseOctetDeltaCount)')} AS reverseBytes, ${d.num('sum(packetDeltaCount) + sum(reversePacketDeltaCount)')} AS packets ` +
      `FROM ${scan.from} WHERE ${scan.where} GROUP BY t ORDER BY t`;
    const byBucket = new Map<number, Record<string, unknown>>();
    for (const r of await this.db.select(sql)) byBucket.set(num(r.t), r);
    const points: ThroughputPoint[] = [];
    for (let t = Math.floor(q.range.from / b) * b; t < q.range.to; t += b) {
      const r = byBucket.get(t);
      const bytes = num(r?.bytes);
      const reverseBytes = num(r?.reverseBytes);
      points.push({ t, bytes, reverseBytes, packets: num(r?.packets), bitsPerSecond: ((bytes + reverseBytes) * 8) / b });
    }
    return {
      range: q.range,
      bucketSeconds: b,
      items: points,
      page: { limit: points.length, offset: 0, nextOffset: null },
      completeness: await this.completeness(q.range),
    };
  }

  /**
   * Records dropped or lost in a window, from the counter snapshots. Counters are cumulative per
   * aggregator run (instance): the window's share is the last value in it minus the last value
   * before it (0 when the run started inside the window).
   */
  async completeness(range: TimeRange): Promise<Completeness> {
    const d = this.db.dialect;
    const before = `takenAt < ${d.time(range.from)}`;
    const sql =
      `SELECT instance, ` +
      `${d.num(`max(CASE WHEN ${before} THEN recordsDropped ELSE 0 END)`)} AS baseDropped, ${d.num('max(recordsDropped)')} AS dropped, ` +
      `${d.num(`max(CASE WHEN ${before} THEN recordsLost ELSE 0 END)`)} AS baseLost, ${d.num('max(recordsLost)')} AS lost, ` +
      `${d.num(`max(CASE WHEN ${before} THEN storeDropped ELSE 0 END)`)} AS baseStore, ${d.num('max(storeDropped)')} AS store, ` +
      `${d.num(`sum(CASE WHEN ${before} THEN 0 ELSE 1 END)`)} AS inWindow ` +
      `FROM counter_snapshots WHERE takenAt < ${d.time(range.to)} GROUP BY instance`;
    let recordsDropped = 0;
    let recordsLost = 0;
    let storeDropped = 0;
    let snapshots = 0;
    for (const r of await this.db.select(sql)) {
      if (num(r.inWindow) === 0) continue;
      snapshots += num(r.inWindow);
      recordsDropped += num(r.dropped) - num(r.baseDropped);
      recordsLost += num(r.lost) - num(r.baseLost);
      storeDropped += num(r.store) - num(r.baseStore);
    }
    return { recordsDropped, recordsLost, storeDropped, snapshots, complete: snapshots > 0 && recordsDropped + recordsLost + storeDropped === 0 };
  }
}

/** True when the text is a valid value for the ip filter. */
export function isIpOrCidr(text: string): boolean {
  return isIP(text) !== 0 || ipKeyRange(text) !== null;
}
