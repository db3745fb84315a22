// The machine's speed at this moment, as bench/aggregator.bench.ts measures it around each run
// (probeCoreNs / probeMemoryNs): ns per dependent random read over 256 MB (memory latency) and
// ns per step of a loop that stays in registers (core speed). This 2-core VM has fast phases
// (about 1.3-1.5 ns a step, 150-185 ns a read) and slow ones (1.6-2.6 ns, 200-430 ns), in which
// every benchmark runs 1.4-1.9 times slower; print this next to a figure to say which it was.
//   node scripts/machine-probe.mjs
const WORDS = 1 << 26;
const a = new Int32Array(WORDS);
let x = 12345;
for (let i = 0; i < WORDS; i++) {
  x = (Math.imul(x, 1103515245) + 12345) | 0;
  a[i] = (x >>> 0) & (WORDS - 1);
}
const steps = 4_000_000;
// Each loop's result is kept (sink), so that no compiler can drop the loop.
let sink = 0;
const cpuNs = (f) => {
  const c = process.cpuUsage();
  sink ^= f();
  const u = process.cpuUsage(c);
  return (u.user + u.system) * 1000;
};
const chase = () => {
  let q = 0;
  for (let i = 0; i < steps; i++) q = a[q];
  return q;
};
const spin = () => {
  let h = 1;
  for (let i = 0; i < 25 * steps; i++) h = Math.imul(h ^ i, 0x9e3779b1);
  return h;
};
chase();
spin();
const memoryNs = cpuNs(chase) / steps;
const coreNs = cpuNs(spin) / (25 * steps);
const result = { at: new Date().toISOString(), memoryNs: Number(memoryNs.toFixed(1)), coreNs: Number(coreNs.toFixed(2)), sink };
// Forked by a bench (aggregator.throughput): the answer goes back over IPC, and the process exits
// once it is out (an exit right after send can lose it).
if (process.send) process.send(result, () => process.exit(0));
else console.log(JSON.stringify(result));
