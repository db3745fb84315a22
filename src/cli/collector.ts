// `flowvis collector`: decode IPFIX from any exporter and print the records (the reference's
// go-ipfix collector). Options are checked once by parseCollectorOptions; the work is in
// src/collector/collector.ts.
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import pino from 'pino';
import { Collector, type CollectorStats, type CollectorTlsMaterial } from '../collector/collector.js';
import { CollectorError } from '../collector/errors.js';
import {
  DEFAULT_KEEP,
  DEFAULT_OUTPUT_BUFFER_BYTES,
  MAX_KEEP,
  parseCollectorOptions,
  type CollectorOptions,
  type RawCollectorOptions,
} from '../collector/options.js';

function readPem(path: string, flag: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new CollectorError('COLLECTOR_ERR_TLS_FILE', `${flag} ${path}: cannot read it (${(err as Error).message})`, { cause: err });
  }
  if (!text.includes('-----BEGIN ')) {
    throw new CollectorError('COLLECTOR_ERR_TLS_FILE', `${flag} ${path}: no PEM block ("-----BEGIN ...") in it`);
  }
  return text;
}

export function loadTlsMaterial(options: CollectorOptions): CollectorTlsMaterial | null {
  if (options.tls === null) return null;
  return {
    cert: readPem(options.tls.certPath, '--cert'),
    key: readPem(options.tls.keyPath, '--key'),
    ca: options.tls.caPath === null ? null : readPem(options.tls.caPath, '--ca'),
  };
}

/** The counters as a readable block, printed to stderr at shutdown. */
export function formatCounters(s: CollectorStats): string {
  const rows: [string, string | number][] = [
    ['records received', s.recordsReceived],
    ['records lost', s.recordsLost],
    ['records dropped', `${s.recordsDropped} (${s.recordsNotPrinted} not printed: output too slow)`],
    ['records without template', s.recordsWithoutTemplate],
    ['messages received', s.messagesReceived],
    ['bad messages', s.badMessages],
    ['sessions', `${s.sessions} open, ${s.sessionsTotal} total`],
    ['TLS handshake failures', s.tlsHandshakeFailures],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return `flowvis collector: stopped\n${rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}\n`).join('')}`;
}

export function collectorCommand(): Command {
  return new Command('collector')
    .description(
      'Collect IPFIX from any exporter (the reference\'s go-ipfix collector): decode every data record and print ' +
        'it on stdout, as JSON lines or readable text. Keeps the last --keep records for GET /records on --http. ' +
        'On SIGINT or SIGTERM it prints its counters (records received, lost, dropped, bad messages, sessions) on ' +
        'stderr and exits.',
    )
    .option(
      '-a, --address <host:port>',
      'IP address and port to listen on; IPv6 in brackets, e.g. 0.0.0.0:4739 or [::1]:4739; port 0 picks a free one ' +
        '(default: [::]:4739, IPv6 and IPv4; 0.0.0.0:4739 on hosts without IPv6)',
    )
    .option('-t, --transport <tcp|udp|tls>', 'transport to accept IPFIX on', 'tcp')
    .option('--cert <file>', 'with --transport tls: PEM server certificate')
    .option('--key <file>', 'with --transport tls: PEM private key of --cert')
    .option('--ca <file>', 'with --transport tls: PEM CA that signs client certificates; requires them (mutual TLS)')
    .option(
      '-f, --format <json|text|none>',
      'json: one record per line, IE names as keys, addresses as text, counters as numbers, octetArray as hex; ' +
        'text: a readable block per record; none: print nothing per record (counters only)',
      'json',
    )
    .option('-k, --keep <n>', `records to keep for GET /records (0-${MAX_KEEP})`, String(DEFAULT_KEEP))
    .option(
      '--http <host:port>',
      'serve GET /records?count=N&format=json|text (the newest N kept records) and GET /stats (counters) on this ' +
        'address, e.g. 127.0.0.1:8080 (default: no HTTP endpoint)',
    )
    .option(
      '--output-buffer <bytes>',
      'formatted output held while stdout is slow; records beyond it are dropped and counted',
      String(DEFAULT_OUTPUT_BUFFER_BYTES),
    )
    .option('--log-level <level>', 'stderr log level: trace, debug, info, warn or error', 'info')
    .action(async (raw: RawCollectorOptions & { logLevel: string }) => {
      const options = parseCollectorOptions(raw);
      const tls = loadTlsMaterial(options);
      // Logs and counters go to stderr: stdout carries the records.
      const logger = pino({ level: raw.logLevel, name: 'flowvis-collector' }, pino.destination(2));
      const collector = new Collector(options, { out: process.stdout, tls, logger });
      const addresses = await collector.start();
      logger.info(
        { transport: options.transport, address: addresses.ipfix, http: addresses.http, format: options.format },
        `listening for IPFIX over ${options.transport} on ${addresses.ipfix}` +
          (addresses.http === null ? '' : `; GET /records and /stats on http://${addresses.http}`),
      );
      const signal = await new Promise<string>((resolve) => {
        process.once('SIGINT', () => resolve('SIGINT'));
        process.once('SIGTERM', () => resolve('SIGTERM'));
      });
      // A second signal while draining stops at once.
      const force = (): void => process.exit(130);
      process.once('SIGINT', force);
      process.once('SIGTERM', force);
      logger.info({ signal }, 'stopping');
      const stats = await collector.stop();
      logger.flush();
      process.stderr.write(formatCounters(stats));
    });
}

export function registerCollector(program: Command): void {
  program.addCommand(collectorCommand());
}
