// The testbed's in-namespace traffic program, run with `ip netns exec <ns> node agent.js ...`:
//
//   agent.js serve '{"tcp":[8080],"udp":[9000]}'   a Pod's "container": serves TCP and UDP on
//                                                 every address of both families; prints
//                                                 {"ready":true} then one JSON line per
//                                                 connection (TCP) or datagram (UDP)
//   agent.js client '<ClientJob>'                 runs conversations and prints {"results":[...]}
//
// Wire format, so that both ends know every byte count in advance:
//   TCP request   "FVT1" | u32 requestBytes | u32 responseBytes | padding to requestBytes
//                 the server reads requestBytes in total, answers responseBytes, then closes
//   UDP datagram  "FVU1" | u32 seq | u32 replyBytes | padding to the datagram size
//                 the server answers each datagram with replyBytes bytes, same header
// Uses node: built-ins only, so that it starts fast in every namespace.
import { createServer, connect, type Socket } from 'node:net';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';

const TCP_MAGIC = 0x46565431; // "FVT1"
const UDP_MAGIC = 0x46565531; // "FVU1"
const HEADER = 12;
const FILL = Buffer.alloc(64 * 1024, 0x2e);

function out(obj: unknown): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

/** IPv4 peers of a dual-stack socket appear as ::ffff:a.b.c.d. */
function plainAddress(a: string | undefined): string {
  return a === undefined ? '' : a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

async function writeBytes(sock: Socket, count: number, header?: Buffer): Promise<number> {
  let left = count;
  let written = 0;
  if (header) {
    const h = header.subarray(0, Math.min(header.length, left));
    sock.write(h);
    left -= h.length;
    written += h.length;
  }
  while (left > 0) {
    const n = Math.min(left, FILL.length);
    const ok = sock.write(FILL.subarray(0, n));
    left -= n;
    written += n;
    if (!ok) await new Promise<void>((resolve, reject) => {
      const onErr = (e: Error) => reject(e);
      sock.once('error', onErr);
      sock.once('drain', () => {
        sock.off('error', onErr);
        resolve();
      });
    });
  }
  return written;
}

function serve(config: { tcp?: number[]; udp?: number[] }): void {
  let pending = (config.tcp?.length ?? 0) + (config.udp?.length ?? 0);
  const listening = (): void => {
    if (--pending === 0) out({ ready: true, pid: process.pid });
  };
  if (pending === 0) out({ ready: true, pid: process.pid });
  for (const port of config.tcp ?? []) {
    const server = createServer((sock) => {
      const peer = plainAddress(sock.remoteAddress);
      const peerPort = sock.remotePort ?? 0;
      const local = plainAddress(sock.localAddress);
      let header = Buffer.alloc(0);
      let want = -1;
      let reply = 0;
      let received = 0;
      let sent = 0;
      let error = '';
      let answered = false;
      sock.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (want < 0) {
          header = Buffer.concat([header, chunk.subarray(0, HEADER - header.length)]);
          if (header.length < HEADER) return;
          if (header.readUInt32BE(0) !== TCP_MAGIC) {
            error = 'bad-header';
            sock.destroy();
            return;
          }
          want = header.readUInt32BE(4);
          reply = header.readUInt32BE(8);
        }
        if (!answered && received >= want) {
          answered = true;
          writeBytes(sock, reply).then(
            (n) => {
              sent = n;
              sock.end();
            },
            (e: Error) => {
              error = e.message;
            },
          );
        }
      });
      sock.on('error', (e) => {
        error = (e as NodeJS.ErrnoException).code ?? e.message;
      });
      sock.on('close', () => {
        out({ event: 'tcp', port, peer, peerPort, local, received, sent, ok: answered && error === '' && received === want, ...(error ? { error } : {}) });
      });
    });
    server.on('error', (e) => {
      out({ error: `TCP ${port}: ${e.message}` });
      process.exit(1);
    });
    server.listen({ port, host: '::', ipv6Only: false }, listening);
  }
  for (const port of config.udp ?? []) {
    const sock = createSocket({ type: 'udp6', ipv6Only: false });
    sock.on('message', (msg, rinfo) => {
      const peer = plainAddress(rinfo.address);
      if (msg.length < HEADER || msg.readUInt32BE(0) !== UDP_MAGIC) {
        out({ event: 'udp', port, peer, peerPort: rinfo.port, received: msg.length, sent: 0, ok: false, error: 'bad-header' });
        return;
      }
      const seq = msg.readUInt32BE(4);
      const replyBytes = Math.max(HEADER, msg.readUInt32BE(8));
      const r = Buffer.alloc(replyBytes, 0x2e);
      r.writeUInt32BE(UDP_MAGIC, 0);
      r.writeUInt32BE(seq, 4);
      r.writeUInt32BE(replyBytes, 8);
      sock.send(r, rinfo.port, rinfo.address);
      out({ event: 'udp', port, peer, peerPort: rinfo.port, seq, received: msg.length, sent: replyBytes, ok: true });
    });
    sock.on('error', (e) => {
      out({ error: `UDP ${port}: ${e.message}` });
      process.exit(1);
    });
    sock.bind(port, '::', listening);
  }
  process.on('SIGTERM', () => process.exit(0));
}

