// The testbed's contact with the system: running ip/iptables/sysctl, listing and removing
// network namespaces, and stopping processes. Everything else in src/testbed is pure.
import { execFile, execFileSync } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { TestbedError } from './errors.js';

export const REQUIRED_TOOLS = ['ip', 'iptables', 'ip6tables', 'iptables-restore', 'ip6tables-restore', 'sysctl'] as const;

export function findTool(tool: string): boolean {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter).concat(['/usr/sbin', '/sbin'])) {
    try {
      accessSync(join(dir, tool), constants.X_OK);
      return true;
    } catch {
      // next
    }
  }
  return false;
}

/** Why the testbed cannot run here (not root, not Linux, a tool missing), or null. */
export function prerequisiteProblem(): TestbedError | null {
  if (process.platform !== 'linux') return new TestbedError('TESTBED_ERR_NOT_ROOT', 'the testbed builds network namespaces and needs Linux');
  if (process.getuid?.() !== 0) {
    return new TestbedError('TESTBED_ERR_NOT_ROOT', 'the testbed creates network namespaces, veth pairs and iptables rules and needs root: run it with sudo');
  }
  const missing = REQUIRED_TOOLS.filter((t) => !findTool(t));
  if (missing.length > 0) {
    return new TestbedError('TESTBED_ERR_MISSING_TOOL', `missing tools: ${missing.join(', ')}; install them with: apt-get install iproute2 iptables procps`);
  }
  return null;
}

export function run(argv: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(argv[0], argv.slice(1), { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new TestbedError('TESTBED_ERR_COMMAND', `${argv.join(' ')} failed: ${String(stderr).trim() || err.message}`, { cause: err }));
      else resolve(String(stdout));
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

export function listNamespaces(): string[] {
  try {
    const text = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return text.split('\n').map((l) => l.trim().split(/\s+/)[0]).filter((n) => n !== undefined && n !== '');
  } catch {
    return [];
  }
}

export function namespacePids(ns: string): number[] {
  try {
    const text = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return text.split(/\s+/).filter(Boolean).map(Number).filter((n) => Number.isInteger(n) && n > 0);
  } catch {
    return [];
  }
}

/** The command line of a live process, or null when it is gone. */
export function commandLine(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return null;
  }
}

export function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** Waits until every pid has exited (zombies of ours are reaped by node), at most timeoutMs. */
export async function waitForExit(pids: readonly number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let alive = pids.filter(isAlive);
  while (alive.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    alive = alive.filter(isAlive);
  }
  return alive;
}

function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 3 (after the parenthesised command) is the state; Z is a zombie, gone for our purpose.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
