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

/** Listens on `socketPath` and connects each client to host:port. */
export function relayUnixToTcp(socketPath: string, host: string, port: number): Promise<net.Server> {
  rmSync(socketPath, { force: true });
  const server = net.createServer((client) => pipeBoth(client, net.connect({ host, port })));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve(server));
  });
}

/** Listens on host:port and connects each client to the Unix socket. */
export function relayTcpToUnix(host: string, port: number, socketPath: string): Promise<net.Server> {
  const server = net.createServer((client) => pipeBoth(client, net.connect({ path: socketPath })));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => resolve(server));
  });
}

// Run as a script: node relay.js <socket> <host> <port>
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [socketPath, host, portText] = process.argv.slice(2);
  if (!socketPath || !host || !/^\d+$/.test(portText ?? '')) {
    process.stderr.write('usage: node relay.js <unix-socket> <host> <port>\n');
    process.exit(2);
  }
  const server = await relayUnixToTcp(socketPath, host, Number(portText));
  process.stdout.write(`relay: ${socketPath} -> ${host}:${portText}\n`);
  const stop = () => server.close(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
