// IPFIX codec throughput on the Flow Exporter's IPv4 template (its 37 IEs: the reference's
// 34-IE table with the per-family addresses) and realistic names (Pod names of 20-40 chars).
//
// Sample (npm run bench -- ipfix, Node v20.20.2, Intel(R) Xeon(R) Processor, 2 vCPUs, load average
// 4-5 from the rest of the team's runs; `value` is records per second of this process's CPU time
// over 2 s, bestOf20 the best of 20 runs of ~100 ms each):
//   ipfix.encode                           1,193,769 records/s (838 ns/record; best of 20: 714 ns, 1.40M/s)
//   ipfix.encode.unique-names              1,004,340 records/s (996 ns/record)
//   ipfix.decode                           1,483,047 records/s (674 ns/record; best of 20: 614 ns)
//   ipfix.decode.flowrecord                1,580,154 records/s (decodeAs(FLOW_RECORD_SHAPE))
//   ipfix.decode.flowrecord.via-datarecord 1,245,023 records/s (decode + dataRecordToFlowRecord)
//   ipfix.decode.unique-names              1,240,570 records/s
//   ipfix.decode.interpreted                 183,000 records/s (type switch instead of generated code)
// Encode before this round (code of 3672e4d, same machine, same hour, best of 30 short runs):
// 1,140-1,185 ns/record (840-880k/s); now 780-815 ns (1.22-1.29M/s). The 2-second figure swings
// with the neighbours' load (786-1,344 ns over runs in the same hour), hence the best-of figure.
// What changed: names recently written sit in a direct-mapped table with their bytes as 32-bit
// words (a hit is one === and a DataView store per 4 bytes instead of a character loop);
// IPv4 text is parsed to its value and stored at once; 16/32-bit integers go through a DataView.
// A Map keyed by name was tried first and lost whenever names and addresses are many (100k
// addresses: +30% per record), so the table is fixed-size and allocates nothing.
import type { Benchmark } from './harness.js';
import { MessageDecoder, MessageWriter, VARIABLE_LENGTH } from '../src/ipfix/index.js';
import type { CompiledField, DataRecord, IpfixValue } from '../src/ipfix/index.js';
import { readIpv4, readString, readUnsigned64 } from '../src/ipfix/values.js';
import { EXPORTER_IPV4_TEMPLATE, EXPORTER_IPV4_TEMPLATE_ID, FLOW_RECORD_SHAPE, dataRecordToFlowRecord, flowRecordToDataRecord } from '../src/flow/ie-mapping.js';
import { clusterFlows, flowRecord, rng } from '../test/fixtures/ipfix/flows.js';

const BATCH = 1000;

/**
 * Runs fn for at least minMs of wall time and returns records per second of this process's CPU
 * time (user + system) as well as of wall time. On a shared machine the wall-clock figure
 * measures the neighbours; CPU time measures the code on one core.
 */
function measure(fn: () => number, minMs = 2000): { cpuRate: number; wallRate: number; records: number } {
  let records = 0;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  let wallMs = 0;
  while (wallMs < minMs) {
    records += fn();
    wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  }
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  return { cpuRate: (records * 1000) / cpuMs, wallRate: (records * 1000) / wallMs, records };
}

/**
 * The best of `runs` short runs (about 100 ms of work each), in CPU ns per record: on a shared
 * machine the run least disturbed by the neighbours is the closest to the code's own cost.
 */
function bestOf(fn: () => number, runs = 20): { bestNsPerRecord: number; medianNsPerRecord: number } {
  // Calls per run: as many as take 100 ms of CPU time now.
  const warm = process.cpuUsage();
  let perRun = 0;
  for (let c = process.cpuUsage(warm); c.user + c.system < 100_000; c = process.cpuUsage(warm)) {
    fn();
    perRun++;
  }
  const ns: number[] = [];
  for (let r = 0; r < runs; r++) {
    const c0 = process.cpuUsage();
    let n = 0;
    for (let i = 0; i < perRun; i++) n += fn();
    const c = process.cpuUsage(c0);
    ns.push(((c.user + c.system) * 1000) / n);
  }
  ns.sort((a, b) => a - b);
  return { bestNsPerRecord: +ns[0].toFixed(1), medianNsPerRecord: +ns[runs >> 1].toFixed(1) };
}

function result(name: string, m: ReturnType<typeof measure>, extra: Record<string, unknown>, best?: ReturnType<typeof bestOf>) {
  return {
    name,
    value: Math.round(m.cpuRate),
    unit: 'records/s',
    basis: 'cpu-time',
    nsPerRecord: +(1e9 / m.cpuRate).toFixed(1),
    wallRecordsPerSec: Math.round(m.wallRate),
    ...(best === undefined ? {} : { bestOf20NsPerRecord: best.bestNsPerRecord, bestOf20RecordsPerSec: Math.round(1e9 / best.bestNsPerRecord), medianOf20NsPerRecord: best.medianNsPerRecord }),
    ...extra,
  };
}

/**
 * `cluster`: 1000 flows among 200 Pods, so names repeat as in a real export (the default).
 * `unique`: every flow has two Pod names seen nowhere else, the worst case for the string cache.
 */
function setup(names: 'cluster' | 'unique' = 'cluster'): { writer: MessageWriter; records: DataRecord[]; messages: Buffer[]; template: Buffer[] } {
  const r = rng(42);
  const flows = names === 'cluster' ? clusterFlows(r, BATCH, { pods: 200 }) : Array.from({ length: BATCH }, () => flowRecord(r, 4));
  const records = flows.map(flowRecordToDataRecord);
  const writer = new MessageWriter({ observationDomainId: 1 });
  writer.addTemplate(EXPORTER_IPV4_TEMPLATE);
  return { writer, records, messages: writer.encodeRecords(EXPORTER_IPV4_TEMPLATE_ID, records), template: writer.templateMessages() };
}

