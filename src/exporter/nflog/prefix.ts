// The NFLOG prefix that flowvis policy enforcement writes in front of a DROP or REJECT rule,
// so that the NFLOG source knows the verdict and the policy without evaluating anything:
//
//   flowvis:<action>:<direction>:<policy>
//
//   action     D = the packet is dropped, R = it is rejected
//   direction  I = ingress rule of the destination Pod, E = egress rule of the source Pod
//   policy     free text, by convention "<namespace>/<name>" of the NetworkPolicy whose
//              isolation denies the packet, or "" when no policy is named
//
// Example:  iptables -A FV-INGRESS -d 10.0.1.5 -j NFLOG --nflog-group 5 --nflog-prefix "flowvis:D:I:prod/db-allow"
//           iptables -A FV-INGRESS -d 10.0.1.5 -j DROP
// xt_NFLOG keeps at most 63 bytes of prefix, so the whole prefix must fit in 63 bytes.
import { KernelSourceError } from '../conntrack/errors.js';

export const DENY_PREFIX_MAGIC = 'flowvis:';
export const NFLOG_PREFIX_MAX_BYTES = 63;

export type DenyAction = 'drop' | 'reject';
export type DenyDirection = 'ingress' | 'egress';

export interface DenyPrefix {
  action: DenyAction;
  direction: DenyDirection;
  policy: string;
}

/** Writes the prefix for an iptables NFLOG rule; throws NFLOG_ERR_PREFIX when it would not fit. */
export function formatDenyPrefix(p: DenyPrefix): string {
  const s = `${DENY_PREFIX_MAGIC}${p.action === 'drop' ? 'D' : 'R'}:${p.direction === 'ingress' ? 'I' : 'E'}:${p.policy}`;
  const bytes = Buffer.byteLength(s);
  if (bytes > NFLOG_PREFIX_MAX_BYTES) {
    throw new KernelSourceError('NFLOG_ERR_PREFIX', `prefix "${s}" is ${bytes} bytes; NFLOG keeps ${NFLOG_PREFIX_MAX_BYTES}: shorten the policy text`);
  }
  return s;
}

/**
 * Reads a prefix. Returns null for prefixes that are not flowvis's (other NFLOG users);
 * throws NFLOG_ERR_PREFIX for a "flowvis:" prefix that does not follow the format.
 */
export function parseDenyPrefix(prefix: string): DenyPrefix | null {
  if (!prefix.startsWith(DENY_PREFIX_MAGIC)) return null;
  const a = prefix[DENY_PREFIX_MAGIC.length];
  const d = prefix[DENY_PREFIX_MAGIC.length + 2];
  if (
    (a !== 'D' && a !== 'R') ||
    prefix[DENY_PREFIX_MAGIC.length + 1] !== ':' ||
    (d !== 'I' && d !== 'E') ||
    (prefix.length > DENY_PREFIX_MAGIC.length + 3 && prefix[DENY_PREFIX_MAGIC.length + 3] !== ':')
  ) {
    throw new KernelSourceError('NFLOG_ERR_PREFIX', `"${prefix}" is not flowvis:<D|R>:<I|E>:<policy>`);
  }
  return {
    action: a === 'D' ? 'drop' : 'reject',
    direction: d === 'I' ? 'ingress' : 'egress',
    policy: prefix.slice(DENY_PREFIX_MAGIC.length + 4),
  };
}
