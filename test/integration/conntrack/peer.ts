// Traffic with known byte counts, run inside a namespace by the conntrack integration tests
// (`ip netns exec <ns> node dist/test/integration/conntrack/peer.js <mode> ...`). Prints JSON lines.
//
//   tcp-server <host> <expectBytes> <replyBytes>   listens on port 0, prints {"port"}; per
//                                                  connection reads expectBytes, then writes replyBytes
//   tcp-client <host> <port> <sendBytes> <replyBytes> <hold|close>
//                                                  sends, reads the reply, prints {"done","localPort"};
//                                                  with "hold" waits for a "close" line on stdin first
//   udp-server <host>                              binds port 0, prints {"port"}, echoes every datagram
//   udp-client <host> <port> <count> <size>        sends count datagrams, waits for the echoes, prints {"done","localPort"}
//   udp-send <host> <port> <count> <size>          sends count datagrams, prints {"sent","localPort"}, exits
import { createServer, connect } from 'node:net';
import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { createInterface } from 'node:readline';

const [mode, host, ...rest] = process.argv.slice(2);
const out = (o: unknown): void => {
  process.stdout.write(`${JSON.stringify(o)}\n`);
};

if (mode === 'tcp-server') {
  const expect = Number(rest[0]);
  const reply = Number(rest[1]);
  const server = createServer((sock) => {
    let got = 0;
    let replied = false;
    sock.on('data', (d) => {
      got += d.length;
      if (!replied && got >= expect) {
        replied = true;
        sock.write(Buffer.alloc(reply, 0x61));
      }
    });
    sock.on('end', () => sock.end());
    sock.on('error', () => {});
  });
  server.listen(0, host, () => {
    const addr = server.address();
    out({ port: typeof addr === 'object' && addr ? addr.port : 0 });
  });
} else if (mode === 'tcp-client') {
  const [port, send, reply, hold] = [Number(rest[0]), Number(rest[1]), Number(rest[2]), rest[3]];
  const sock = connect({ host, port }, () => {
    sock.write(Buffer.alloc(send, 0x62));
  });
  let got = 0;
  let done = false;
  sock.on('data', (d) => {
    got += d.length;
    if (!done && got >= reply) {
      done = true;
      out({ done: true, localPort: sock.localPort });
      if (hold === 'hold') {
        createInterface({ input: process.stdin }).on('line', (line) => {
          if (line.trim() === 'close') sock.end();
        });
      } else {
        sock.end();
      }
    }
  });
  sock.on('close', () => process.exit(0));
  sock.on('error', (err) => {
    out({ error: err.message });
    process.exit(1);
  });
} else if (mode === 'udp-server') {
  const s = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
  s.on('message', (msg, rinfo) => s.send(msg, rinfo.port, rinfo.address));
  s.bind(0, host, () => out({ port: s.address().port }));
} else if (mode === 'udp-client') {
  const [port, count, size] = [Number(rest[0]), Number(rest[1]), Number(rest[2])];
  const s = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
  let echoes = 0;
  s.on('message', () => {
    echoes++;
    if (echoes === count) {
      out({ done: true, localPort: s.address().port });
      s.close();
    }
  });
  s.bind(0, () => {
    for (let i = 0; i < count; i++) s.send(Buffer.alloc(size, 0x63), port, host);
  });
} else if (mode === 'udp-send') {
  const [port, count, size] = [Number(rest[0]), Number(rest[1]), Number(rest[2])];
  const s = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
  s.bind(0, () => {
    let left = count;
    for (let i = 0; i < count; i++) {
      s.send(Buffer.alloc(size, 0x64), port, host, () => {
        if (--left === 0) {
          out({ sent: count, localPort: s.address().port });
          s.close();
        }
      });
    }
  });
} else {
  process.stderr.write(`peer: unknown mode ${mode}\n`);
  process.exit(2);
}