function newDecoder(template: Buffer[]): MessageDecoder {
  const decoder = new MessageDecoder();
  for (const m of template) decoder.decode(m);
  return decoder;
}

/**
 * The alternative to code generation, for comparison only: walk the compiled field list per
 * record with a switch on the data type, storing values by computed key. Covers the types of
 * the exporter template (unsigned 8-64, dateTimeSeconds, ipv4Address, string).
 */
function interpretRecord(fields: readonly CompiledField[], b: Buffer, o: number): { record: DataRecord; end: number } {
  const record: DataRecord = {};
  for (const f of fields) {
    let v: IpfixValue;
    let len = f.length;
    if (len === VARIABLE_LENGTH) {
      len = b[o++];
      if (len === 255) {
        len = b.readUInt16BE(o);
        o += 2;
      }
    }
    switch (f.dataType) {
      case 'unsigned8': v = b[o]; break;
      case 'unsigned16': v = b.readUInt16BE(o); break;
      case 'unsigned32': case 'dateTimeSeconds': v = b.readUInt32BE(o); break;
      case 'unsigned64': v = readUnsigned64(b, o); break;
      case 'ipv4Address': v = readIpv4(b, o); break;
      case 'string': v = readString(b, o, o + len); break;
      default: throw new Error(`interpretRecord: ${f.dataType} is not covered`);
    }
    record[f.key] = v;
    o += len;
  }
  return { record, end: o };
}

export const benchmarks: Benchmark[] = [
  {
    name: 'ipfix.encode',
    async run() {
      const { writer, records, messages } = setup();
      const encode = () => writer.encodeRecords(EXPORTER_IPV4_TEMPLATE_ID, records).length * 0 + records.length;
      for (let i = 0; i < 200; i++) encode();
      const m = measure(encode);
      const best = bestOf(encode);
      const bytesPerRecord = +(messages.reduce((n, msg) => n + msg.length, 0) / BATCH).toFixed(1);
      const unique = setup('unique');
      const encodeUnique = () => unique.writer.encodeRecords(EXPORTER_IPV4_TEMPLATE_ID, unique.records).length * 0 + unique.records.length;
      for (let i = 0; i < 200; i++) encodeUnique();
      const mu = measure(encodeUnique);
      return [
        result('ipfix.encode', m, { from: 'DataRecord', names: '1000 flows among 200 Pods', bytesPerRecord, messagesPer1000: messages.length }, best),
        result('ipfix.encode.unique-names', mu, { from: 'DataRecord', names: 'two new Pod names per flow' }),
      ];
    },
  },
  {
    name: 'ipfix.decode',
    async run() {
      const { messages, template } = setup();
      const decoder = newDecoder(template);
      const decodeAll = () => {
        let n = 0;
        for (const m of messages) for (const s of decoder.decode(m).dataSets) n += s.records.length;
        return n;
      };
      for (let i = 0; i < 200; i++) decodeAll();
      const m1 = measure(decodeAll);
      const best1 = bestOf(decodeAll);
      // Straight into FlowRecords, as the collector and aggregator read them.
      const toFlow = () => {
        let n = 0;
        for (const m of messages) {
          for (const s of decoder.decodeAs(m, FLOW_RECORD_SHAPE).dataSets) for (const f of s.records) if (f.ipVersion === 4) n++;
        }
        return n;
      };
      for (let i = 0; i < 200; i++) toFlow();
      const m2 = measure(toFlow);
      // The two-step path it replaces: DataRecord, then dataRecordToFlowRecord.
      const viaDataRecord = () => {
        let n = 0;
        for (const m of messages) {
          for (const s of decoder.decode(m).dataSets) for (const d of s.records) if (dataRecordToFlowRecord(d).ipVersion === 4) n++;
        }
        return n;
      };
      for (let i = 0; i < 200; i++) viaDataRecord();
      const m5 = measure(viaDataRecord);
      const compiled = decoder.templates.get(1, EXPORTER_IPV4_TEMPLATE_ID)!;
      const interpret = () => {
        let n = 0;
        for (const m of messages) {
          // one data set per message, right after the 16-byte header
          const end = m.readUInt16BE(18) + 16;
          for (let o = 20; o < end; n++) o = interpretRecord(compiled.fields, m, o).end;
        }
        return n;
      };
      for (let i = 0; i < 200; i++) interpret();
      const m4 = measure(interpret);
      const unique = setup('unique');
      const decoderU = newDecoder(unique.template);
      const decodeUnique = () => {
        let n = 0;
        for (const m of unique.messages) for (const s of decoderU.decode(m).dataSets) n += s.records.length;
        return n;
      };
      for (let i = 0; i < 200; i++) decodeUnique();
      const m3 = measure(decodeUnique);
      return [
        result('ipfix.decode', m1, { to: 'DataRecord', names: '1000 flows among 200 Pods' }, best1),
        result('ipfix.decode.flowrecord', m2, { to: 'FlowRecord', via: 'decodeAs(FLOW_RECORD_SHAPE)', names: '1000 flows among 200 Pods' }),
        result('ipfix.decode.flowrecord.via-datarecord', m5, { to: 'FlowRecord', via: 'decode + dataRecordToFlowRecord', names: '1000 flows among 200 Pods' }),
        result('ipfix.decode.unique-names', m3, { to: 'DataRecord', names: 'two new Pod names per flow' }),
        result('ipfix.decode.interpreted', m4, { to: 'DataRecord', names: '1000 flows among 200 Pods', note: 'comparison: field loop with a type switch instead of generated code' }),
      ];
    },
  },
];
