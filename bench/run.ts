// `npm run bench [-- <prefix>]`: runs every benchmark in bench/*.bench.ts whose name starts
// with the prefix and prints one JSON line per result.
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import os from 'node:os';
import type { Benchmark } from './harness.js';

const here = dirname(fileURLToPath(import.meta.url));
const prefix = process.argv[2] ?? '';

const files = readdirSync(here).filter((f) => f.endsWith('.bench.js')).sort();
const env = { node: process.version, cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length };
let ran = 0;
for (const file of files) {
  const mod = (await import(join(here, file))) as { benchmarks: Benchmark[] };
  for (const bench of mod.benchmarks) {
    if (!bench.name.startsWith(prefix)) continue;
    ran++;
    try {
      const results = await bench.run();
      for (const r of Array.isArray(results) ? results : [results]) {
        process.stdout.write(JSON.stringify({ ...r, ...env }) + '\n');
      }
    } catch (err) {
      process.stdout.write(
        JSON.stringify({ name: bench.name, error: err instanceof Error ? err.message : String(err), ...env }) + '\n',
      );
      process.exitCode = 1;
    }
  }
}
if (ran === 0) {
  process.stderr.write(`bench: no benchmark name starts with "${prefix}"\n`);
  process.exitCode = 1;
}
// A benchmark that failed may leave servers or children behind: end here rather than wait on them.
process.exit();
