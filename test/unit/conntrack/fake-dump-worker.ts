// A stand-in for dump-worker.ts in the DumpThread tests: speaks the same protocol (messages
// from the main thread, records in the DumpRing) but makes its datagrams from fixtures instead
// of a netlink socket. What it does depends on the dump's seq modulo 8:
//   1  MANY_DATAGRAMS datagrams of 3 entries each (more than the ring holds), NLMSG_DONE in the last
//   2  two datagrams of the previous seq (an abandoned dump's leftovers), then one entry + NLMSG_DONE
//   3  one datagram, then a socket failure (ENOBUFS)
//   4  one datagram, then a truncated datagram
//   5  one datagram, then the thread exits with code 7
import { parentPort, workerData } from 'node:worker_threads';
import { DumpRing, SLOT_DATAGRAM, SLOT_FAILURE, encodeFailure } from '../../../src/exporter/conntrack/dump-ring.js';
import type { DumpWorkerData, DumpWorkerMessage } from '../../../src/exporter/conntrack/dump-worker.js';
import { controlMessage, ctMessage } from './fixtures.js';

export const MANY_DATAGRAMS = 300;
export const PER_DATAGRAM = 3;

function entries(seq: number, firstPort: number, count: number, done: boolean): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    parts.push(ctMessage({ orig: { src: '10.1.0.1', dst: '10.1.0.2', sport: firstPort + i, dport: 53, proto: 17 } }, { seq }));
  }
  if (done) parts.push(controlMessage(3, seq));
  return Buffer.concat(parts);
}

function put(ring: DumpRing, seq: number, kind: number, bytes: Uint8Array): boolean {
  if (!ring.waitForSpace(seq)) return false;
  ring.write(seq, kind, bytes);
  return true;
}

function serve(port: NonNullable<typeof parentPort>, data: DumpWorkerData): void {
  const ring = new DumpRing(data.layout, data.ring);
  port.on('message', (msg: DumpWorkerMessage) => {
  if (msg.type === 'close') {
    port.close();
    return;
  }
  if (msg.type !== 'dump') return;
  const seq = msg.seq;
  switch (seq % 8) {
    case 1:
      for (let d = 0; d < MANY_DATAGRAMS; d++) {
        if (!put(ring, seq, SLOT_DATAGRAM, entries(seq, 1 + d * PER_DATAGRAM, PER_DATAGRAM, d === MANY_DATAGRAMS - 1))) return;
      }
      return;
    case 2:
      // Written under the old seq: the reader skips them.
      ring.write(seq - 1, SLOT_DATAGRAM, entries(seq - 1, 900, 2, false));
      ring.write(seq - 1, SLOT_DATAGRAM, entries(seq - 1, 910, 2, true));
      put(ring, seq, SLOT_DATAGRAM, entries(seq, 1, 1, true));
      return;
    case 3:
      put(ring, seq, SLOT_DATAGRAM, entries(seq, 1, 2, false));
      put(ring, seq, SLOT_FAILURE, encodeFailure({ what: 'conntrack dump', message: 'recvmsg: No buffer space available', code: 'ENOBUFS' }));
      return;
    case 4:
      put(ring, seq, SLOT_DATAGRAM, entries(seq, 1, 2, false));
      put(ring, seq, SLOT_FAILURE, encodeFailure({ what: 'truncated', message: 'a conntrack dump datagram was truncated by the socket', code: '' }));
      return;
    case 5:
      put(ring, seq, SLOT_DATAGRAM, entries(seq, 1, 2, false));
      process.exit(7);
  }
  });
}

// Imported by the test for its constants: serve only as a worker.
if (parentPort !== null && workerData !== null) serve(parentPort, workerData as DumpWorkerData);
