// `flowvis collector` options: checked once here, at the edge, and returned frozen. Every
// message says what to write instead.
import { isIP } from 'node:net';
import { CollectorError } from './errors.js';
import { OUTPUT_FORMATS, type OutputFormat } from './types.js';

export const COLLECTOR_TRANSPORTS = ['tcp', 'udp', 'tls'] as const;
export type CollectorTransport = (typeof COLLECTOR_TRANSPORTS)[number];

/** Without --address the collector listens on [::]:4739 (IPv6 and IPv4), or 0.0.0.0:4739 on hosts without IPv6. */
export const DEFAULT_COLLECTOR_PORT = 4739;
export const DEFAULT_KEEP = 1000;
export const MAX_KEEP = 1_000_000;
/** Bytes of formatted output held while stdout is slow; beyond it records are dropped and counted. */
export const DEFAULT_OUTPUT_BUFFER_BYTES = 8 * 1024 * 1024;

export interface ListenAddress {
  readonly host: string;
  /** 0 asks the system for a free port. */
  readonly port: number;
}

export interface TlsFiles {
  readonly certPath: string;
  readonly keyPath: string;
  /** When set, exporters must present a client certificate signed by this CA (mutual TLS). */
  readonly caPath: string | null;
}

export interface CollectorOptions {
  /** null: the default, [::]:4739 dual stack (0.0.0.0:4739 where IPv6 is missing). */
  readonly address: ListenAddress | null;
  readonly transport: CollectorTransport;
  readonly tls: TlsFiles | null;
  readonly format: OutputFormat;
  readonly keep: number;
  readonly http: ListenAddress | null;
  readonly outputBufferBytes: number;
}

/** The options as commander hands them over: strings, or undefined when not given. */
export interface RawCollectorOptions {
  address?: string;
  transport?: string;
  cert?: string;
  key?: string;
  ca?: string;
  format?: string;
  keep?: string | number;
  http?: string;
  outputBuffer?: string | number;
}

function optionError(message: string): CollectorError {
  return new CollectorError('COLLECTOR_ERR_INVALID_OPTION', message);
}

/** Parses HOST:PORT; an IPv6 host goes in brackets ("[::1]:4739"). Port 0 means "any free port". */
export function parseListenAddress(text: string, flag: string): ListenAddress {
  const fail = (why: string): never => {
    throw optionError(
      `${flag} "${text}": ${why}; write HOST:PORT, e.g. "0.0.0.0:4739", "127.0.0.1:0" or "[::]:4739"`,
    );
  };
  const s = text.trim();
  let host: string;
  let portText: string;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0) fail('"[" without "]" around the IPv6 address');
    host = s.slice(1, close);
    if (isIP(host) !== 6) fail(`"${host}" is not an IPv6 address`);
    if (s[close + 1] !== ':') fail('expected ":PORT" after "]"');
    portText = s.slice(close + 2);
  } else {
    const colon = s.lastIndexOf(':');
    if (colon < 0) fail('the port is missing');
    host = s.slice(0, colon);
    portText = s.slice(colon + 1);
    if (host.includes(':')) fail('an IPv6 address must be written in brackets');
  }
  if (host === '') fail('the host is empty');
  if (isIP(host) === 0) fail(`"${host}" is not an IP address (listen addresses are IPs, not names)`);
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) fail(`port "${portText}" is not 0-65535`);
  return Object.freeze({ host, port: Number(portText) });
}

function parseCount(value: string | number | undefined, flag: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const text = String(value).trim();
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw optionError(`${flag} "${value}" is not a whole number from ${min} to ${max}`);
  }
  return Number(text);
}

export function parseCollectorOptions(raw: RawCollectorOptions): CollectorOptions {
  const transport = (raw.transport ?? 'tcp').toLowerCase();
  if (!(COLLECTOR_TRANSPORTS as readonly string[]).includes(transport)) {
    throw optionError(`--transport "${raw.transport}" is not one of ${COLLECTOR_TRANSPORTS.join(', ')}`);
  }
  const format = (raw.format ?? 'json').toLowerCase();
  if (!(OUTPUT_FORMATS as readonly string[]).includes(format)) {
    throw optionError(`--format "${raw.format}" is not one of ${OUTPUT_FORMATS.join(', ')}`);
  }
  let tls: TlsFiles | null = null;
  if (transport === 'tls') {
    if (!raw.cert || !raw.key) {
      throw optionError(
        '--transport tls needs --cert <server certificate PEM file> and --key <its private key PEM file>',
      );
    }
    tls = Object.freeze({ certPath: raw.cert, keyPath: raw.key, caPath: raw.ca ?? null });
  } else {
    const given = (['cert', 'key', 'ca'] as const).filter((k) => raw[k] !== undefined);
    if (given.length > 0) {
      throw optionError(
        `${given.map((k) => `--${k}`).join(', ')} only apply to --transport tls; add --transport tls or drop them`,
      );
    }
  }
  return Object.freeze({
    address: raw.address === undefined ? null : parseListenAddress(raw.address, '--address'),
    transport: transport as CollectorTransport,
    tls,
    format: format as OutputFormat,
    keep: parseCount(raw.keep, '--keep', DEFAULT_KEEP, 0, MAX_KEEP),
    http: raw.http === undefined ? null : parseListenAddress(raw.http, '--http'),
    outputBufferBytes: parseCount(raw.outputBuffer, '--output-buffer', DEFAULT_OUTPUT_BUFFER_BYTES, 1024, 1 << 30),
  });
}

/** "host:port", with brackets around an IPv6 host. */
export function formatHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}
