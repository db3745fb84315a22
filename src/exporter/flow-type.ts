// flowType (Antrea 56506/137) from where the two ends of a connection live:
//
//   source \ destination | Pod of this Node | other Pod network | outside the Pod network
//   Pod of this Node     | intra-node 1     | inter-node 2      | to-external 3
//   other Pod network    | inter-node 2     | inter-node 2      | to-external 3
//   outside              | from-external 4  | from-external 4   | unknown 0
//
// "Pod network" is a known Pod IP or an address inside the Pod CIDRs.
import { FlowType } from '../flow/record.js';
import { cidrContains, parseCidr, parseIp, type Cidr } from './policy/ip.js';

/** Where one end of a connection lives. */
export const EndpointKind = {
  localPod: 'localPod',
  remotePod: 'remotePod',
  external: 'external',
} as const;
export type EndpointKind = (typeof EndpointKind)[keyof typeof EndpointKind];

export function flowTypeOf(source: EndpointKind, destination: EndpointKind): FlowType {
  if (source === 'localPod' && destination === 'localPod') return FlowType.intraNode;
  const sourceInPodNetwork = source !== 'external';
  const destinationInPodNetwork = destination !== 'external';
  if (sourceInPodNetwork && destinationInPodNetwork) return FlowType.interNode;
  if (sourceInPodNetwork) return FlowType.toExternal;
  if (destinationInPodNetwork) return FlowType.fromExternal;
  return FlowType.unknown;
}

/**
 * A set of CIDRs, rebuilt only when the list it was built from changes. Answers from a small
 * per-address cache: the same Pod addresses come back in every poll, and parsing an address
 * costs more than the lookup (node:net BlockList allocates a SocketAddress per check).
 */
export class PodCidrSet {
  private cidrs: Cidr[] = [];
  private key = '';
  private readonly cache = new Map<string, boolean>();

  /** Replaces the CIDRs when `cidrs` differs from the last list; cheap when it does not. */
  update(cidrs: readonly string[]): void {
    const key = cidrs.join(',');
    if (key === this.key) return;
    this.cidrs = cidrs.map((c) => parseCidr(c));
    this.key = key;
    this.cache.clear();
  }

  has(address: string): boolean {
    if (this.cidrs.length === 0) return false;
    let hit = this.cache.get(address);
    if (hit === undefined) {
      const ip = parseIp(address);
      hit = ip !== undefined && this.cidrs.some((c) => cidrContains(c, ip));
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(address, hit);
    }
    return hit;
  }
}

const CACHE_LIMIT = 65_536;
