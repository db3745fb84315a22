// `flowvis aggregator --config <file>`: the Flow Aggregator as a long-running process.
import { Command } from 'commander';
import pino from 'pino';
import { loadAggregatorConfig } from '../aggregator/config.js';
import { restoreCertificatesFromKubernetes } from '../aggregator/certificates.js';
import { systemClock } from '../util/clock.js';
import { FlowAggregator } from '../aggregator/service.js';
import { buildAggregatorApi } from '../aggregator/api.js';
import { registerStoreRoutes } from '../api/store-api.js';
import { registerUiRoutes } from '../api/ui-routes.js';

export function aggregatorCommand(): Command {
  return new Command('aggregator')
    .description(
      'Run the Flow Aggregator: collect IPFIX flow records from exporters (tls, tcp or udp on port 4739), ' +
        'correlate the two halves of inter-node flows, aggregate them, and export them every flowExportInterval ' +
        'to an IPFIX collector (externalFlowCollectorAddr) and/or a JSON-lines log. Serves /flowrecords, ' +
        '/recordmetrics and /metrics on apiAddress (default :10348).',
    )
    .requiredOption('-c, --config <file>', 'YAML config with the flow-aggregator.conf keys (see docs/aggregator.md)')
    .option('--log-level <level>', 'trace, debug, info, warn or error', 'info')
    .action(async (opts: { config: string; logLevel: string }) => {
      const config = loadAggregatorConfig(opts.config);
      // Logs go to stderr: stdout may carry the JSON-lines sink.
      const logger = pino({ level: opts.logLevel, name: 'flowvis-aggregator' }, pino.destination(2));
      if (config.aggregatorTransportProtocol === 'tls' && config.kubernetes) {
        // A new Pod (empty certDir) takes the CA its predecessor kept in the cluster, so exporters keep theirs.
        const { namespace, kubeconfig } = config.kubernetes;
        const r = await restoreCertificatesFromKubernetes({ dir: config.certDir, namespace, kubeconfig, renewBeforeMs: config.certRenewBeforeMs, clock: systemClock });
        if (r.kind === 'unusable') logger.warn({ why: r.why }, 'the CA kept in the cluster cannot be used; a new CA is created and exporters restart to take it');
        else logger.info({ ...r }, r.kind === 'restored' ? 'CA restored from the cluster: exporters keep their certificates' : 'certificate directory');
      }
      const aggregator = new FlowAggregator(config, { logger });
      await aggregator.start();
      const api = config.api ? buildAggregatorApi(aggregator) : null;
      // The store's query API (/api/v1/...) on the same server, when a store is configured.
      if (api && config.store) await registerStoreRoutes(api, { repository: () => aggregator.storeRepository() });
      // The dashboards (/ui/ and /api/v1/dashboard/...) read the same store.
      if (api && config.store) await registerUiRoutes(api, { repository: () => aggregator.storeRepository() });
      if (api && config.api) {
        await api.listen({ host: config.api.host, port: config.api.port });
        logger.info({ address: api.server.address() }, 'API listening');
      }
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          logger.info({ signal }, 'stopping: exporting tracked flows and draining sinks');
          resolve();
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
      await api?.close();
      await aggregator.stop();
      logger.info(aggregator.metrics(), 'stopped');
    });
}
