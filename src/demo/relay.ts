// A byte relay between a Unix socket and a TCP address, so that the root namespace can reach the
// testbed aggregator's API, which lives in a network namespace with no link to it. Unix sockets
// are files: a process inside the aggregator's namespace listens on one (this module run as a
// script there), and the demo in the root namespace accepts TCP on loopback and connects each
// client to that socket.
//
//   browser --TCP 127.0.0.1:10348--> relayTcpToUnix (root ns) --ui.sock--> relayUnixToTcp
//      (run with `ip netns exec <prefix>-agg node relay.js <sock> <host> <port>`) --TCP--> aggregator API
import net from 'node:net';
import { rmSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

function pipeBoth(a: net.Socket, b: net.Socket): void {
  a.pipe(b);
  b.pipe(a);
  const end = () => {
    a.destroy();
    b.destroy();
  };
  a.on('error', end);
  b.on('error', end);
  a.on('close', end);
  b.on('close', end);
}

export interface Relay {
  readonly server: net.Server;
  /** Stops listening and ends the connections in progress (a browser keeps idle ones open). */
  close(): Promise<void>;
}

function relay(connect: () => net.Socket, listen: (server: net.Server, done: () => void) => void): Promise<Relay> {
  const open = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = connect();
    for (const s of [client, upstream]) {
      open.add(s);
      s.once('close', () => open.delete(s));
    }
    pipeBoth(client, upstream);
  });
  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of open) s.destroy();
    });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    listen(server, () => resolve({ server, close }));
  });
}

/** Listens on `socketPath` and connects each client to host:port. */
export function relayUnixToTcp(socketPath: string, host: string, port: number): Promise<Relay> {
  rmSync(socketPath, { force: true });
  return relay(
    () => net.connect({ host, port }),
    (server, done) => server.listen(socketPath, done),
  );
}

/** Listens on host:port and connects each client to the Unix socket. */
export function relayTcpToUnix(host: string, port: number, socketPath: string): Promise<Relay> {
  return relay(
    () => net.connect({ path: socketPath }),
    (server, done) => server.listen({ host, port }, done),
  );
}

// Run as a script: node relay.js <socket> <host> <port>
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [socketPath, host, portText] = process.argv.slice(2);
  if (!socketPath || !host || !/^\d+$/.test(portText ?? '')) {
    process.stderr.write('usage: node relay.js <unix-socket> <host> <port>\n');
    process.exit(2);
  }
  const relayed = await relayUnixToTcp(socketPath, host, Number(portText));
  process.stdout.write(`relay: ${socketPath} -> ${host}:${portText}\n`);
  const stop = () => void relayed.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
