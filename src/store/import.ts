// `flowvis import`: loads an IPFIX file (messages back to back, as a TCP session or nfcapd-less
// capture writes them) or a pcap of IPFIX over UDP or TCP into the store, through the project's
// own decoder (src/ipfix) and IE mapping (src/flow/ie-mapping.ts).
//
// pcap (classic, microsecond or nanosecond, either byte order):
//   global header 24 B: magic u32 | version 2+2 | zone 4 | sigfigs 4 | snaplen 4 | linktype 4
//   record header 16 B: ts_sec u32 | ts_frac u32 | incl_len u32 | orig_len u32, then incl_len B
// Link types: 0 (BSD loopback), 1 (Ethernet, 802.1Q), 101/12/228/229 (raw IP), 113 (Linux SLL),
// 276 (Linux SLL2). UDP: one message per datagram. TCP: each direction of each connection is a
// byte stream cut into messages by the deframer; a gap in sequence numbers restarts the stream.
import { open } from 'node:fs/promises';
import { isIpfixError, MessageDecoder, type DataRecord } from '../ipfix/index.js';
import { IpfixDeframer } from '../ipfix/deframer.js';
import { dataRecordToAggregatedFlowRecord, dataRecordToFlowRecord } from '../flow/ie-mapping.js';
import { FlowType, type AggregatedFlowRecord, type FlowRecord, type NodeCounters } from '../flow/record.js';
import { StoreError } from './errors.js';
import type { FlowRepository } from './repository.js';

export interface ImportProgress {
  bytesRead: number;
  totalBytes: number;
  records: number;
}

export interface ImportStats {
  format: 'ipfix' | 'pcap';
  bytes: number;
  messages: number;
  /** Flow records written to the store. */
  records: number;
  /** Data records that are not flows (no addresses), left out. */
  skippedRecords: number;
  /** Data records whose template was never seen. */
  recordsWithoutTemplate: number;
  /** Messages (or TCP streams) the decoder refused. */
  badMessages: number;
  packets: number;
  /** Packets that carry no UDP/TCP payload over IPv4/IPv6. */
  otherPackets: number;
  /** TCP sequence gaps that restarted a stream. */
  tcpGaps: number;
  /**
   * TCP packets not read because their stream failed (after a bad message, until a packet that
   * starts with an IPFIX message header restarts it, as after a gap).
   */
  unreadPackets: number;
}

export interface ImportOptions {
  batchSize?: number;
  onProgress?: (p: ImportProgress) => void;
  /** Stamped as timeInserted; default now. */
  insertedAtSeconds?: number;
}

const AGGREGATED_KEYS = ['originalObservationDomainId', 'packetTotalCountFromSourceNode', 'throughput'];
const zero = (): NodeCounters => ({
  packetTotalCount: 0, octetTotalCount: 0, packetDeltaCount: 0, octetDeltaCount: 0,
  reversePacketTotalCount: 0, reverseOctetTotalCount: 0, reversePacketDeltaCount: 0, reverseOctetDeltaCount: 0,
});

/** An exporter's record as stored: no per-Node counters, the exporter's address as sent from. */
function asAggregated(r: FlowRecord, exporter: string): AggregatedFlowRecord {
  return {
    ...r,
    fromSourceNode: zero(),
    fromDestinationNode: zero(),
    throughput: 0,
    reverseThroughput: 0,
    throughputFromSourceNode: 0,
    throughputFromDestinationNode: 0,
    reverseThroughputFromSourceNode: 0,
    reverseThroughputFromDestinationNode: 0,
    flowEndSecondsFromSourceNode: 0,
    flowEndSecondsFromDestinationNode: 0,
    originalExporterAddress: exporter,
    originalObservationDomainId: 0,
    correlated: r.flowType !== FlowType.interNode,
  };
}

