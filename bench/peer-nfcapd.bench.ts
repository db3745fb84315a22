// nfcapd (Debian's nfdump, written in C) and `flowvis collector` receive the same records over
// loopback UDP from the same exporter process at the same paced offered rate, one after the
// other. Records: the IANA fields of the Flow Exporter template (12 IEs nfcapd understands),
// 1400-byte datagrams.
//
//   peer.nfcapd.udp  value = nfcapd's rate: flows in its output file (nfdump -I) / send time;
//                    also ours (`flowvisRate`), `ratio` = ours / nfcapd's, both losses, and the
//                    offered rate. Both get an 8 MiB socket receive buffer (nfcapd -B, the
//                    collector's default).
//
// Offered rates: FLOWVIS_BENCH_PEER_RATE (comma-separated, default 500,000 and 1,000,000 records/s),
// each for FLOWVIS_BENCH_PEER_SECONDS (default 4); one result line per rate. The exporter process
// shares the 2 CPUs with the receiver, so the rate it reaches can fall below the target when the
// receiver is busy; each line reports the offered rate each receiver actually got.
//
// Sample (FLOWVIS_BENCH_PEER_RATE=1000000 FLOWVIS_BENCH_PEER_SECONDS=3 npm run bench -- peer, Node
// v20.20.2, Intel(R) Xeon(R) Processor, 2 vCPUs shared with other builds and tests, load ~9):
//   {"name":"peer.nfcapd.udp","value":999667,"unit":"records/s","offeredRate":999667,"records":3000000,
//    "received":3000000,"lossPercent":0,"flowvisRate":632127,"flowvisOfferedRate":771407,
//    "flowvisLossPercent":18.06,"ratio":0.632,"recordsPerDatagram":25}
// and at 600,000 records/s offered: nfcapd 599,201 (0 % loss), flowvis 587,558 (2.07 % loss), ratio 0.981.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Benchmark, BenchResult } from './harness.js';
import { senderProcess, udpRun, waitQuiet } from './collector.bench.js';
import { freeUdpPort, toolPath, udpReceiveQueue } from '../test/interop/tools.js';

const RATES = (process.env.FLOWVIS_BENCH_PEER_RATE ?? '500000,1000000').split(',').map(Number);
const SECONDS = Number(process.env.FLOWVIS_BENCH_PEER_SECONDS ?? 4);

async function nfcapdRun(rate: number, seconds: number): Promise<{ received: number; records: number; offeredRate: number; sendSeconds: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'flowvis-bench-nfcapd-'));
  const port = await freeUdpPort();
  const child = spawn('nfcapd', ['-w', dir, '-b', '127.0.0.1', '-p', String(port), '-t', '3600', '-B', String(8 * 1024 * 1024)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (output += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (output += s));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    const deadline = Date.now() + 10_000;
    while ((await udpReceiveQueue(port)) === null) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`nfcapd did not bind 127.0.0.1:${port}: ${output}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const sender = await senderProcess({ protocol: 'udp', host: '127.0.0.1', port, kind: 'iana', records: Math.round(rate * seconds), rate });
    // Wait until nfcapd has read everything that reached its socket, then let it write its file.
    await waitQuiet(async () => (await udpReceiveQueue(port)) ?? 0, 300);
    child.kill('SIGTERM');
    const code = await exited;
    if (code !== 0) throw new Error(`nfcapd exited with ${code}: ${output}`);
    const files = readdirSync(dir).filter((f) => /^nfcapd\.\d{12}$/.test(f));
    if (files.length === 0) throw new Error(`nfcapd wrote no file: ${output}`);
    const info = spawnSync('nfdump', ['-R', dir, '-I'], { encoding: 'utf8' });
    const flows = /^Flows:\s+(\d+)/m.exec(info.stdout);
    if (flows === null) throw new Error(`nfdump -I printed no flow count: ${info.stdout}${info.stderr}`);
    const sendSeconds = (sender.endMs - sender.startMs) / 1000;
    return { received: Number(flows[1]), records: sender.records, offeredRate: sender.records / sendSeconds, sendSeconds };
  } finally {
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

async function peerRun(rate: number): Promise<BenchResult> {
  const peer = await nfcapdRun(rate, SECONDS);
  const ours = await udpRun('collector.udp.iana', 'iana', rate, SECONDS);
  const peerRate = peer.received / peer.sendSeconds;
  return {
    name: 'peer.nfcapd.udp',
    value: Math.round(peerRate),
    unit: 'records/s',
    offeredRate: Math.round(peer.offeredRate),
    records: peer.records,
    received: peer.received,
    lossPercent: Number((100 * (1 - peer.received / peer.records)).toFixed(2)),
    flowvisRate: ours.value,
    flowvisOfferedRate: ours.offeredRate,
    flowvisLossPercent: ours.lossPercent,
    ratio: Number((ours.value / peerRate).toFixed(3)),
    recordsPerDatagram: ours.recordsPerDatagram,
  };
}

export const benchmarks: Benchmark[] = [
  {
    name: 'peer.nfcapd.udp',
    run: async () => {
      if (toolPath('nfcapd') === null || toolPath('nfdump') === null) {
        throw new Error('nfcapd/nfdump not installed (apt-get install nfdump)');
      }
      const results: BenchResult[] = [];
      for (const rate of RATES) results.push(await peerRun(rate));
      return results;
    },
  },
];
