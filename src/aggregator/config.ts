// `flowvis aggregator` configuration: a YAML file with the reference's flow-aggregator.conf
// keys and defaults, plus the keys this implementation needs. Validated once here with a
// JSON schema (ajv) and cross-field rules; every message names the key and says what to
// write instead. The result is typed and deep-frozen; modules never read process.env.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isIP } from 'node:net';
import { Ajv, type ErrorObject } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { parseDuration, formatDuration } from '../util/duration.js';
import { parseCollectorAddress, parseHostPort, IPFIX_PORT, type CollectorAddress, type TransportProtocol } from '../util/address.js';
import { deepFreeze } from '../util/freeze.js';
import { AggregatorError } from './errors.js';
import { DEFAULT_INSERTS_IN_FLIGHT } from '../sinks/store-sink.js';

export const SINK_NAMES = ['ipfix', 'log'] as const;
export type SinkName = (typeof SINK_NAMES)[number];

export const DEFAULTS = Object.freeze({
  flowExportInterval: '60s',
  aggregatorTransportProtocol: 'tls' as TransportProtocol,
  flowAggregatorAddress: 'flow-aggregator.flow-aggregator.svc',
  inactiveFlowRecordTimeout: '90s',
  correlationWait: '10s',
  maxFlows: 1_000_000,
  listenAddress: '::',
  listenPort: IPFIX_PORT,
  sinks: ['ipfix'] as SinkName[],
  logSinkPath: '-',
  sinkBufferSize: 100_000,
  apiAddress: '0.0.0.0:10348',
  certDir: '/var/lib/flowvis/aggregator/certs',
  certValidity: '8760h',
  certRenewBefore: '720h',
  certCheckInterval: '1h',
  kubernetesNamespace: 'flow-aggregator',
});

export const MIN_EXPORT_INTERVAL_MS = 1000;

export interface KubernetesPublishing {
  /** Write the CA and client certificate to a Secret and the CA to a ConfigMap in this namespace. */
  readonly namespace: string;
  /** null: in-cluster config. */
  readonly kubeconfig: string | null;
}

export interface AggregatorConfig {
  /** null when the IPFIX sink is off. */
  readonly externalFlowCollector: CollectorAddress | null;
  readonly flowExportIntervalMs: number;
  readonly activeTimeoutMs: number;
  readonly inactiveTimeoutMs: number;
  readonly correlationWaitMs: number;
  readonly aggregatorTransportProtocol: TransportProtocol;
  /** DNS name or IP put in the server certificate. */
  readonly flowAggregatorAddress: string;
  readonly listenAddress: string;
  readonly listenPort: number;
  readonly maxFlows: number;
  readonly sinks: readonly SinkName[];
  /** "-" is stdout. */
  readonly logSinkPath: string;
  readonly sinkBufferSize: number;
  /** null: no HTTP API. */
  readonly api: { readonly host: string; readonly port: number } | null;
  readonly certDir: string;
  readonly certValidityMs: number;
  readonly certRenewBeforeMs: number;
  readonly certCheckIntervalMs: number;
  /** null: certificates go to certDir only. */
  readonly kubernetes: KubernetesPublishing | null;
  /** null: no flow store (see docs/store.md). */
  readonly store: StoreConfig | null;
}

/** The `store` map: where the storage sink writes, and how long records are kept. */
export interface StoreConfig {
  /** A directory (embedded DuckDB) or a ClickHouse URL (http://host:8123/database). */
  readonly url: string;
  readonly commitIntervalMs: number;
  /** Records held while the database is down. */
  readonly bufferSize: number;
  /** Inserts kept going at once: while the database stores one batch the next is encoded (1: one at a time). */
  readonly insertsInFlight: number;
  /** Records older than this are deleted, then the store is compacted; 0: keep everything. */
  readonly retentionMs: number;
  readonly retentionCheckIntervalMs: number;
}

const duration = { type: 'string', minLength: 1 } as const;

const SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    externalFlowCollectorAddr: { type: 'string', minLength: 1 },
    flowExportInterval: duration,
    aggregatorTransportProtocol: { type: 'string' },
    flowAggregatorAddress: { type: 'string', minLength: 1 },
    activeFlowRecordTimeout: duration,
    inactiveFlowRecordTimeout: duration,
    correlationWait: duration,
    maxFlows: { type: 'integer', minimum: 1, maximum: 50_000_000 },
    listenAddress: { type: 'string', minLength: 1 },
    listenPort: { type: 'integer', minimum: 0, maximum: 65535 },
    sinks: { type: 'array', items: { enum: SINK_NAMES }, uniqueItems: true },
    logSinkPath: { type: 'string', minLength: 1 },
    sinkBufferSize: { type: 'integer', minimum: 1, maximum: 10_000_000 },
    apiAddress: { type: 'string' },
    certDir: { type: 'string', minLength: 1 },
    certValidity: duration,
    certRenewBefore: duration,
    certCheckInterval: duration,
    store: {
      type: 'object',
      additionalProperties: false,
      required: ['url'],
      properties: {
        url: { type: 'string', minLength: 1 },
        commitInterval: duration,
        bufferSize: { type: 'integer', minimum: 1, maximum: 100_000_000 },
        insertsInFlight: { type: 'integer', minimum: 1, maximum: 8 },
        retention: { type: 'string', minLength: 1 },
        retentionCheckInterval: duration,
      },
    },
    kubernetes: {
      type: 'object',
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean' },
        namespace: { type: 'string', minLength: 1 },
        kubeconfig: { type: 'string', minLength: 1 },
      },
    },
  },
} as const;

const HINTS: Record<string, string> = {
  externalFlowCollectorAddr: 'a string <IP>:<port>[:<proto>] with proto tcp or udp, e.g. "192.168.86.86:4739:tcp"',
  flowExportInterval: 'a duration string of at least 1s, e.g. "60s"',
  aggregatorTransportProtocol: 'one of "tls", "tcp", "udp"',
  flowAggregatorAddress: 'the DNS name or IP that exporters connect to, e.g. "flow-aggregator.flow-aggregator.svc"',
  activeFlowRecordTimeout: 'a duration string of at least 1s, e.g. "60s"',
  inactiveFlowRecordTimeout: 'a duration string, e.g. "90s"',
  correlationWait: 'a duration string, e.g. "10s"',
  maxFlows: 'a whole number from 1 to 50000000, e.g. 1000000',
  listenAddress: 'an IP address to listen on, e.g. "::" (IPv4 and IPv6) or "0.0.0.0"',
  listenPort: 'a port number from 0 to 65535, e.g. 4739',
  sinks: 'a list of sinks from ipfix, log, e.g. ["ipfix", "log"]',
  logSinkPath: 'a file path for JSON lines, or "-" for stdout',
  sinkBufferSize: 'a whole number from 1 to 10000000, e.g. 100000',
  apiAddress: 'HOST:PORT, e.g. "0.0.0.0:10348" or "[::]:10348", or "" to turn the API off',
  certDir: 'a directory path, e.g. "/var/lib/flowvis/aggregator/certs"',
  certValidity: 'a duration string, e.g. "8760h"',
  certRenewBefore: 'a duration string shorter than certValidity, e.g. "720h"',
  certCheckInterval: 'a duration string, e.g. "1h"',
  kubernetes: 'a map with enabled, namespace and kubeconfig',
  store: 'a map with url (a directory or http://host:8123/database), commitInterval, bufferSize, insertsInFlight, retention, retentionCheckInterval',
  'store.url': 'a directory for the embedded store, e.g. "/var/lib/flowvis/store", or a ClickHouse URL, e.g. "http://clickhouse:8123/flowvis"',
  'store.commitInterval': 'a duration string, e.g. "1s"',
  'store.bufferSize': 'a whole number from 1 to 100000000, e.g. 1000000',
  'store.insertsInFlight': 'a whole number from 1 to 8, e.g. 2',
  'store.retention': 'a duration string, e.g. "168h", or "0" to keep everything',
  'store.retentionCheckInterval': 'a duration string, e.g. "1h"',
  'kubernetes.enabled': 'true or false',
  'kubernetes.namespace': 'a namespace name, e.g. "flow-aggregator"',
  'kubernetes.kubeconfig': 'a path to a kubeconfig file (leave it out for in-cluster config)',
};

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
const validate = ajv.compile(SCHEMA);