class Loader {
  readonly stats: ImportStats;
  private batch: AggregatedFlowRecord[] = [];
  private readonly decoders = new Map<string, MessageDecoder>();
  private readonly batchSize: number;
  private readonly insertedAt: number;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly repo: FlowRepository,
    format: 'ipfix' | 'pcap',
    options: ImportOptions,
  ) {
    this.stats = { format, bytes: 0, messages: 0, records: 0, skippedRecords: 0, recordsWithoutTemplate: 0, badMessages: 0, packets: 0, otherPackets: 0, tcpGaps: 0, unreadPackets: 0 };
    this.batchSize = options.batchSize ?? 50_000;
    this.insertedAt = options.insertedAtSeconds ?? Math.floor(Date.now() / 1000);
  }

  /** Decodes one whole message of a session; a refused message is counted, never fatal. */
  message(session: string, exporter: string, msg: Buffer): void {
    let decoder = this.decoders.get(session);
    if (!decoder) {
      decoder = new MessageDecoder();
      this.decoders.set(session, decoder);
    }
    let decoded;
    try {
      decoded = decoder.decode(msg);
    } catch (err) {
      if (!isIpfixError(err)) throw err;
      this.stats.badMessages++;
      return;
    }
    this.stats.messages++;
    this.stats.recordsWithoutTemplate += decoded.recordsWithoutTemplate;
    for (const set of decoded.dataSets) for (const d of set.records) this.record(d, exporter);
  }

  private record(d: DataRecord, exporter: string): void {
    const aggregated = AGGREGATED_KEYS.some((k) => k in d);
    const r = aggregated ? dataRecordToAggregatedFlowRecord(d) : asAggregated(dataRecordToFlowRecord(d), exporter);
    if (r.sourceAddress === '' || r.destinationAddress === '') {
      this.stats.skippedRecords++;
      return;
    }
    this.batch.push(r);
  }

  /** Writes the batch when full; `force` writes what there is. */
  async drain(force = false): Promise<void> {
    if (this.batch.length === 0 || (!force && this.batch.length < this.batchSize)) return;
    const batch = this.batch;
    this.batch = [];
    await this.writing;
    this.writing = this.repo.insertFlows(batch, this.insertedAt);
    await this.writing;
    this.stats.records += batch.length;
  }
}

const PCAP_MAGIC = new Map<number, { le: boolean }>([
  [0xa1b2c3d4, { le: false }],
  [0xa1b23c4d, { le: false }],
  [0xd4c3b2a1, { le: true }],
  [0x4d3cb2a1, { le: true }],
]);

interface TcpStream {
  next: number;
  deframer: IpfixDeframer;
  dead: boolean;
}

