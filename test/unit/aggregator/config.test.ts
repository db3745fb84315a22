import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkExporterProtocol, parseAggregatorConfig } from '../../../src/aggregator/config.js';
import { AggregatorError } from '../../../src/aggregator/errors.js';

function rejects(doc: unknown, code: string, ...fragments: string[]): void {
  assert.throws(
    () => parseAggregatorConfig(doc, '/etc/flowvis'),
    (err: unknown) => {
      assert.ok(err instanceof AggregatorError, String(err));
      assert.equal(err.code, code);
      for (const f of fragments) assert.ok(err.message.includes(f), `"${err.message}" should mention "${f}"`);
      return true;
    },
  );
}

describe('aggregator config', () => {
  it("applies the reference's defaults", () => {
    const c = parseAggregatorConfig({ externalFlowCollectorAddr: '192.168.86.86:4739' }, '/etc/flowvis');
    assert.deepEqual(c.externalFlowCollector, { host: '192.168.86.86', port: 4739, protocol: 'tcp' });
    assert.equal(c.flowExportIntervalMs, 60_000);
    assert.equal(c.activeTimeoutMs, 60_000);
    assert.equal(c.aggregatorTransportProtocol, 'tls');
    assert.equal(c.flowAggregatorAddress, 'flow-aggregator.flow-aggregator.svc');
    assert.equal(c.listenPort, 4739);
    assert.deepEqual(c.api, { host: '0.0.0.0', port: 10348 });
    assert.deepEqual(c.sinks, ['ipfix']);
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.sinks));
  });

  it('reads every key', () => {
    const c = parseAggregatorConfig(
      {
        externalFlowCollectorAddr: '[fd00::86]:4740:udp',
        flowExportInterval: '5s',
        activeFlowRecordTimeout: '10s',
        inactiveFlowRecordTimeout: '30s',
        correlationWait: '3s',
        aggregatorTransportProtocol: 'TCP',
        flowAggregatorAddress: '10.96.0.9',
        listenAddress: '127.0.0.1',
        listenPort: 0,
        maxFlows: 10,
        sinks: ['ipfix', 'log'],
        logSinkPath: 'flows.jsonl',
        apiAddress: '[::1]:0',
        certDir: 'certs',
      },
      '/etc/flowvis',
    );
    assert.deepEqual(c.externalFlowCollector, { host: 'fd00::86', port: 4740, protocol: 'udp' });
    assert.equal(c.flowExportIntervalMs, 5000);
    assert.equal(c.activeTimeoutMs, 10_000);
    assert.equal(c.inactiveTimeoutMs, 30_000);
    assert.equal(c.correlationWaitMs, 3000);
    assert.equal(c.aggregatorTransportProtocol, 'tcp');
    assert.equal(c.logSinkPath, '/etc/flowvis/flows.jsonl');
    assert.equal(c.certDir, '/etc/flowvis/certs');
    assert.deepEqual(c.api, { host: '::1', port: 0 });
  });

  it('names the key and what to write instead', () => {
    rejects({}, 'AGG_ERR_INVALID_CONFIG', 'externalFlowCollectorAddr', 'mandatory', 'sinks: ["log"]');
    rejects({ externalFlowCollectorAddr: '1.2.3.4', flowExportInterval: '500ms' }, 'AGG_ERR_INVALID_CONFIG', 'flowExportInterval', 'minimum of 1s', '"60s"');
    rejects({ externalFlowCollectorAddr: '1.2.3.4', flowExportInterval: 'soon' }, 'AGG_ERR_INVALID_CONFIG', 'flowExportInterval', 'not a duration');
    rejects({ externalFlowCollectorAddr: '1.2.3.4', aggregatorTransportProtocol: 'sctp' }, 'AGG_ERR_INVALID_CONFIG', 'aggregatorTransportProtocol', '"tls", "tcp", "udp"');
    rejects({ externalFlowCollectorAddr: '1.2.3.4:4739:tls' }, 'AGG_ERR_INVALID_CONFIG', 'externalFlowCollectorAddr', 'tcp, udp');
    rejects({ externalFlowCollectorAddr: 'collector.example:4739' }, 'AGG_ERR_INVALID_CONFIG', 'externalFlowCollectorAddr', 'not an IP address');
    rejects({ externalFlowCollectorAddr: 'fd00::1:4739' }, 'AGG_ERR_INVALID_CONFIG', 'brackets');
    rejects({ externalFlowCollectorAddr: '1.2.3.4', flowExportIntreval: '5s' }, 'AGG_ERR_INVALID_CONFIG', 'flowExportIntreval', 'not a known key', '"flowExportInterval"');
    rejects({ externalFlowCollectorAddr: '1.2.3.4', maxFlows: 0 }, 'AGG_ERR_INVALID_CONFIG', 'maxFlows', '1000000');
    rejects({ sinks: ['log', 'kafka'] }, 'AGG_ERR_INVALID_CONFIG', 'sinks', 'ipfix, log');
    rejects({ sinks: ['log'], externalFlowCollectorAddr: '1.2.3.4' }, 'AGG_ERR_INVALID_CONFIG', 'externalFlowCollectorAddr', 'ipfix sink is off');
    rejects({ sinks: ['log'], apiAddress: 'localhost' }, 'AGG_ERR_INVALID_CONFIG', 'apiAddress', 'HOST:PORT');
    rejects({ sinks: ['log'], flowAggregatorAddress: 'bad name!' }, 'AGG_ERR_INVALID_CONFIG', 'flowAggregatorAddress', 'DNS name');
    rejects({ sinks: ['log'], correlationWait: '5m' }, 'AGG_ERR_INVALID_CONFIG', 'correlationWait', 'inactiveFlowRecordTimeout');
    rejects({ sinks: ['log'], certRenewBefore: '9000h' }, 'AGG_ERR_INVALID_CONFIG', 'certRenewBefore', 'certValidity');
    rejects([1, 2], 'AGG_ERR_INVALID_CONFIG', 'YAML map');
  });

  it('reads the store map: insertsInFlight defaults to 2, takes 1-8 and names the key otherwise', () => {
    const d = parseAggregatorConfig({ sinks: ['log'], store: { url: 'store' } }, '/etc/flowvis');
    assert.equal(d.store?.url, '/etc/flowvis/store');
    assert.equal(d.store?.insertsInFlight, 2);
    assert.equal(parseAggregatorConfig({ sinks: ['log'], store: { url: 'store', insertsInFlight: 1 } }, '/etc/flowvis').store?.insertsInFlight, 1);
    rejects({ sinks: ['log'], store: { url: 'store', insertsInFlight: 0 } }, 'AGG_ERR_INVALID_CONFIG', 'store.insertsInFlight', '1 to 8');
    rejects({ sinks: ['log'], store: { url: 'store', insertsInFlight: 2.5 } }, 'AGG_ERR_INVALID_CONFIG', 'store.insertsInFlight');
  });

  it('names both settings when the exporter and aggregator protocols differ', () => {
    assert.doesNotThrow(() => checkExporterProtocol('flow-aggregator.flow-aggregator.svc:4739:tls', 'tls'));
    assert.doesNotThrow(() => checkExporterProtocol('flow-aggregator.flow-aggregator.svc', 'tls'));
    assert.throws(
      () => checkExporterProtocol('10.96.0.9:4739:tcp', 'tls'),
      (err: unknown) =>
        err instanceof AggregatorError &&
        err.code === 'AGG_ERR_PROTOCOL_MISMATCH' &&
        err.message.includes('flowCollectorAddr') &&
        err.message.includes('aggregatorTransportProtocol') &&
        err.message.includes('"10.96.0.9:4739:tls"'),
    );
    assert.throws(() => checkExporterProtocol('[fd00::9]:4739:udp', 'tcp'), /\[fd00::9\]:4739:tcp/);
  });
});