export interface ClientJob {
  protocol: 'TCP' | 'UDP';
  host: string;
  port: number;
  requestBytes: number;
  responseBytes: number;
  connections: number;
  datagrams: number;
  durationMs: number;
  connectTimeoutMs: number;
  replyTimeoutMs: number;
}

export type Outcome = 'ok' | 'refused' | 'timeout' | 'reset' | 'unreachable' | 'no-reply' | 'partial' | 'error';

export interface ClientResult {
  localAddress: string;
  localPort: number;
  outcome: Outcome;
  bytesSent: number;
  bytesReceived: number;
  /** UDP: datagrams sent and replies received; TCP: 0. */
  datagramsSent: number;
  datagramsReceived: number;
  startMs: number;
  endMs: number;
  error?: string;
}

function outcomeOf(code: string | undefined): Outcome {
  switch (code) {
    case 'ECONNREFUSED':
      return 'refused';
    case 'ECONNRESET':
    case 'EPIPE':
      return 'reset';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'unreachable';
    default:
      return 'error';
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function tcpOnce(job: ClientJob): Promise<ClientResult> {
  return new Promise((resolve) => {
    const startMs = Date.now();
    const r: ClientResult = { localAddress: '', localPort: 0, outcome: 'error', bytesSent: 0, bytesReceived: 0, datagramsSent: 0, datagramsReceived: 0, startMs, endMs: 0 };
    let settled = false;
    const finish = (outcome: Outcome, error?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      r.outcome = outcome;
      r.endMs = Date.now();
      if (error) r.error = error;
      resolve(r);
    };
    const sock = connect({ host: job.host, port: job.port });
    // The kernel picks the source port at connect(); read it before a refusal closes the handle.
    const capture = (): void => {
      if (r.localPort === 0 && sock.localPort) {
        r.localPort = sock.localPort;
        r.localAddress = plainAddress(sock.localAddress);
      }
    };
    sock.once('connectionAttempt', () => setImmediate(capture));
    setImmediate(capture);
    setTimeout(capture, 1).unref();
    const timer = setTimeout(() => {
      if (!connected) {
        r.localPort = sock.localPort ?? 0;
        r.localAddress = plainAddress(sock.localAddress);
        sock.destroy();
        finish('timeout', `no answer to the connection request in ${job.connectTimeoutMs} ms`);
      }
    }, job.connectTimeoutMs);
    let connected = false;
    sock.on('connect', () => {
      connected = true;
      clearTimeout(timer);
      r.localAddress = plainAddress(sock.localAddress);
      r.localPort = sock.localPort ?? 0;
      const header = Buffer.alloc(HEADER);
      header.writeUInt32BE(TCP_MAGIC, 0);
      header.writeUInt32BE(job.requestBytes, 4);
      header.writeUInt32BE(job.responseBytes, 8);
      void (async () => {
        const chunks = job.durationMs > 0 ? Math.max(1, Math.round(job.durationMs / 500)) : 1;
        const per = Math.ceil(job.requestBytes / chunks);
        let left = job.requestBytes;
        for (let i = 0; i < chunks && left > 0 && !settled; i++) {
          if (i > 0) await sleep(job.durationMs / chunks);
          const n = Math.min(per, left);
          r.bytesSent += await writeBytes(sock, n, i === 0 ? header : undefined).catch(() => 0);
          left -= n;
        }
      })();
    });
    sock.on('data', (chunk: Buffer) => {
      r.bytesReceived += chunk.length;
    });
    sock.on('end', () => {
      sock.end();
    });
    sock.on('close', () => {
      if (!connected) return;
      finish(r.bytesReceived === job.responseBytes && r.bytesSent === job.requestBytes ? 'ok' : 'partial');
    });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      if (r.localPort === 0) {
        r.localPort = sock.localPort ?? 0;
        r.localAddress = plainAddress(sock.localAddress);
      }
      finish(outcomeOf(e.code), e.code ?? e.message);
    });
  });
}

