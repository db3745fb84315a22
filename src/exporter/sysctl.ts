// Kernel switches the Flow Exporter wants at start (reference, "Flow Exporter"): per-direction
// counters (net.netfilter.nf_conntrack_acct) and start/stop timestamps
// (net.netfilter.nf_conntrack_timestamp). Both are per network namespace. They apply to
// connections created after the switch; older ones keep zero counters and timestamps.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const CONNTRACK_SYSCTLS = ['net.netfilter.nf_conntrack_acct', 'net.netfilter.nf_conntrack_timestamp'] as const;

export type SysctlOutcome =
  /** It was already 1. */
  | 'already-on'
  /** We wrote 1 and read it back. */
  | 'turned-on'
  /** Writing was refused (no CAP_NET_ADMIN, read-only /proc/sys); the message says why. */
  | 'not-permitted'
  /** The key does not exist (conntrack not in this kernel, or the feature compiled out). */
  | 'missing'
  /** Read or write failed otherwise, or the value did not stick. */
  | 'failed';

export interface SysctlResult {
  key: string;
  outcome: SysctlOutcome;
  /** The value read before any write; null when it could not be read. */
  before: string | null;
  /** What went wrong, for the log; '' when nothing did. */
  message: string;
}

function keyPath(procSys: string, key: string): string {
  return join(procSys, ...key.split('.'));
}

/** Sets one sysctl to "1" unless it already is. Never throws. */
export async function enableSysctl(key: string, procSys = '/proc/sys'): Promise<SysctlResult> {
  const path = keyPath(procSys, key);
  let before: string;
  try {
    before = (await readFile(path, 'utf8')).trim();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { key, outcome: 'missing', before: null, message: `${path} does not exist` };
    return { key, outcome: 'failed', before: null, message: `reading ${path}: ${(err as Error).message}` };
  }
  if (before === '1') return { key, outcome: 'already-on', before, message: '' };
  try {
    await writeFile(path, '1\n');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const outcome = code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? 'not-permitted' : 'failed';
    return { key, outcome, before, message: `writing 1 to ${path}: ${(err as Error).message}` };
  }
  const after = (await readFile(path, 'utf8').catch(() => '')).trim();
  if (after !== '1') return { key, outcome: 'failed', before, message: `wrote 1 to ${path} but it reads "${after}"` };
  return { key, outcome: 'turned-on', before, message: '' };
}

/**
 * Turns on conntrack accounting and timestamps where permitted. The caller logs every result
 * whose outcome is not 'already-on' or 'turned-on': counters or timestamps will then be 0.
 */
export async function enableConntrackAccounting(procSys = '/proc/sys'): Promise<SysctlResult[]> {
  const results: SysctlResult[] = [];
  for (const key of CONNTRACK_SYSCTLS) results.push(await enableSysctl(key, procSys));
  return results;
}