function ipText4(b: Buffer, o: number): string {
  return `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
}

/** RFC 5952 text: the longest run of two or more zero groups becomes "::". */
function ipText6(b: Buffer, o: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(b.readUInt16BE(o + i * 2));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(':');
  return best < 0 ? hex(groups) : `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLen))}`;
}

/** Handles one captured frame of a pcap. */
function frame(loader: Loader, streams: Map<string, TcpStream>, linktype: number, le: boolean, b: Buffer): void {
  loader.stats.packets++;
  let off: number;
  let ethertype: number;
  switch (linktype) {
    case 1: {
      if (b.length < 14) return void loader.stats.otherPackets++;
      ethertype = b.readUInt16BE(12);
      off = 14;
      while ((ethertype === 0x8100 || ethertype === 0x88a8) && b.length >= off + 4) {
        ethertype = b.readUInt16BE(off + 2);
        off += 4;
      }
      break;
    }
    case 0: {
      if (b.length < 4) return void loader.stats.otherPackets++;
      const family = le ? b.readUInt32LE(0) : b.readUInt32BE(0);
      ethertype = family === 2 ? 0x0800 : 0x86dd;
      off = 4;
      break;
    }
    case 113:
      if (b.length < 16) return void loader.stats.otherPackets++;
      ethertype = b.readUInt16BE(14);
      off = 16;
      break;
    case 276:
      if (b.length < 20) return void loader.stats.otherPackets++;
      ethertype = b.readUInt16BE(0);
      off = 20;
      break;
    case 12:
    case 101:
    case 228:
    case 229:
      ethertype = b.length > 0 && b[0] >> 4 === 6 ? 0x86dd : 0x0800;
      off = 0;
      break;
    default:
      throw new StoreError('STORE_ERR_IMPORT_FORMAT', `pcap link type ${linktype} is not supported; capture on an Ethernet, loopback or "any" interface`);
  }
  let proto: number;
  let src: string;
  let dst: string;
  let l4: number;
  let end: number;
  if (ethertype === 0x0800 && b.length >= off + 20 && b[off] >> 4 === 4) {
    const ihl = (b[off] & 0x0f) * 4;
    end = Math.min(b.length, off + b.readUInt16BE(off + 2));
    if ((b.readUInt16BE(off + 6) & 0x3fff) !== 0) return void loader.stats.otherPackets++; // fragment
    proto = b[off + 9];
    src = ipText4(b, off + 12);
    dst = ipText4(b, off + 16);
    l4 = off + ihl;
  } else if (ethertype === 0x86dd && b.length >= off + 40 && b[off] >> 4 === 6) {
    proto = b[off + 6];
    end = Math.min(b.length, off + 40 + b.readUInt16BE(off + 4));
    src = ipText6(b, off + 8);
    dst = ipText6(b, off + 24);
    l4 = off + 40;
  } else {
    return void loader.stats.otherPackets++;
  }
  if (proto === 17 && end - l4 >= 8) {
    const sport = b.readUInt16BE(l4);
    const payload = b.subarray(l4 + 8, end);
    if (payload.length >= 16 && payload.readUInt16BE(0) === 10) {
      loader.message(`udp ${src}:${sport}`, src, Buffer.from(payload.subarray(0, Math.min(payload.length, payload.readUInt16BE(2)))));
    } else {
      loader.stats.otherPackets++;
    }
    return;
  }
  if (proto === 6 && end - l4 >= 20) {
    const sport = b.readUInt16BE(l4);
    const dport = b.readUInt16BE(l4 + 2);
    const seq = b.readUInt32BE(l4 + 4);
    const flags = b[l4 + 13];
    const payload = b.subarray(l4 + (b[l4 + 12] >> 4) * 4, end);
    const key = `tcp ${src}:${sport}>${dst}:${dport}`;
    let s = streams.get(key);
    if (flags & 0x02) {
      // SYN: a new connection; its data starts after the SYN's sequence number.
      s = { next: (seq + 1) >>> 0, deframer: new IpfixDeframer(), dead: false };
      streams.set(key, s);
      return;
    }
    if (payload.length === 0) return;
    if (!s) {
      s = { next: seq, deframer: new IpfixDeframer(), dead: false };
      streams.set(key, s);
    }
    if (s.dead) {
      // The stream failed at a bad message: it restarts at a packet that starts a message.
      if (payload.length < 2 || payload.readUInt16BE(0) !== 10) {
        loader.stats.unreadPackets++;
        s.next = (seq + payload.length) >>> 0;
        return;
      }
      s.dead = false;
      s.deframer = new IpfixDeframer();
      s.next = seq;
    }
    let data = payload;
    const behind = (s.next - seq) >>> 0;
    if (behind !== 0) {
      if (behind < 0x80000000) {
        // A retransmission: keep only bytes past what we have.
        if (behind >= payload.length) return;
        data = payload.subarray(behind);
      } else {
        // A gap: bytes are missing, so the stream restarts at the next message boundary we can find.
        loader.stats.tcpGaps++;
        s.deframer = new IpfixDeframer();
        if (payload.length < 2 || payload.readUInt16BE(0) !== 10) {
          s.next = (seq + payload.length) >>> 0;
          return;
        }
      }
    }
    s.next = (seq + payload.length) >>> 0;
    try {
      s.deframer.push(Buffer.from(data), (m) => loader.message(key, src, m));
    } catch (err) {
      if (!isIpfixError(err)) throw err;
      loader.stats.badMessages++;
      s.dead = true;
    }
    return;
  }
  loader.stats.otherPackets++;
}

/** Imports one file into the repository; returns what was read and written. */
export async function importFile(path: string, repo: FlowRepository, options: ImportOptions = {}): Promise<ImportStats> {
  const fh = await open(path, 'r').catch((err: Error) => {
    throw new StoreError('STORE_ERR_IMPORT_FORMAT', `cannot open ${path}: ${err.message}`);
  });
  try {
    const totalBytes = (await fh.stat()).size;
    const head = Buffer.alloc(4);
    await fh.read(head, 0, 4, 0);
    const magic = head.readUInt32BE(0);
    const pcap = PCAP_MAGIC.get(magic);
    if (magic === 0x0a0d0d0a) {
      throw new StoreError('STORE_ERR_IMPORT_FORMAT', `${path} is pcapng; convert it first: editcap -F pcap ${path} out.pcap`);
    }
    if (!pcap && head.readUInt16BE(0) !== 10) {
      throw new StoreError('STORE_ERR_IMPORT_FORMAT', `${path} is neither IPFIX (version 10 messages) nor a pcap file (magic ${magic.toString(16)})`);
    }
    const loader = new Loader(repo, pcap ? 'pcap' : 'ipfix', options);
    const chunkSize = 4 << 20;
    let position = 0;
    const progress = () => options.onProgress?.({ bytesRead: position, totalBytes, records: loader.stats.records });

    if (!pcap) {
      const deframer = new IpfixDeframer();
      const chunk = Buffer.allocUnsafe(chunkSize);
      for (;;) {
        const { bytesRead } = await fh.read(chunk, 0, chunkSize, position);
        if (bytesRead === 0) break;
        position += bytesRead;
        try {
          deframer.push(Buffer.from(chunk.subarray(0, bytesRead)), (m) => loader.message('file', '', m));
        } catch (err) {
          if (!isIpfixError(err)) throw err;
          throw new StoreError('STORE_ERR_IMPORT_FORMAT', `${path}: not IPFIX from byte ${position - bytesRead} on: ${err.message}`);
        }
        await loader.drain();
        progress();
      }
      if (deframer.bufferedBytes > 0) loader.stats.badMessages++;
    } else {
      const le = pcap.le;
      const global = Buffer.alloc(24);
      if ((await fh.read(global, 0, 24, 0)).bytesRead < 24) throw new StoreError('STORE_ERR_IMPORT_FORMAT', `${path}: the pcap header is cut short`);
      const linktype = (le ? global.readUInt32LE(20) : global.readUInt32BE(20)) & 0x0fffffff;
      position = 24;
      const streams = new Map<string, TcpStream>();
      let carry: Buffer = Buffer.alloc(0);
      const chunk = Buffer.allocUnsafe(chunkSize);
      let filePos = 24;
      for (;;) {
        const { bytesRead } = await fh.read(chunk, 0, chunkSize, filePos);
        if (bytesRead === 0) break;
        filePos += bytesRead;
        const buf = carry.length ? Buffer.concat([carry, chunk.subarray(0, bytesRead)]) : chunk.subarray(0, bytesRead);
        let off = 0;
        while (buf.length - off >= 16) {
          const incl = le ? buf.readUInt32LE(off + 8) : buf.readUInt32BE(off + 8);
          if (incl > 256 * 1024 * 1024) throw new StoreError('STORE_ERR_IMPORT_FORMAT', `${path}: a pcap record at byte ${position} claims ${incl} bytes; the file is damaged`);
          if (buf.length - off < 16 + incl) break;
          frame(loader, streams, linktype, le, buf.subarray(off + 16, off + 16 + incl));
          off += 16 + incl;
          position += 16 + incl;
        }
        carry = Buffer.from(buf.subarray(off));
        await loader.drain();
        progress();
      }
      if (carry.length > 0) loader.stats.badMessages++;
    }
    await loader.drain(true);
    loader.stats.bytes = totalBytes;
    position = totalBytes;
    progress();
    return loader.stats;
  } finally {
    await fh.close();
  }
}
