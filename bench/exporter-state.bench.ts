// The exporter's state file (src/exporter/state-file.ts) at the store's default bound,
// maxConnections 131072: what one write costs the event loop (savedConnections + encodeState,
// synchronous) and the disk (write + rename, asynchronous), and what reading it costs at
// start (decode + the first dump claiming every saved connection, against the same dump
// without a state file). Best of 5 runs each; no sockets, no root.
//
// Sample: `npm run bench -- exporter.state`, Node v20.20.2, 2-core Intel Xeon VM shared with
// four other builds (load average 9.2-10.5, so every figure is a range over 4 runs; best of 5
// runs each):
//
//   connections                      10,000        131,072 (maxConnections default)
//   save: event loop (encode)        4.8-7.5 ms    144-310 ms   (every stateSaveInterval, 60 s:
//                                                                0.01 % / 0.2-0.5 % of one core)
//   save: write + rename (async)     2.5-7.5 ms    25-64 ms
//   file size                        0.97 MB       13.2 MB
//   load: decode at start            11-23 ms      91-358 ms    (once)
//   first dump, with vs without      within noise (-44..+345 ms on a 0.4-1.6 s dump of 131,072)
//
//   {"name":"exporter.state.save.131072","value":143.66,"unit":"ms (event loop, best)","medianMs":232.66,
//    "writeMs":34.18,"fileBytes":13166123,"connections":131072,"runs":5,"loadAverage":10.04,...}
//
// A hand-written encoder (template string per row) was 2-4 times slower than JSON.stringify of
// row arrays, so the file is one JSON.stringify.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { ConnectionStore } from '../src/exporter/connection-store.js';
import type { ConntrackEntry } from '../src/exporter/conntrack/types.js';
import { decodeState, encodeState, writeStateFile } from '../src/exporter/state-file.js';
import { ManualClock } from '../src/util/clock.js';
import type { Benchmark, BenchResult } from './harness.js';

/** The exporter.cpu benchmark's table, and the store's default bound. */
const SIZES = [10_000, 131_072];
const RUNS = 5;
const T0 = 1_700_000_000_000;

function entries(n: number, grow: number): ConntrackEntry[] {
  const out: ConntrackEntry[] = [];
  for (let i = 0; i < n; i++) {
    const src = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    out.push({
      id: i + 1,
      ipVersion: 4,
      protocol: 6,
      zone: 0,
      mark: 0,
      status: 0,
      labels: null,
      original: { sourceAddress: src, destinationAddress: '10.200.0.1', sourcePort: 30_000 + (i % 30_000), destinationPort: 443 },
      reply: { sourceAddress: '10.200.0.1', destinationAddress: src, sourcePort: 443, destinationPort: 30_000 + (i % 30_000) },
      originalPackets: 100 + grow + i,
      originalBytes: 150_000 + grow * 1500 + i,
      replyPackets: 80 + grow,
      replyBytes: 90_000 + grow * 1000,
      tcpState: 'ESTABLISHED',
      startMs: T0 - 60_000 - i,
      stopMs: 0,
    });
  }
  return out;
}

function newStore(clock: ManualClock): ConnectionStore {
  return new ConnectionStore({ activeTimeoutMs: 60_000, idleTimeoutMs: 15_000, maxConnections: 131_072, clock });
}

function ms(from: bigint): number {
  return Number(process.hrtime.bigint() - from) / 1e6;
}

const best = (xs: number[]) => Math.min(...xs);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export const benchmarks: Benchmark[] = SIZES.map((CONNECTIONS) => ({
    name: `exporter.state.${CONNECTIONS}`,
    async run(): Promise<BenchResult[]> {
      const dir = mkdtempSync(join(tmpdir(), 'flowvis-bench-state-'));
      try {
        const clock = new ManualClock(T0);
        const store = newStore(clock);
        const first = entries(CONNECTIONS, 0);
        store.applyDump(first, clock.now());
        clock.advance(60_000);
        store.applyDump(entries(CONNECTIONS, 10), clock.now());
        store.expire(); // every connection exported once: realistic exported totals
        const file = join(dir, 'state.json');
        const encodeMs: number[] = [];
        const writeMs: number[] = [];
        let text = '';
        for (let r = 0; r < RUNS; r++) {
          const t = process.hrtime.bigint();
          text = encodeState({ nodeName: 'node-a', bootId: 'b', savedAtMs: clock.now(), connections: store.savedConnections() });
          encodeMs.push(ms(t));
          const w = process.hrtime.bigint();
          await writeStateFile(file, text);
          writeMs.push(ms(w));
        }
        const bytes = statSync(file).size;

        // At start: decode, then the first dump with and without the saved connections to claim.
        const dump = entries(CONNECTIONS, 20);
        const decodeMs: number[] = [];
        const withRestoreMs: number[] = [];
        const withoutMs: number[] = [];
        let restored = 0;
        for (let r = 0; r < RUNS; r++) {
          const t = process.hrtime.bigint();
          const loaded = decodeState(text, { nodeName: 'node-a', bootId: 'b' });
          decodeMs.push(ms(t));
          if (loaded.kind !== 'loaded') throw new Error(`state did not load: ${JSON.stringify(loaded)}`);
          const a = newStore(new ManualClock(T0 + 120_000));
          a.restore(loaded.state.connections);
          const d1 = process.hrtime.bigint();
          a.applyDump(dump, T0 + 120_000);
          withRestoreMs.push(ms(d1));
          restored = a.stats().restored;
          const b = newStore(new ManualClock(T0 + 120_000));
          const d2 = process.hrtime.bigint();
          b.applyDump(dump, T0 + 120_000);
          withoutMs.push(ms(d2));
        }
        if (restored !== CONNECTIONS) throw new Error(`restored ${restored} of ${CONNECTIONS}`);
        const load = loadavg()[0];
        const common = { connections: CONNECTIONS, runs: RUNS, loadAverage: Number(load.toFixed(2)) };
        return [
          { name: `exporter.state.save.${CONNECTIONS}`, value: best(encodeMs), unit: 'ms (event loop, best)', medianMs: median(encodeMs), writeMs: best(writeMs), fileBytes: bytes, ...common },
          { name: `exporter.state.load.${CONNECTIONS}`, value: best(decodeMs), unit: 'ms decode (best)', medianMs: median(decodeMs), ...common },
          {
            name: `exporter.state.first-dump.${CONNECTIONS}`,
            value: best(withRestoreMs) - best(withoutMs),
            unit: 'ms added to the first dump (best)',
            withStateMs: best(withRestoreMs),
            withoutStateMs: best(withoutMs),
            restored,
            ...common,
          },
        ];
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
}));
