// `flowvis exporter --config <file>`: the Flow Exporter as a long-running process, one per
// Node (or per network namespace in the testbed). This is the edge: it reads the environment
// (NODE_NAME, the host name), the config file and the TLS files, wires the real pieces
// together, and turns SIGTERM into "export everything with flowEndReason 4, then exit".
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { Command } from 'commander';
import pino from 'pino';
import { loadExporterConfig, type ExporterConfig } from '../exporter/config.js';
import { ExporterError } from '../exporter/errors.js';
import { FlowExporter, type DeniedPacketSource } from '../exporter/exporter.js';
import { observationDomainId } from '../exporter/flow-builder.js';
import { serveMetrics } from '../exporter/metrics.js';
import { enableConntrackAccounting } from '../exporter/sysctl.js';
import { CtnetlinkDumper } from '../exporter/conntrack/ctnetlink.js';
import { NflogSource } from '../exporter/nflog/source.js';
import type { ClusterMetadata } from '../exporter/k8s/metadata.js';
import { InventoryMetadata } from '../exporter/k8s/inventory-metadata.js';
import { EXPORTER_TEMPLATES } from '../flow/ie-mapping.js';
import { ExportingProcess, type ExporterTlsOptions } from '../transport/exporting-process.js';
import { systemClock } from '../util/clock.js';

const METADATA_READY_TIMEOUT_MS = 30_000;

function readTls(config: ExporterConfig): ExporterTlsOptions | undefined {
  if (config.collector.protocol !== 'tls') return undefined;
  const read = (key: string, file: string | null) => {
    if (file === null) return undefined;
    try {
      return readFileSync(file);
    } catch (err) {
      throw new ExporterError('EXPORTER_ERR_CONFIG', `config key "${key}": cannot read "${file}": ${(err as Error).message}`, { cause: err });
    }
  };
  const tls: ExporterTlsOptions = {};
  const ca = read('tls.caFile', config.tls.caFile);
  const cert = read('tls.certFile', config.tls.certFile);
  const key = read('tls.keyFile', config.tls.keyFile);
  if (ca) tls.ca = ca;
  if (cert) tls.cert = cert;
  if (key) tls.key = key;
  if (config.tls.serverName) tls.servername = config.tls.serverName;
  return tls;
}

async function buildMetadata(config: ExporterConfig, logger: pino.Logger): Promise<ClusterMetadata | null> {
  const md = config.metadata;
  if (md.source === 'inventory') return new InventoryMetadata({ path: md.inventoryFile, logger: logger.child({ component: 'k8s-inventory' }) });
  if (md.source === 'kubernetes') {
    // Loaded only when used: the Kubernetes client costs tens of MB of heap.
    const { KubernetesApiMetadata } = await import('../exporter/k8s/api-metadata.js');
    return new KubernetesApiMetadata({
      connection: md.kubeconfig ? { kubeconfig: md.kubeconfig } : { inCluster: true },
      logger: logger.child({ component: 'k8s-api' }),
    });
  }
  return null;
}

