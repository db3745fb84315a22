// flowType (Antrea 56506/137) from where the two ends of a connection live:
//
//   source \ destination | Pod of this Node | other Pod network | outside the Pod network
//   Pod of this Node     | intra-node 1     | inter-node 2      | to-external 3
//   other Pod network    | inter-node 2     | inter-node 2      | to-external 3
//   outside              | from-external 4  | from-external 4   | unknown 0
//
// "Pod network" is a known Pod IP or an address inside the Pod CIDRs.
import { BlockList } from 'node:net';
import { FlowType } from '../flow/record.js';

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

/** A set of CIDRs, rebuilt only when the list it was built from changes. */
export class PodCidrSet {
  private list = new BlockList();
  private key = '';

  /** Replaces the CIDRs when `cidrs` differs from the last list; cheap when it does not. */
  update(cidrs: readonly string[]): void {
    const key = cidrs.join(',');
    if (key === this.key) return;
    const list = new BlockList();
    for (const c of cidrs) {
      const slash = c.indexOf('/');
      const address = c.slice(0, slash);
      list.addSubnet(address, Number(c.slice(slash + 1)), address.includes(':') ? 'ipv6' : 'ipv4');
    }
    this.list = list;
    this.key = key;
  }

  has(address: string): boolean {
    if (this.key === '') return false;
    return this.list.check(address, address.includes(':') ? 'ipv6' : 'ipv4');
  }
}
