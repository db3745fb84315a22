// `flowvis collector` as a process: an exporting process sends records of every data type,
// and the collector prints them as JSON lines (or text), serves them over HTTP and prints its
// counters on SIGTERM.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { ExportingProcess } from '../../../src/transport/exporting-process.js';
import { MessageWriter } from '../../../src/ipfix/index.js';
import { counterFromStderr, FLOWVIS_BIN, startCollectorProcess, type CollectorProcess } from './spawn.js';
import { ALL_TYPES_FIELDS, ALL_TYPES_TEMPLATE_ID, allTypesRecords, allTypesTemplate, expectedJsonText } from './types.js';

const running: CollectorProcess[] = [];
after(async () => {
  for (const c of running) await c.stop('SIGKILL');
});

async function start(args: string[]): Promise<CollectorProcess> {
  const c = await startCollectorProcess(args);
  running.push(c);
  return c;
}

async function waitFor(what: string, cond: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function exportRecords(port: number, protocol: 'tcp' | 'udp'): Promise<void> {
  const exporter = new ExportingProcess({
    host: '127.0.0.1',
    port,
    protocol,
    observationDomainId: 42,
    templates: [allTypesTemplate],
  });
  exporter.start();
  exporter.send(ALL_TYPES_TEMPLATE_ID, allTypesRecords);
  await exporter.flush();
  await exporter.close();
  assert.equal(exporter.stats().recordsSent, allTypesRecords.length);
}

/** Splits a flat JSON object line into its raw value texts, so bigints are compared exactly. */
function rawValues(line: string): Map<string, string> {
  const parsed = JSON.parse(line) as Record<string, unknown>;
  const out = new Map<string, string>();
  for (const key of Object.keys(parsed)) {
    const start = line.indexOf(`${JSON.stringify(key)}:`) + JSON.stringify(key).length + 1;
    // Values are flat: a string literal, or a literal up to the next comma/brace.
    let end: number;
    if (line[start] === '"') {
      end = start + 1;
      while (line[end] !== '"') end += line[end] === '\\' ? 2 : 1;
      end++;
    } else {
      end = start;
      while (line[end] !== ',' && line[end] !== '}') end++;
    }
    out.set(key, line.slice(start, end));
  }
  return out;
}

describe('flowvis collector (process)', () => {
  for (const protocol of ['tcp', 'udp'] as const) {
    it(`prints every record of every data type an exporter sends over ${protocol} as one JSON line each`, async () => {
      const c = await start(['--address', '127.0.0.1:0', '--transport', protocol, '--format', 'json']);
      await exportRecords(c.port, protocol);
      await waitFor('two JSON lines', () => c.stdout().split('\n').filter(Boolean).length >= 2);
      const lines = c.stdout().split('\n').filter(Boolean);
      assert.equal(lines.length, 2);
      for (let i = 0; i < 2; i++) {
        const raw = rawValues(lines[i]);
        assert.deepEqual([...raw.keys()], [...ALL_TYPES_FIELDS], 'IE names as keys, in template order');
        for (const name of ALL_TYPES_FIELDS) {
          assert.equal(raw.get(name), expectedJsonText(allTypesRecords[i][name]), `record ${i} ${name}`);
        }
      }
      assert.equal(await c.stop('SIGTERM'), 0);
      const err = c.stderr();
      assert.equal(counterFromStderr(err, 'records received'), 2);
      assert.equal(counterFromStderr(err, 'records lost'), 0);
      assert.equal(counterFromStderr(err, 'records dropped'), 0);
      assert.equal(counterFromStderr(err, 'bad messages'), 0);
      assert.match(err, /sessions\s+0 open, 1 total/);
    });
  }

  it('serves the last records over HTTP and counts a peer that sends garbage, then keeps serving', async () => {
    const c = await start(['--address', '127.0.0.1:0', '--format', 'text', '--keep', '1', '--http', '127.0.0.1:0']);
    assert.ok(c.httpUrl);
    // A peer that does not speak IPFIX: its session is closed and counted.
    await new Promise<void>((resolve) => {
      const s = net.connect(c.port, '127.0.0.1', () => s.end(Buffer.from('GET / HTTP/1.1\r\n\r\n')));
      s.on('close', () => resolve());
      s.on('error', () => resolve());
    });
    await exportRecords(c.port, 'tcp');
    await waitFor('two kept records to be received', async () => {
      const stats = (await (await fetch(`${c.httpUrl}/stats`)).json()) as { recordsReceived: number; badMessages: number };
      return stats.recordsReceived === 2 && stats.badMessages === 1;
    });
    const res = await fetch(`${c.httpUrl}/records?count=5&format=json`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { count: number; records: { observationDomainId: number; record: Record<string, unknown> }[] };
    assert.equal(body.count, 1, '--keep 1 keeps only the newest');
    assert.equal(body.records[0].observationDomainId, 42);
    assert.equal(body.records[0].record.sourceMacAddress, 'fe:dc:ba:98:76:54');
    const bad = await fetch(`${c.httpUrl}/records?count=lots`);
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'COLLECTOR_ERR_BAD_QUERY');
    await waitFor('two text blocks', () => (c.stdout().match(/^IPFIX record from 127\.0\.0\.1:\d+, observation domain 42, template 300/gm) ?? []).length === 2);
    assert.match(c.stdout(), /^ {2}interfaceName\s+eth0 ✓ "quoted"$/m);
    assert.equal(await c.stop('SIGINT'), 0);
    assert.equal(counterFromStderr(c.stderr(), 'bad messages'), 1);
    assert.equal(counterFromStderr(c.stderr(), 'records received'), 2);
  });

  it('counts records lost from a gap in the UDP sequence numbers', async () => {
    const c = await start(['--address', '127.0.0.1:0', '--transport', 'udp', '--format', 'none', '--http', '127.0.0.1:0']);
    const writer = new MessageWriter({ observationDomainId: 9, maxMessageSize: 1400 });
    writer.addTemplate(allTypesTemplate);
    const messages = [
      ...writer.templateMessages(),
      ...writer.encodeRecords(ALL_TYPES_TEMPLATE_ID, [allTypesRecords[0]]),
      ...writer.encodeRecords(ALL_TYPES_TEMPLATE_ID, [allTypesRecords[0], allTypesRecords[0]]), // never sent
      ...writer.encodeRecords(ALL_TYPES_TEMPLATE_ID, [allTypesRecords[0]]),
    ];
    const socket = dgram.createSocket('udp4');
    for (const [i, m] of messages.entries()) {
      if (i === 2) continue;
      await new Promise<void>((resolve, reject) => socket.send(m, c.port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
    }
    socket.close();
    await waitFor('the last datagram', async () => {
      const stats = (await (await fetch(`${c.httpUrl}/stats`)).json()) as { recordsReceived: number };
      return stats.recordsReceived === 2;
    });
    assert.equal(await c.stop(), 0);
    assert.equal(c.stdout(), '', '--format none prints nothing per record');
    assert.equal(counterFromStderr(c.stderr(), 'records received'), 2);
    assert.equal(counterFromStderr(c.stderr(), 'records lost'), 2);
  });

  it('refuses bad options with a message and exit code 1, before listening', () => {
    for (const [args, message] of [
      [['--transport', 'quic'], /--transport "quic" is not one of tcp, udp, tls/],
      [['--address', 'fd00::1:4739'], /IPv6 address must be written in brackets/],
      [['--transport', 'tls'], /needs --cert/],
      [['--keep', 'many'], /--keep "many"/],
    ] as const) {
      const r = spawnSync(process.execPath, [FLOWVIS_BIN, 'collector', ...args], { encoding: 'utf8', timeout: 15_000 });
      assert.equal(r.status, 1, `exit code for ${args.join(' ')}`);
      assert.match(r.stderr, message);
    }
  });

  it('describes every flag in --help', () => {
    const r = spawnSync(process.execPath, [FLOWVIS_BIN, 'collector', '--help'], { encoding: 'utf8', timeout: 15_000 });
    assert.equal(r.status, 0);
    for (const flag of ['--address', '--transport', '--cert', '--key', '--ca', '--format', '--keep', '--http', '--output-buffer', '--log-level']) {
      assert.match(r.stdout, new RegExp(`${flag} <`), flag);
    }
    const top = spawnSync(process.execPath, [FLOWVIS_BIN, '--help'], { encoding: 'utf8', timeout: 15_000 });
    assert.match(top.stdout, /collector \[options\]/);
  });
});
