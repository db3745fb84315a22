// Builds classic libpcap files (LINKTYPE_ETHERNET) from packets the tests describe, with
// correct Ethernet, IPv4, UDP and TCP headers and checksums, so that tshark and softflowd
// read them like a capture.
//
// pcap global header (24 bytes, little-endian here):
//   magic a1b2c3d4 | version 2.4 | thiszone 0 | sigfigs 0 | snaplen | linktype 1 (Ethernet)
// record header (16 bytes): ts_sec | ts_usec | incl_len | orig_len, then the frame.
import { writeFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';

export interface PcapPacket {
  /** Microseconds since the Unix epoch. */
  timestampUs: number;
  frame: Uint8Array;
}

export function pcapFile(packets: readonly PcapPacket[], snaplen = 65535): Buffer {
  const total = 24 + packets.reduce((n, p) => n + 16 + p.frame.length, 0);
  const buf = Buffer.alloc(total);
  buf.writeUInt32LE(0xa1b2c3d4, 0);
  buf.writeUInt16LE(2, 4);
  buf.writeUInt16LE(4, 6);
  buf.writeInt32LE(0, 8);
  buf.writeUInt32LE(0, 12);
  buf.writeUInt32LE(snaplen, 16);
  buf.writeUInt32LE(1, 20);
  let off = 24;
  for (const p of packets) {
    buf.writeUInt32LE(Math.floor(p.timestampUs / 1e6), off);
    buf.writeUInt32LE(p.timestampUs % 1e6, off + 4);
    buf.writeUInt32LE(p.frame.length, off + 8);
    buf.writeUInt32LE(p.frame.length, off + 12);
    buf.set(p.frame, off + 16);
    off += 16 + p.frame.length;
  }
  return buf;
}

export function writePcap(path: string, packets: readonly PcapPacket[]): void {
  writeFileSync(path, pcapFile(packets));
}

function ipv4Bytes(address: string): number[] {
  if (!isIPv4(address)) throw new Error(`not an IPv4 address: ${address}`);
  return address.split('.').map(Number);
}

/** RFC 1071 ones'-complement sum over the given byte ranges. */
function checksum(...parts: Uint8Array[]): number {
  let sum = 0;
  for (const part of parts) {
    for (let i = 0; i + 1 < part.length; i += 2) sum += (part[i] << 8) | part[i + 1];
    if (part.length % 2 === 1) sum += part[part.length - 1] << 8;
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export interface Ipv4Endpoints {
  sourceAddress: string;
  destinationAddress: string;
  sourcePort: number;
  destinationPort: number;
}

const SOURCE_MAC = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
const DESTINATION_MAC = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02];

function ethernetIpv4(protocol: number, ends: Ipv4Endpoints, l4: Buffer, ttl = 64): Buffer {
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + l4.length, 2);
  ip.writeUInt16BE(0x4000, 6); // don't fragment
  ip[8] = ttl;
  ip[9] = protocol;
  ip.set(ipv4Bytes(ends.sourceAddress), 12);
  ip.set(ipv4Bytes(ends.destinationAddress), 16);
  ip.writeUInt16BE(checksum(ip), 10);
  const eth = Buffer.from([...DESTINATION_MAC, ...SOURCE_MAC, 0x08, 0x00]);
  return Buffer.concat([eth, ip, l4]);
}

function pseudoHeader(protocol: number, ends: Ipv4Endpoints, length: number): Buffer {
  const ph = Buffer.alloc(12);
  ph.set(ipv4Bytes(ends.sourceAddress), 0);
  ph.set(ipv4Bytes(ends.destinationAddress), 4);
  ph[9] = protocol;
  ph.writeUInt16BE(length, 10);
  return ph;
}

/** An Ethernet + IPv4 + UDP frame carrying `payload`. */
export function udpFrame(ends: Ipv4Endpoints, payload: Uint8Array): Buffer {
  const udp = Buffer.alloc(8 + payload.length);
  udp.writeUInt16BE(ends.sourcePort, 0);
  udp.writeUInt16BE(ends.destinationPort, 2);
  udp.writeUInt16BE(udp.length, 4);
  udp.set(payload, 8);
  const sum = checksum(pseudoHeader(17, ends, udp.length), udp);
  udp.writeUInt16BE(sum === 0 ? 0xffff : sum, 6);
  return ethernetIpv4(17, ends, udp);
}

export const TcpFlags = { fin: 0x01, syn: 0x02, rst: 0x04, psh: 0x08, ack: 0x10 } as const;

/** An Ethernet + IPv4 + TCP frame (20-byte header, no options) carrying `payload`. */
export function tcpFrame(
  ends: Ipv4Endpoints,
  flags: number,
  seq: number,
  ack: number,
  payload: Uint8Array = new Uint8Array(0),
): Buffer {
  const tcp = Buffer.alloc(20 + payload.length);
  tcp.writeUInt16BE(ends.sourcePort, 0);
  tcp.writeUInt16BE(ends.destinationPort, 2);
  tcp.writeUInt32BE(seq >>> 0, 4);
  tcp.writeUInt32BE(ack >>> 0, 8);
  tcp[12] = 5 << 4;
  tcp[13] = flags;
  tcp.writeUInt16BE(65535, 14);
  tcp.set(payload, 20);
  tcp.writeUInt16BE(checksum(pseudoHeader(6, ends, tcp.length), tcp), 16);
  return ethernetIpv4(6, ends, tcp);
}

/** The byte count an IP flow meter (softflowd, nfcapd) reports for a frame: its IP length. */
export function ipLength(frame: Uint8Array): number {
  return (frame[16] << 8) | frame[17];
}