function fail(key: string, why: string, hint = HINTS[key]): never {
  throw new AggregatorError('AGG_ERR_INVALID_CONFIG', `config key "${key}": ${why}${hint ? `; write ${hint}` : ''}`);
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

function schemaError(err: ErrorObject): never {
  const parent = err.instancePath.split('/').slice(1).join('.');
  if (err.keyword === 'additionalProperties') {
    const extra = String((err.params as { additionalProperty: string }).additionalProperty);
    const node = (parent === '' ? SCHEMA : (SCHEMA.properties as Record<string, { properties?: object }>)[parent]) as { properties?: object };
    const known = Object.keys(node.properties ?? {});
    const guess = known.find((k) => editDistance(extra.toLowerCase(), k.toLowerCase()) < 3);
    const key = parent ? `${parent}.${extra}` : extra;
    fail(key, 'is not a known key', guess ? `"${parent ? `${parent}.` : ''}${guess}"` : `one of ${known.join(', ')}`);
  }
  const key = /^\d+$/.test(parent.split('.').pop() ?? '') ? parent.split('.').slice(0, -1).join('.') : parent;
  if (key === '') fail('(top level)', 'the file must hold a YAML map of keys', 'for example "flowExportInterval: 60s"');
  fail(key, err.message ?? 'is invalid');
}

function durationOf(raw: Record<string, unknown>, key: string, fallback: string): number {
  const text = (raw[key] as string | undefined) ?? fallback;
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch {
    fail(key, `"${text}" is not a duration (units ns, us, µs, ms, s, m, h)`);
  }
  if (!(ms > 0)) fail(key, `"${text}" must be greater than zero`);
  return ms;
}

/** Validates an already-parsed document (a YAML map); relative paths resolve against baseDir. */
export function parseAggregatorConfig(doc: unknown, baseDir = process.cwd()): AggregatorConfig {
  if (doc === null || doc === undefined) doc = {};
  if (!validate(doc)) schemaError((validate.errors ?? [])[0]);
  const raw = doc as Record<string, unknown>;

  const protocolText = String(raw.aggregatorTransportProtocol ?? DEFAULTS.aggregatorTransportProtocol).toLowerCase();
  if (protocolText !== 'tls' && protocolText !== 'tcp' && protocolText !== 'udp') {
    fail('aggregatorTransportProtocol', `"${String(raw.aggregatorTransportProtocol)}" is not a transport protocol`);
  }
  const aggregatorTransportProtocol = protocolText as TransportProtocol;

  const sinks = (raw.sinks as SinkName[] | undefined) ?? DEFAULTS.sinks;
  if (sinks.length === 0 && raw.store === undefined) fail('sinks', 'is empty: aggregated records would go nowhere (configure store, or list sinks)');
  let externalFlowCollector: CollectorAddress | null = null;
  const addrText = raw.externalFlowCollectorAddr as string | undefined;
  if (sinks.includes('ipfix')) {
    if (addrText === undefined) {
      fail(
        'externalFlowCollectorAddr',
        'is mandatory when the ipfix sink is on (sinks includes "ipfix", the default)',
        `${HINTS.externalFlowCollectorAddr}, or set sinks: ["log"] to export only JSON lines`,
      );
    }
    const text = addrText.trim();
    if (!text.startsWith('[') && (text.match(/:/g)?.length ?? 0) > 2) {
      fail('externalFlowCollectorAddr', `"${addrText}" looks like a bare IPv6 address`, 'the IPv6 address in brackets, e.g. "[fd00::5]:4739:tcp"');
    }
    try {
      externalFlowCollector = parseCollectorAddress(text, { protocol: 'tcp', allowed: ['tcp', 'udp'] });
    } catch (err) {
      fail('externalFlowCollectorAddr', (err as Error).message);
    }
    if (isIP(externalFlowCollector.host) === 0) {
      fail('externalFlowCollectorAddr', `"${externalFlowCollector.host}" is not an IP address`);
    }
  } else if (addrText !== undefined) {
    fail('externalFlowCollectorAddr', 'is set but the ipfix sink is off', 'sinks: ["ipfix", ...] to use it, or remove externalFlowCollectorAddr');
  }

  const flowExportIntervalMs = durationOf(raw, 'flowExportInterval', DEFAULTS.flowExportInterval);
  if (flowExportIntervalMs < MIN_EXPORT_INTERVAL_MS) {
    fail('flowExportInterval', `${formatDuration(flowExportIntervalMs)} is shorter than the minimum of 1s`);
  }
  const activeTimeoutMs = raw.activeFlowRecordTimeout === undefined ? flowExportIntervalMs : durationOf(raw, 'activeFlowRecordTimeout', '');
  if (activeTimeoutMs < MIN_EXPORT_INTERVAL_MS) fail('activeFlowRecordTimeout', `${formatDuration(activeTimeoutMs)} is shorter than the minimum of 1s`);
  const inactiveTimeoutMs = durationOf(raw, 'inactiveFlowRecordTimeout', DEFAULTS.inactiveFlowRecordTimeout);
  const correlationWaitMs = durationOf(raw, 'correlationWait', DEFAULTS.correlationWait);
  if (correlationWaitMs > inactiveTimeoutMs) {
    fail('correlationWait', `${formatDuration(correlationWaitMs)} is longer than inactiveFlowRecordTimeout (${formatDuration(inactiveTimeoutMs)})`, 'a duration shorter than inactiveFlowRecordTimeout, e.g. "10s"');
  }

  const flowAggregatorAddress = String(raw.flowAggregatorAddress ?? DEFAULTS.flowAggregatorAddress);
  if (isIP(flowAggregatorAddress) === 0 && !/^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/.test(flowAggregatorAddress)) {
    fail('flowAggregatorAddress', `"${flowAggregatorAddress}" is neither a DNS name nor an IP address`);
  }

  const listenAddress = String(raw.listenAddress ?? DEFAULTS.listenAddress);
  if (isIP(listenAddress) === 0) fail('listenAddress', `"${listenAddress}" is not an IP address`);

  const apiText = String(raw.apiAddress ?? DEFAULTS.apiAddress);
  let api: AggregatorConfig['api'] = null;
  if (apiText !== '') {
    api = parseHostPort(apiText) ?? null;
    if (!api) fail('apiAddress', `"${apiText}" is not HOST:PORT`);
  }

  const certValidityMs = durationOf(raw, 'certValidity', DEFAULTS.certValidity);
  const certRenewBeforeMs = durationOf(raw, 'certRenewBefore', DEFAULTS.certRenewBefore);
  if (certRenewBeforeMs >= certValidityMs) {
    fail('certRenewBefore', `${formatDuration(certRenewBeforeMs)} is not shorter than certValidity (${formatDuration(certValidityMs)})`);
  }
  const certCheckIntervalMs = durationOf(raw, 'certCheckInterval', DEFAULTS.certCheckInterval);

  const k8s = raw.kubernetes as { enabled?: boolean; namespace?: string; kubeconfig?: string } | undefined;
  const kubernetes: KubernetesPublishing | null =
    k8s && k8s.enabled !== false && (k8s.enabled === true || k8s.namespace !== undefined || k8s.kubeconfig !== undefined)
      ? { namespace: k8s.namespace ?? DEFAULTS.kubernetesNamespace, kubeconfig: k8s.kubeconfig ? resolve(baseDir, k8s.kubeconfig) : null }
      : null;

  const st = raw.store as
    | { url: string; commitInterval?: string; bufferSize?: number; insertsInFlight?: number; retention?: string; retentionCheckInterval?: string }
    | undefined;
  let store: StoreConfig | null = null;
  if (st) {
    const isUrl = /^(https?|clickhouse):\/\//i.test(st.url);
    let retentionMs = 0;
    try {
      retentionMs = parseDuration(st.retention ?? '0');
    } catch {
      fail('store.retention', `"${st.retention}" is not a duration`);
    }
    if (retentionMs < 0) fail('store.retention', `"${st.retention}" is negative`);
    store = {
      url: isUrl ? st.url : resolve(baseDir, st.url),
      commitIntervalMs: durationOf(st as Record<string, unknown>, 'commitInterval', '1s'),
      bufferSize: st.bufferSize ?? 1_000_000,
      insertsInFlight: st.insertsInFlight ?? DEFAULT_INSERTS_IN_FLIGHT,
      retentionMs,
      retentionCheckIntervalMs: durationOf(st as Record<string, unknown>, 'retentionCheckInterval', '1h'),
    };
  }

  return deepFreeze({
    externalFlowCollector,
    flowExportIntervalMs,
    activeTimeoutMs,
    inactiveTimeoutMs,
    correlationWaitMs,
    aggregatorTransportProtocol,
    flowAggregatorAddress,
    listenAddress,
    listenPort: (raw.listenPort as number | undefined) ?? DEFAULTS.listenPort,
    maxFlows: (raw.maxFlows as number | undefined) ?? DEFAULTS.maxFlows,
    sinks: [...sinks],
    logSinkPath: raw.logSinkPath === undefined || raw.logSinkPath === '-' ? '-' : resolve(baseDir, raw.logSinkPath as string),
    sinkBufferSize: (raw.sinkBufferSize as number | undefined) ?? DEFAULTS.sinkBufferSize,
    api,
    certDir: resolve(baseDir, (raw.certDir as string | undefined) ?? DEFAULTS.certDir),
    certValidityMs,
    certRenewBeforeMs,
    certCheckIntervalMs,
    kubernetes,
    store,
  });
}

/** Reads and validates a YAML config file. */
export function loadAggregatorConfig(file: string): AggregatorConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new AggregatorError('AGG_ERR_INVALID_CONFIG', `cannot read config file ${file}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new AggregatorError('AGG_ERR_INVALID_CONFIG', `config file ${file} is not valid YAML: ${(err as Error).message}`);
  }
  return parseAggregatorConfig(doc, dirname(resolve(file)));
}

/**
 * Checks an exporter's flowCollectorAddr against the aggregator's transport protocol. The two
 * must match (TLS on both sides or on neither); a mismatch names both settings.
 */
export function checkExporterProtocol(flowCollectorAddr: string, aggregatorTransportProtocol: TransportProtocol): void {
  let exporter: CollectorAddress;
  try {
    exporter = parseCollectorAddress(flowCollectorAddr, { protocol: 'tls' });
  } catch (err) {
    throw new AggregatorError('AGG_ERR_PROTOCOL_MISMATCH', `antrea-agent flowCollectorAddr: ${(err as Error).message}`);
  }
  if (exporter.protocol !== aggregatorTransportProtocol) {
    throw new AggregatorError(
      'AGG_ERR_PROTOCOL_MISMATCH',
      `the exporter's flowCollectorAddr "${flowCollectorAddr}" uses ${exporter.protocol} but the aggregator's aggregatorTransportProtocol is ${aggregatorTransportProtocol}; ` +
        `they must match: set flowCollectorAddr to "${exporter.host.includes(":") ? `[${exporter.host}]` : exporter.host}:${exporter.port}:${aggregatorTransportProtocol}" or aggregatorTransportProtocol to "${exporter.protocol}"`,
    );
  }
}
