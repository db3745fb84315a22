// Shared shape of the benchmarks in bench/. Each *.bench.ts file exports `benchmarks`;
// bench/run.ts runs those whose name starts with the prefix given on the command line
// and prints one JSON object per result line.

export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  [extra: string]: unknown;
}

export interface Benchmark {
  /** Dotted name, e.g. `ipfix.decode`. */
  name: string;
  run(): Promise<BenchResult | BenchResult[]>;
}

/** Runs fn repeatedly for at least minMs and returns operations per second. */
export function opsPerSecond(fn: () => number, minMs = 1000): { opsPerSec: number; ops: number; ms: number } {
  let ops = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed < minMs) {
    ops += fn();
    elapsed = Number(process.hrtime.bigint() - start) / 1e6;
  }
  return { opsPerSec: (ops * 1000) / elapsed, ops, ms: elapsed };
}
