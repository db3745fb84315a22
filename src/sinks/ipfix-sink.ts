// IPFIX sink: re-exports aggregated records to externalFlowCollectorAddr with the aggregator
// templates (every IE of the reference's two tables, plus the throughput and
// originalExporter IEs), through the library's ExportingProcess (reconnect, bounded queue).
import type { AggregatedFlowRecord } from '../flow/record.js';
import {
  AGGREGATOR_TEMPLATES,
  AGGREGATOR_IPV4_TEMPLATE_ID,
  AGGREGATOR_IPV6_TEMPLATE_ID,
  AGGREGATED_FLOW_RECORD_ENCODE_SHAPE,
} from '../flow/ie-mapping.js';
import { ExportingProcess, type ExportingProcessStats } from '../transport/exporting-process.js';
import type { CollectorAddress } from '../util/address.js';
import { TransportError, type TransportLogger } from '../transport/errors.js';
import type { EncodedRecords } from '../ipfix/writer.js';
import type { Sink } from './sink.js';

export interface IpfixSinkOptions {
  collector: CollectorAddress;
  observationDomainId?: number;
  maxQueuedRecords?: number;
  logger?: TransportLogger;
}

export class IpfixSink implements Sink {
  readonly name = 'ipfix';
  private readonly exporting: ExportingProcess;
  /** Encoded records handed over after close() (writeEncoded), dropped. */
  private droppedAfterClose = 0;

  constructor(options: IpfixSinkOptions) {
    this.exporting = new ExportingProcess({
      host: options.collector.host,
      port: options.collector.port,
      protocol: options.collector.protocol,
      observationDomainId: options.observationDomainId ?? 0,
      templates: AGGREGATOR_TEMPLATES,
      ...(options.maxQueuedRecords === undefined ? {} : { maxQueuedRecords: options.maxQueuedRecords }),
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    });
    this.exporting.start();
  }

  async write(records: readonly AggregatedFlowRecord[]): Promise<void> {
    // Encoded straight from the records (a generated writer per template), no DataRecord each.
    let v6 = 0;
    for (let i = 0; i < records.length; i++) if (records[i].ipVersion === 6) v6++;
    // The exporting process queues while disconnected and counts what it must drop.
    if (v6 === 0) {
      this.exporting.sendAs(AGGREGATOR_IPV4_TEMPLATE_ID, records, AGGREGATED_FLOW_RECORD_ENCODE_SHAPE);
      return;
    }
    const v4Records: AggregatedFlowRecord[] = [];
    const v6Records: AggregatedFlowRecord[] = [];
    for (const r of records) (r.ipVersion === 6 ? v6Records : v4Records).push(r);
    if (v4Records.length > 0) this.exporting.sendAs(AGGREGATOR_IPV4_TEMPLATE_ID, v4Records, AGGREGATED_FLOW_RECORD_ENCODE_SHAPE);
    this.exporting.sendAs(AGGREGATOR_IPV6_TEMPLATE_ID, v6Records, AGGREGATED_FLOW_RECORD_ENCODE_SHAPE);
  }

  /**
   * Aggregator IPv4 data records encoded already (the aggregation's direct export path,
   * AggregationOptions.onExportEncoded): queued as they are, framed by the exporting process.
   * Returns how many were accepted; the exporting process counts the rest as dropped.
   */
  writeEncoded(batch: EncodedRecords): number {
    try {
      return this.exporting.sendEncoded(batch);
    } catch (err) {
      // After close() nothing leaves: the batch is dropped and counted, as the sink buffer
      // counts records it cannot hand over.
      if (!(err instanceof TransportError && err.code === 'TRANSPORT_ERR_CLOSED')) throw err;
      this.droppedAfterClose += batch.count;
      batch.release?.();
      return 0;
    }
  }

  stats(): ExportingProcessStats {
    const s = this.exporting.stats();
    return this.droppedAfterClose === 0 ? s : { ...s, recordsDropped: s.recordsDropped + this.droppedAfterClose };
  }

  async close(): Promise<void> {
    await this.exporting.close();
  }
}
