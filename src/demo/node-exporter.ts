// One simulated Node's Flow Exporter on the wire: the real IPFIX Exporting Process, with the
// exporter templates and the Node's own observation domain ID (the same FNV-1a of the Node name
// that `flowvis exporter` uses), so the aggregator cannot tell it from a real exporter.
import { ExportingProcess, type ExportingProcessStats } from '../transport/exporting-process.js';
import type { TransportLogger } from '../transport/errors.js';
import { EXPORTER_TEMPLATES, exporterTemplateId, flowRecordToDataRecord } from '../flow/ie-mapping.js';
import type { FlowRecord } from '../flow/record.js';
import type { DataRecord } from '../ipfix/api.js';
import { observationDomainId } from '../exporter/flow-builder.js';

export interface SimulatedExporterOptions {
  nodeName: string;
  host: string;
  port: number;
  logger?: TransportLogger;
}

export class SimulatedNodeExporter {
  readonly nodeName: string;
  readonly observationDomainId: number;
  readonly process: ExportingProcess;
  private sent = 0;

  constructor(options: SimulatedExporterOptions) {
    this.nodeName = options.nodeName;
    this.observationDomainId = observationDomainId(options.nodeName);
    this.process = new ExportingProcess({
      host: options.host,
      port: options.port,
      protocol: 'tcp',
      observationDomainId: this.observationDomainId,
      templates: EXPORTER_TEMPLATES,
      // A backfill window can hold many records; beyond this they are dropped and counted.
      maxQueuedRecords: 262_144,
      backoff: { initialMs: 250, maxMs: 5000 },
      ...(options.logger ? { logger: options.logger } : {}),
    });
  }

  start(): void {
    this.process.start();
  }

  /** Queues the records for export; returns how many were accepted (the rest are counted as dropped). */
  send(records: readonly FlowRecord[]): number {
    const v4: DataRecord[] = [];
    const v6: DataRecord[] = [];
    for (const r of records) (r.ipVersion === 4 ? v4 : v6).push(flowRecordToDataRecord(r));
    let accepted = 0;
    if (v4.length > 0) accepted += this.process.send(exporterTemplateId(4), v4);
    if (v6.length > 0) accepted += this.process.send(exporterTemplateId(6), v6);
    this.sent += accepted;
    return accepted;
  }

  /** Records accepted for export so far. */
  get recordsAccepted(): number {
    return this.sent;
  }

  flush(): Promise<void> {
    return this.process.flush();
  }

  stats(): ExportingProcessStats {
    return this.process.stats();
  }

  close(): Promise<void> {
    return this.process.close();
  }
}
