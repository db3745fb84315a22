// Runs the NFLOG source inside a namespace for the integration tests
// (`ip netns exec <ns> node dist/test/integration/conntrack/nflog-probe.js <group>`).
// Prints {"ready"} once bound, {"packet"} per logged packet, {"error"} on failures; exits on "quit".
import { createInterface } from 'node:readline';
import { NflogSource } from '../../../src/exporter/nflog/source.js';

const out = (o: unknown): void => {
  process.stdout.write(`${JSON.stringify(o)}\n`);
};
const source = new NflogSource({ group: Number(process.argv[2]), onError: (err) => out({ error: err.message, code: err.code }) });
try {
  await source.start((p) => out({ packet: p }), () => out({ overflow: true }));
} catch (err) {
  out({ error: (err as Error).message, code: (err as { code?: string }).code });
  process.exit(1);
}
out({ ready: true });
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === 'quit') void source.stop().then(() => process.exit(0));
});
