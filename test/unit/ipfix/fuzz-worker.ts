// Runs one fuzz case of fuzz-cases.ts in a worker thread and reports back (see fuzz.test.ts).
import { parentPort, workerData } from 'node:worker_threads';
import { FUZZ_CASES } from './fuzz-cases.js';

const { name } = workerData as { name: keyof typeof FUZZ_CASES };
try {
  FUZZ_CASES[name]();
  parentPort?.postMessage({ ok: true });
} catch (err) {
  parentPort?.postMessage({ ok: false, error: err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err) });
}
