import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExporterMetrics, readProcInteger, serveMetrics, serverPort, type MetricsSources } from '../../../src/exporter/metrics.js';

const sources = (over: Partial<MetricsSources> = {}): MetricsSources => ({
  conntrackTotal: () => 1234,
  conntrackConsidered: () => 1000,
  conntrackMax: () => 262144,
  storeConnections: () => 900,
  exportingProcess: () => ({ recordsSent: 50, recordsDropped: 3, recordsQueued: 7, reconnects: 2, connected: true }),
  ...over,
});

test('the gauges and mirrored counters show what the sources say at scrape time', async () => {
  let sent = 50;
  const m = new ExporterMetrics(sources({ exportingProcess: () => ({ recordsSent: sent, recordsDropped: 3, recordsQueued: 7, reconnects: 2, connected: true }) }));
  let text = await m.text();
  assert.match(text, /^antrea_agent_conntrack_total_connection_count 1234$/m);
  assert.match(text, /^antrea_agent_conntrack_antrea_connection_count 1000$/m);
  assert.match(text, /^antrea_agent_conntrack_max_connection_count 262144$/m);
  assert.match(text, /^flowvis_exporter_records_sent_total 50$/m);
  assert.match(text, /^flowvis_exporter_records_lost_total 3$/m);
  assert.match(text, /^flowvis_exporter_reconnections_total 2$/m);
  assert.match(text, /^flowvis_exporter_collector_connected 1$/m);
  sent = 80;
  text = await m.text();
  assert.match(text, /^flowvis_exporter_records_sent_total 80$/m);
});

test('reads integers from procfs-like files and says nothing when it cannot', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flowvis-proc-'));
  try {
    mkdirSync(join(dir, 'net'));
    writeFileSync(join(dir, 'net', 'max'), '262144\n');
    writeFileSync(join(dir, 'net', 'junk'), 'lots\n');
    assert.equal(readProcInteger(join(dir, 'net', 'max')), 262144);
    assert.equal(readProcInteger(join(dir, 'net', 'junk')), undefined);
    assert.equal(readProcInteger(join(dir, 'net', 'missing')), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('serves /metrics and /healthz, and refuses to listen on a taken port with a coded error', async () => {
  const m = new ExporterMetrics(sources());
  const server = await serveMetrics(m, '127.0.0.1', 0);
  try {
    const port = serverPort(server);
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
    assert.match(await res.text(), /antrea_agent_conntrack_total_connection_count 1234/);
    assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${port}/nope`)).status, 404);
    await assert.rejects(serveMetrics(m, '127.0.0.1', port), { code: 'EXPORTER_ERR_METRICS_LISTEN' });
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
