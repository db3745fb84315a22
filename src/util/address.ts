// Collector addresses in the reference's formats:
//   flowCollectorAddr          <HOST>:[<PORT>][:<PROTO>]   (agent; port 4739, proto tls by default)
//   externalFlowCollectorAddr  <IP>:<port>[:<proto>]      (aggregator; proto tcp by default)
// HOST is a DNS name, an IPv4 address, or an IPv6 address in brackets.
import { isIP } from 'node:net';

export type TransportProtocol = 'tls' | 'tcp' | 'udp';
export const IPFIX_PORT = 4739;

export interface CollectorAddress {
  host: string;
  port: number;
  protocol: TransportProtocol;
}

export function parseCollectorAddress(
  text: string,
  defaults: { port?: number; protocol: TransportProtocol; allowed?: readonly TransportProtocol[] },
): CollectorAddress {
  const allowed = defaults.allowed ?? ['tls', 'tcp', 'udp'];
  const fail = (why: string): never => {
    throw new Error(`invalid address "${text}": ${why}; expected <HOST>:[<PORT>][:<PROTO>], e.g. "10.0.0.5:4739:tcp" or "[fd00::5]:4739:udp"`);
  };
  const s = text.trim();
  let host: string;
  let rest: string;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0) fail('unclosed "[" around an IPv6 address');
    host = s.slice(1, close);
    if (isIP(host) !== 6) fail(`"${host}" is not an IPv6 address`);
    rest = s.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) fail('expected ":" after "]"');
    rest = rest.slice(1);
  } else {
    const colon = s.indexOf(':');
    host = colon < 0 ? s : s.slice(0, colon);
    rest = colon < 0 ? '' : s.slice(colon + 1);
    if (isIP(host) === 0 && host.includes(':')) fail('an IPv6 address must be written in brackets, e.g. "[fd00::5]"');
  }
  if (host === '') fail('the host is empty');
  const [portText = '', protoText = '', ...extra] = rest === '' ? [] : rest.split(':');
  if (extra.length > 0) fail('too many ":"-separated parts');
  let port = defaults.port ?? IPFIX_PORT;
  if (portText !== '') {
    if (!/^\d+$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) fail(`port "${portText}" is not 1-65535`);
    port = Number(portText);
  } else if (defaults.port === undefined && protoText === '' && rest === '') {
    port = IPFIX_PORT;
  }
  let protocol = defaults.protocol;
  if (protoText !== '') {
    const p = protoText.toLowerCase() as TransportProtocol;
    if (!allowed.includes(p)) fail(`protocol "${protoText}" is not one of ${allowed.join(', ')}`);
    protocol = p;
  }
  return { host, port, protocol };
}

/** A listen address `HOST:PORT` or `[IPv6]:PORT` (port 0-65535; an empty host means 0.0.0.0). */
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text.trim());
  if (!m) return undefined;
  const host = m[1] ?? m[2];
  if (m[1] !== undefined && isIP(host) !== 6) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { host: host === '' ? '0.0.0.0' : host, port };
}