function udpOnce(job: ClientJob): Promise<ClientResult> {
  return new Promise((resolve) => {
    const startMs = Date.now();
    const r: ClientResult = { localAddress: '', localPort: 0, outcome: 'error', bytesSent: 0, bytesReceived: 0, datagramsSent: 0, datagramsReceived: 0, startMs, endMs: 0 };
    const sock: UdpSocket = createSocket(job.host.includes(':') ? 'udp6' : 'udp4');
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    let refused = false;
    const finish = (): void => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      r.endMs = Date.now();
      if (refused && r.datagramsReceived === 0) r.outcome = 'refused';
      else if (r.datagramsReceived === job.datagrams) r.outcome = 'ok';
      else r.outcome = r.datagramsReceived === 0 ? 'no-reply' : 'partial';
      sock.close();
      resolve(r);
    };
    const seen = new Set<number>();
    sock.on('message', (msg) => {
      if (msg.length < HEADER || msg.readUInt32BE(0) !== UDP_MAGIC) return;
      const seq = msg.readUInt32BE(4);
      if (seen.has(seq)) return;
      seen.add(seq);
      r.datagramsReceived++;
      r.bytesReceived += msg.length;
      if (r.datagramsReceived === job.datagrams) finish();
    });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNREFUSED') {
        refused = true;
        return;
      }
      r.error = e.code ?? e.message;
      finish();
    });
    sock.connect(job.port, job.host, () => {
      const a = sock.address();
      r.localAddress = plainAddress(a.address);
      r.localPort = a.port;
      void (async () => {
        for (let seq = 0; seq < job.datagrams && !settled; seq++) {
          if (seq > 0 && job.durationMs > 0) await sleep(job.durationMs / job.datagrams);
          const d = Buffer.alloc(job.requestBytes, 0x2e);
          d.writeUInt32BE(UDP_MAGIC, 0);
          d.writeUInt32BE(seq, 4);
          d.writeUInt32BE(job.responseBytes, 8);
          await new Promise<void>((done) => sock.send(d, (err) => {
            if (!err) {
              r.datagramsSent++;
              r.bytesSent += d.length;
            } else if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED') refused = true;
            done();
          }));
        }
        if (!settled) timer = setTimeout(finish, job.replyTimeoutMs);
      })();
    });
  });
}

async function client(job: ClientJob): Promise<void> {
  const results: ClientResult[] = [];
  if (job.protocol === 'UDP') results.push(await udpOnce(job));
  else for (let i = 0; i < job.connections; i++) results.push(await tcpOnce(job));
  out({ results });
}

const [mode, arg] = process.argv.slice(2);
try {
  if (mode === 'serve') serve(JSON.parse(arg ?? '{}') as { tcp?: number[]; udp?: number[] });
  else if (mode === 'client') await client(JSON.parse(arg ?? '{}') as ClientJob);
  else {
    process.stderr.write('usage: agent.js serve <json> | client <json>\n');
    process.exitCode = 2;
  }
} catch (err) {
  out({ error: (err as Error).message });
  process.exitCode = 1;
}