export function exporterCommand(): Command {
  return new Command('exporter')
    .description(
      'Run the Flow Exporter: dump conntrack every flowPollInterval (plus conntrack events between polls), ' +
        'keep a connection store, and export IPFIX flow records with Kubernetes metadata to flowCollectorAddr ' +
        '(default flow-aggregator.flow-aggregator.svc:4739:tls) on the active (60s) and idle (15s) timeouts. ' +
        'Needs CAP_NET_ADMIN in the network namespace it watches. Serves Prometheus metrics at ' +
        'http://<metricsAddress>/metrics (default 127.0.0.1:10350). On SIGTERM or SIGINT every known ' +
        'connection is exported with flowEndReason 4 (forced end) before exit. Config keys: docs/exporter.md.',
    )
    .requiredOption('-c, --config <file>', 'YAML config: featureGates.FlowExporter, flowCollectorAddr, flowPollInterval, activeFlowExportTimeout, idleFlowExportTimeout, nodeName, metadata, tls, ...')
    .option('--node-name <name>', 'Node name when the config has no nodeName (default: $NODE_NAME, else the host name)')
    .option('--log-level <level>', 'trace, debug, info, warn or error', 'info')
    .action(async (opts: { config: string; nodeName?: string; logLevel: string }) => {
      const defaultNodeName = opts.nodeName ?? process.env.NODE_NAME ?? hostname();
      const config = loadExporterConfig(opts.config, defaultNodeName);
      if (!config.flowExporterEnabled) {
        throw new ExporterError(
          'EXPORTER_ERR_DISABLED',
          `featureGates.FlowExporter is off in ${opts.config} (it is off by default, as in Antrea); write "featureGates: {FlowExporter: true}" to run the exporter`,
        );
      }
      const logger = pino({ level: opts.logLevel, name: 'flowvis-exporter' }, pino.destination(2));
      const tls = readTls(config);

      if (config.conntrackSysctls) {
        for (const r of await enableConntrackAccounting()) {
          if (r.outcome === 'already-on' || r.outcome === 'turned-on') logger.info({ key: r.key, outcome: r.outcome }, 'conntrack sysctl');
          else logger.warn({ key: r.key, outcome: r.outcome, why: r.message }, 'conntrack sysctl not on: counters or timestamps of new connections will be 0');
        }
      }

      const metadata = await buildMetadata(config, logger);
      if (metadata) {
        await metadata.start();
        await metadata.waitUntilReady(METADATA_READY_TIMEOUT_MS).catch((err: Error) => {
          logger.warn({ err: err.message }, 'Kubernetes metadata not ready yet; records lack Pod names until it is');
        });
      }

      const dumper = new CtnetlinkDumper({
        zone: config.conntrackZone,
        onError: (err) => logger.warn({ code: err.code, err: err.message }, 'conntrack source error'),
      });
      const denied: DeniedPacketSource | undefined =
        config.nflogGroup === null
          ? undefined
          : new NflogSource({ group: config.nflogGroup, onError: (err) => logger.warn({ code: err.code, err: err.message }, 'NFLOG source error') });

      const domainId = observationDomainId(config.nodeName);
      const ep = new ExportingProcess({
        host: config.collector.host,
        port: config.collector.port,
        protocol: config.collector.protocol,
        observationDomainId: domainId,
        templates: EXPORTER_TEMPLATES,
        tls,
        maxQueuedRecords: config.maxQueuedRecords,
        logger: logger.child({ component: 'exporting-process' }),
      });
      ep.on('error', (err) => logger.warn({ err: err.message, code: (err as { code?: string }).code }, 'collector connection error; reconnecting with backoff'));
      ep.start();

      const state = config.stateFile === null ? undefined : { file: config.stateFile, saveIntervalMs: config.stateSaveIntervalMs };
      const exporter = new FlowExporter({ config, dumper, metadata, sink: ep, clock: systemClock, logger, denied, state });
      await exporter.start();
      const server = config.metrics ? await serveMetrics(exporter.metrics, config.metrics.host, config.metrics.port) : null;
      logger.info(
        {
          nodeName: config.nodeName,
          observationDomainId: domainId,
          collector: config.flowCollectorAddr,
          pollIntervalMs: config.pollIntervalMs,
          activeTimeoutMs: config.activeTimeoutMs,
          idleTimeoutMs: config.idleTimeoutMs,
          metrics: server?.address() ?? null,
        },
        'flow exporter started',
      );

      const signal = await new Promise<string>((resolve) => {
        process.once('SIGINT', () => resolve('SIGINT'));
        process.once('SIGTERM', () => resolve('SIGTERM'));
      });
      logger.info({ signal }, 'stopping: exporting every known connection with flowEndReason 4');
      await exporter.stop();
      await ep.close();
      await dumper.close();
      await metadata?.stop();
      if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
      logger.info({ ...exporter.stats(), collector: ep.stats() }, 'flow exporter stopped');
    });
}
