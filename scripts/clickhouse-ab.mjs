// In-process A/B of the ClickHouse insert path: two builds' ClickHouseRepository loaded in one
// process, each writing into its own database, run alternately (the machine's speed varies from
// minute to minute; docs/store-clickhouse.md). Each run inserts the store bench's rows (600,000,
// flow ends over 10 s) in the store sink's batches (50,000, 2 inserts in flight) and reports the
// client's CPU per row (this process), the server's query-thread CPU per row (system.events) and
// the server process's whole CPU per row (/proc: merges included), and rows/s; the machine probe
// (scripts/machine-probe.mjs) before the first run and after the last.
//   node scripts/clickhouse-ab.mjs <distA> <distB> [runs=4] [rows=600000]
//   e.g. node scripts/clickhouse-ab.mjs /tmp/nat-base/dist dist 4
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { pathToFileURL } from 'node:url';

const [distA, distB, runsText = '4', rowsText = '600000'] = process.argv.slice(2);
if (!distA || !distB) {
  process.stderr.write('usage: node scripts/clickhouse-ab.mjs <distA> <distB> [runs] [rows]\n');
  process.exit(2);
}
const SERVER = process.env.FLOWVIS_BENCH_CLICKHOUSE ?? 'http://127.0.0.1:8123';
const BATCH = 50_000;
const IN_FLIGHT = 2;
const T0 = 1_700_000_040;
const load = async (dist, path) => import(pathToFileURL(resolve(dist, path)).href);
const { syntheticRecords } = await load('dist', 'bench/store.bench.js');
const { createClient } = await import('@clickhouse/client');
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc');

const serverPid = Number(execFileSync('pgrep', ['-o', '-u', 'clickhouse']).toString().trim());
const ticks = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());
/** The server process's CPU seconds (every thread: queries, merges). */
function serverProcessCpu() {
  const fields = readFileSync(`/proc/${serverPid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / ticks;
}
const admin = createClient({ url: SERVER });
/** The server's query threads' CPU seconds (system.events), as bench/store.bench.ts reads it. */
async function serverQueryCpu() {
  const rs = await admin.query({ query: "SELECT toFloat64(sum(value)) AS us FROM system.events WHERE event IN ('UserTimeMicroseconds', 'SystemTimeMicroseconds')", format: 'JSONEachRow' });
  const [r] = await rs.json();
  return Number(r.us) / 1e6;
}

const rows = syntheticRecords(Number(rowsText), 1, 10);
const builds = [];
for (const [tag, dist] of [['A', distA], ['B', distB]]) {
  const { ClickHouseRepository } = await load(dist, 'src/store/clickhouse.js');
  const database = `flowvis_ab_${tag}_${process.pid}`;
  const repo = await ClickHouseRepository.open(`${SERVER}/${database}`);
  builds.push({ tag, dist, repo, database, version: await repo.schemaVersion() });
}

async function insertAll(repo, records) {
  const window = [];
  for (let off = 0; off < records.length; off += BATCH) {
    if (window.length >= IN_FLIGHT) await window.shift();
    window.push(repo.insertFlows(records.slice(off, off + BATCH), T0));
  }
  await Promise.all(window);
}

/** The machine's speed now (3 s; docs/store-clickhouse.md). */
function probe() {
  const out = execFileSync(process.execPath, [new URL('./machine-probe.mjs', import.meta.url).pathname]).toString().trim();
  process.stdout.write(JSON.stringify({ probe: JSON.parse(out), load: loadavg().map((l) => Number(l.toFixed(1))) }) + '\n');
}

try {
  for (const b of builds) await insertAll(b.repo, rows.slice(0, 150_000)); // warm-up
  probe();
  const runs = Number(runsText);
  for (let k = 0; k < runs; k++) {
    // Alternate which build goes first.
    for (const b of k % 2 === 0 ? builds : [...builds].reverse()) {
      gc();
      const q0 = await serverQueryCpu();
      const p0 = serverProcessCpu();
      const c0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      await insertAll(b.repo, rows);
      const wall = Number(process.hrtime.bigint() - t0) / 1e9;
      const c = process.cpuUsage(c0);
      const p = serverProcessCpu() - p0;
      const q = (await serverQueryCpu()) - q0;
      const n = rows.length;
      const client = (c.user + c.system) / n;
      process.stdout.write(
        JSON.stringify({
          build: b.tag,
          dist: b.dist,
          schema: b.version,
          run: k,
          rows_per_s: Math.round(n / wall),
          client_us_per_row: Number(client.toFixed(2)),
          server_query_us_per_row: Number(((q * 1e6) / n).toFixed(2)),
          server_process_us_per_row: Number(((p * 1e6) / n).toFixed(2)),
          sum_us_per_row: Number((client + (q * 1e6) / n).toFixed(2)),
          load: Number(loadavg()[0].toFixed(1)),
        }) + '\n',
      );
    }
  }
  probe();
} finally {
  for (const b of builds) {
    await b.repo.close();
    await admin.command({ query: `DROP DATABASE IF EXISTS ${b.database}` });
  }
  await admin.close();
}
