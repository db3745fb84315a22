import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseExporterConfigText, loadExporterConfig, parseExporterConfig } from '../../../src/exporter/config.js';
import { ExporterError } from '../../../src/exporter/errors.js';

const ctx = { defaultNodeName: 'host-a', baseDir: '/etc/flowvis' };
const parse = (yaml: string) => parseExporterConfigText(yaml, ctx);

test('an empty file gives the reference defaults', () => {
  const c = parse('');
  assert.equal(c.flowExporterEnabled, false);
  assert.equal(c.flowCollectorAddr, 'flow-aggregator.flow-aggregator.svc:4739:tls');
  assert.deepEqual({ ...c.collector }, { host: 'flow-aggregator.flow-aggregator.svc', port: 4739, protocol: 'tls' });
  assert.equal(c.pollIntervalMs, 5000);
  assert.equal(c.activeTimeoutMs, 60_000);
  assert.equal(c.idleTimeoutMs, 15_000);
  assert.equal(c.nodeName, 'host-a');
  assert.deepEqual(c.metadata, { source: 'none' });
  assert.equal(c.conntrackZone, null);
  assert.equal(c.nflogGroup, null);
  assert.deepEqual(c.metrics, { host: '127.0.0.1', port: 10350 });
  assert.equal(c.connectionFilter, 'localPods');
  assert.equal(c.stateFile, '/var/lib/flowvis/flow-exporter-state.json');
  assert.equal(c.stateSaveIntervalMs, 60_000);
});

test('the state file is taken from the config directory when relative, and "" keeps no state', () => {
  assert.equal(parse('stateFile: state/exporter.json').stateFile, '/etc/flowvis/state/exporter.json');
  assert.equal(parse('stateFile: ""').stateFile, null);
  assert.equal(parse('stateSaveInterval: 2m').stateSaveIntervalMs, 120_000);
});

test('reads the reference keys and our keys', () => {
  const c = parse(`
featureGates:
  FlowExporter: true
flowCollectorAddr: "[fd00::5]:4740:udp"
flowPollInterval: "1s"
activeFlowExportTimeout: "1m30s"
idleFlowExportTimeout: "500ms"
nodeName: worker-1
metadata:
  source: inventory
  inventoryFile: inventory.yaml
maxConnections: 1000
conntrackZone: 65520
nflogGroup: 7
metricsAddress: "[::1]:0"
podCIDRs: ["10.10.0.0/16", "fd00:10::/48"]
maxQueuedRecords: 50
connectionFilter: all
conntrackSysctls: false
`);
  assert.equal(c.flowExporterEnabled, true);
  assert.deepEqual({ ...c.collector }, { host: 'fd00::5', port: 4740, protocol: 'udp' });
  assert.equal(c.pollIntervalMs, 1000);
  assert.equal(c.activeTimeoutMs, 90_000);
  assert.equal(c.idleTimeoutMs, 500);
  assert.equal(c.nodeName, 'worker-1');
  assert.deepEqual(c.metadata, { source: 'inventory', inventoryFile: '/etc/flowvis/inventory.yaml' });
  assert.equal(c.maxConnections, 1000);
  assert.equal(c.conntrackZone, 65520);
  assert.equal(c.nflogGroup, 7);
  assert.deepEqual(c.metrics, { host: '::1', port: 0 });
  assert.deepEqual(c.podCIDRs.map((x) => [x.address, x.prefix, x.family]), [['10.10.0.0', 16, 4], ['fd00:10::', 48, 6]]);
  assert.equal(c.maxQueuedRecords, 50);
  assert.equal(c.connectionFilter, 'all');
  assert.equal(c.conntrackSysctls, false);
});

test('the collector address takes the default port and protocol', () => {
  assert.deepEqual({ ...parse('flowCollectorAddr: 10.0.0.5').collector }, { host: '10.0.0.5', port: 4739, protocol: 'tls' });
  assert.deepEqual({ ...parse('flowCollectorAddr: "10.0.0.5:4740"').collector }, { host: '10.0.0.5', port: 4740, protocol: 'tls' });
  assert.deepEqual({ ...parse('flowCollectorAddr: "agg.svc::tcp"').collector }, { host: 'agg.svc', port: 4739, protocol: 'tcp' });
});

test('durations use Go syntax with every unit', () => {
  assert.equal(parse('activeFlowExportTimeout: 1h').activeTimeoutMs, 3_600_000);
  assert.equal(parse('activeFlowExportTimeout: 2500000us').activeTimeoutMs, 2500);
  assert.equal(parse('activeFlowExportTimeout: 2500000µs').activeTimeoutMs, 2500);
  assert.equal(parse('activeFlowExportTimeout: 3000000000ns').activeTimeoutMs, 3000);
  assert.equal(parse('flowPollInterval: 1.5s').pollIntervalMs, 1500);
});

test('relative paths are taken from the config file directory, and kubeconfig may be left out', () => {
  assert.deepEqual(parse('metadata: {source: kubernetes}').metadata, { source: 'kubernetes', kubeconfig: null });
  assert.deepEqual(parse('metadata: {kubeconfig: ../kube/config}').metadata, { source: 'kubernetes', kubeconfig: '/etc/kube/config' });
  const c = parse('tls: {caFile: ca.pem, certFile: /x/c.pem, keyFile: k.pem, serverName: agg}');
  assert.deepEqual({ ...c.tls }, { caFile: '/etc/flowvis/ca.pem', certFile: '/x/c.pem', keyFile: '/etc/flowvis/k.pem', serverName: 'agg' });
});

