// In-process A/B of store.ingest.embedded (bench/store.bench.ts: producer -> SinkPump ->
// StoreSink -> DuckDbRepository, the product's path) for two builds: both builds' bench modules
// are loaded in one process and run alternately, A B A B ..., so that a machine phase or another
// process's load falls on both. Prints one JSON line per run with the CPU per row (this process,
// all threads), the load average and the machine probe's figures taken just before the pair.
//   node scripts/store-health-ab.mjs <dir of build A> <dir of build B> [pairs]
// e.g. node scripts/store-health-ab.mjs /tmp/obs-base /tmp/obs-new 4   (each dir holds dist/)
import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { join } from 'node:path';

const roots = [process.argv[2], process.argv[3]];
const pairs = Number(process.argv[4] ?? 3);
if (!roots[0] || !roots[1] || !(pairs >= 1)) {
  process.stderr.write('usage: node scripts/store-health-ab.mjs <dir of build A> <dir of build B> [pairs]\n');
  process.exit(2);
}

const builds = await Promise.all(
  roots.map(async (root, i) => {
    const { benchmarks } = await import(join(root, 'dist/bench/store.bench.js'));
    const bench = benchmarks.find((b) => b.name === 'store.ingest.embedded');
    if (!bench) throw new Error(`${root}: no store.ingest.embedded benchmark`);
    return { label: i === 0 ? 'A' : 'B', root, bench };
  }),
);

const probeScript = join(roots[1], 'scripts/machine-probe.mjs');
for (let p = 0; p < pairs; p++) {
  const probe = JSON.parse(execFileSync(process.execPath, [probeScript], { encoding: 'utf8' }).trim().split('\n').pop());
  // Alternate which build goes first, so neither always runs after the other's garbage.
  const order = p % 2 === 0 ? builds : [...builds].reverse();
  for (const b of order) {
    const r = await b.bench.run();
    const one = Array.isArray(r) ? r[0] : r;
    process.stdout.write(
      JSON.stringify({
        pair: p + 1,
        build: b.label,
        root: b.root,
        rows_per_s: one.value,
        rows_per_cpu_second: one.rows_per_cpu_second,
        cpu_us_per_row: Number((1e6 / one.rows_per_cpu_second).toFixed(3)),
        load: Number(loadavg()[0].toFixed(2)),
        probe: { memoryNs: probe.memoryNs, coreNs: probe.coreNs },
      }) + '\n',
    );
  }
}