test('the result is deeply frozen', () => {
  const c = parse('podCIDRs: ["10.0.0.0/8"]');
  assert.ok(Object.isFrozen(c));
  assert.ok(Object.isFrozen(c.collector));
  assert.ok(Object.isFrozen(c.podCIDRs));
  assert.ok(Object.isFrozen(c.podCIDRs[0]));
  assert.throws(() => {
    (c as { pollIntervalMs: number }).pollIntervalMs = 1;
  }, TypeError);
});

// Every invalid value names its key and says what to write instead.
const INVALID: [yaml: string, key: string, hint: RegExp][] = [
  ['flowPollInterval: 500ms', 'flowPollInterval', /minimum of 1s/],
  ['flowPollInterval: 5', 'flowPollInterval', /must be string.*e\.g\. "5s"/],
  ['flowPollInterval: 5x', 'flowPollInterval', /not a duration \(units ns, us, µs, ms, s, m, h\)/],
  ['flowPollInterval: 5 seconds', 'flowPollInterval', /not a duration/],
  ['activeFlowExportTimeout: "-1s"', 'activeFlowExportTimeout', /greater than zero/],
  ['activeFlowExportTimeout: 60', 'activeFlowExportTimeout', /must be string.*"60s"/],
  ['idleFlowExportTimeout: "0"', 'idleFlowExportTimeout', /greater than zero/],
  ['idleFlowExportTimeout: 15x', 'idleFlowExportTimeout', /not a duration/],
  ['flowCollectorAddr: "fd00::5:4739"', 'flowCollectorAddr', /brackets/],
  ['flowCollectorAddr: "agg:70000"', 'flowCollectorAddr', /not 1-65535/],
  ['flowCollectorAddr: "agg:4739:sctp"', 'flowCollectorAddr', /not one of tls, tcp, udp/],
  ['flowCollectorAddr: 4739', 'flowCollectorAddr', /must be string/],
  ['featureGates: {FlowExporter: "yes"}', 'featureGates.FlowExporter', /true or false/],
  ['featureGates: true', 'featureGates', /map of feature names/],
  ['flowPollIntreval: 5s', 'flowPollIntreval', /not a known key; write "flowPollInterval"/],
  ['metadata: {sorce: inventory}', 'metadata.sorce', /not a known key; write "metadata.source"/],
  ['metadata: {source: etcd}', 'metadata.source', /one of inventory, kubernetes, none/],
  ['metadata: {source: inventory}', 'metadata.inventoryFile', /required/],
  ['metadata: {source: none, inventoryFile: a.yaml}', 'metadata.source', /inventory or kubernetes/],
  ['tls: {certFile: c.pem}', 'tls.keyFile', /both tls.certFile and tls.keyFile/],
  ['{flowCollectorAddr: "a:1:tcp", tls: {caFile: ca.pem}}', 'tls', /":tls"/],
  ['maxConnections: 0', 'maxConnections', /whole number/],
  ['maxConnections: 1.5', 'maxConnections', /whole number/],
  ['conntrackZone: 70000', 'conntrackZone', /0 to 65535/],
  ['nflogGroup: -1', 'nflogGroup', /0 to 65535/],
  ['metricsAddress: "localhost"', 'metricsAddress', /HOST:PORT/],
  ['metricsAddress: "::1:9000"', 'metricsAddress', /HOST:PORT/],
  ['podCIDRs: ["10.0.0.0/33"]', 'podCIDRs[0]', /not a CIDR/],
  ['podCIDRs: ["10.0.0.0"]', 'podCIDRs[0]', /not a CIDR/],
  ['podCIDRs: "10.0.0.0/8"', 'podCIDRs', /list of CIDRs/],
  ['maxQueuedRecords: many', 'maxQueuedRecords', /whole number/],
  ['connectionFilter: pods', 'connectionFilter', /localPods/],
  ['nodeName: ""', 'nodeName', /Node name/],
  ['stateFile: 5', 'stateFile', /or "" to keep no state/],
  ['stateSaveInterval: 500ms', 'stateSaveInterval', /minimum of 1s/],
  ['stateSaveInterval: often', 'stateSaveInterval', /not a duration/],
  ['- a\n- b', '(top level)', /YAML map/],
];

for (const [yaml, key, hint] of INVALID) {
  test(`rejects ${JSON.stringify(yaml)} naming "${key}"`, () => {
    assert.throws(
      () => parse(yaml),
      (err: unknown) => {
        assert.ok(err instanceof ExporterError);
        assert.equal(err.code, 'EXPORTER_ERR_CONFIG');
        assert.ok(err.message.startsWith(`config key "${key}"`), err.message);
        assert.match(err.message, hint);
        return true;
      },
    );
  });
}

test('a file that is not YAML, or is missing, fails with EXPORTER_ERR_CONFIG_FILE', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flowvis-config-'));
  try {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'flowPollInterval: [5s\n');
    assert.throws(() => loadExporterConfig(bad, 'h'), { code: 'EXPORTER_ERR_CONFIG_FILE' });
    assert.throws(() => loadExporterConfig(join(dir, 'missing.yaml'), 'h'), { code: 'EXPORTER_ERR_CONFIG_FILE' });
    const good = join(dir, 'good.yaml');
    writeFileSync(good, 'metadata: {inventoryFile: inv.yaml}\n');
    assert.deepEqual(loadExporterConfig(good, 'h').metadata, { source: 'inventory', inventoryFile: join(dir, 'inv.yaml') });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a document that is not a map is refused even when given as an object', () => {
  assert.throws(() => parseExporterConfig(42, ctx), { code: 'EXPORTER_ERR_CONFIG' });
});
