// Network namespaces and veth pairs for integration tests, with guaranteed cleanup.
//
//   const skip = netnsSkipReason(['iptables']);          // string reason, or false
//   describe('...', { skip }, () => {
//     const bed = new NetnsBed('ct');                    // names: fv-ct-<pid>-<n>
//     let a: Netns, b: Netns;
//     before(async () => {
//       a = await bed.namespace();
//       b = await bed.namespace();
//       await bed.link(a, b);                            // a: 10.231.0.1/24 fd00:231:1::1/64
//     });                                                // b: 10.231.0.2/24 fd00:231:1::2/64
//     after(() => bed.cleanup());
//     it('...', async () => { await a.exec('ip', ['addr']); const p = a.spawn('node', [...]); });
//   });
//
// cleanup() kills every process left in the namespaces (those spawned here and any other) and
// deletes them; a process 'exit' hook does the same if a test never reached cleanup(). Under
// CI=true a missing prerequisite throws instead of returning a skip reason.
import { execFile, execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface ExecResult {
  stdout: string;
  stderr: string;
}

function findTool(tool: string): boolean {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter)) {
    try {
      accessSync(join(dir, tool), constants.X_OK);
      return true;
    } catch {
      // next
    }
  }
  return false;
}

/**
 * Why namespace tests cannot run here (not root, `ip` or another tool missing), or false.
 * Under CI=true this throws: a missing prerequisite is a failure there, not a skip.
 */
export function netnsSkipReason(tools: readonly string[] = []): string | false {
  let reason: string | false = false;
  if (process.platform !== 'linux') reason = 'network namespaces need Linux';
  else if (process.getuid?.() !== 0) reason = 'network namespaces need root (run the tests as root)';
  else {
    const missing = ['ip', ...tools].filter((t) => !findTool(t));
    if (missing.length > 0) reason = `missing tools: ${missing.join(', ')} (apt-get install iproute2 ${missing.join(' ')})`;
  }
  if (reason !== false && process.env.CI === 'true') throw new Error(`CI=true and ${reason}`);
  return reason;
}

function run(cmd: string, args: readonly string[], input?: string): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${stderr.trim() || err.message}`, { cause: err }));
      else resolve({ stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** One network namespace made by a NetnsBed. */
export class Netns {
  private readonly children = new Set<ChildProcess>();

  constructor(readonly name: string) {}

  /** Runs a command inside the namespace and resolves with its output; rejects on a non-zero exit. */
  exec(cmd: string, args: readonly string[] = [], input?: string): Promise<ExecResult> {
    return run('ip', ['netns', 'exec', this.name, cmd, ...args], input);
  }

  /** Starts a long-running command inside the namespace; cleanup() kills it if still running. */
  spawn(cmd: string, args: readonly string[] = [], options: SpawnOptions = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.name, cmd, ...args], { stdio: ['pipe', 'pipe', 'pipe'], ...options });
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    return child;
  }

  /**
   * Makes the kernel track connections here: conntrack is only active in a namespace once a
   * rule needs it. Adds an accepting conntrack match rule and turns on accounting and timestamps.
   */
  async enableConntrack(): Promise<void> {
    await this.exec('sysctl', ['-q', '-w', 'net.netfilter.nf_conntrack_acct=1', 'net.netfilter.nf_conntrack_timestamp=1']);
    await this.exec('iptables', ['-w', '-A', 'OUTPUT', '-m', 'conntrack', '--ctstate', 'NEW,ESTABLISHED,RELATED,INVALID,UNTRACKED', '-j', 'ACCEPT']);
    await this.exec('ip6tables', ['-w', '-A', 'OUTPUT', '-m', 'conntrack', '--ctstate', 'NEW,ESTABLISHED,RELATED,INVALID,UNTRACKED', '-j', 'ACCEPT']);
  }

  /** Kills the processes spawned here and any other process still in the namespace. */
  killAll(): void {
    for (const c of this.children) c.kill('SIGKILL');
    this.children.clear();
    try {
      const pids = execFileSync('ip', ['netns', 'pids', this.name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      for (const pid of pids.split(/\s+/).filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // already gone
        }
      }
    } catch {
      // namespace already gone
    }
  }
}

/** The two ends of a veth pair and their addresses (without prefix length). */
export interface VethLink {
  aDevice: string;
  bDevice: string;
  aIPv4: string;
  bIPv4: string;
  aIPv6: string;
  bIPv6: string;
}

let bedCounter = 0;
const liveNamespaces = new Set<Netns>();
let exitHookInstalled = false;

function deleteNamespaceSync(ns: Netns): void {
  ns.killAll();
  try {
    execFileSync('ip', ['netns', 'del', ns.name], { stdio: 'ignore' });
  } catch {
    // already gone
  }
  liveNamespaces.delete(ns);
}

/** Creates namespaces and links for one test file, and removes them all in cleanup(). */
export class NetnsBed {
  private readonly namespaces: Netns[] = [];
  private links = 0;
  private readonly id: number;

  constructor(private readonly label = 't') {
    this.id = bedCounter++;
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on('exit', () => {
        for (const ns of [...liveNamespaces]) deleteNamespaceSync(ns);
      });
    }
  }

  /** A new namespace with `lo` up. */
  async namespace(): Promise<Netns> {
    const ns = new Netns(`fv-${this.label}-${process.pid}-${this.id}-${this.namespaces.length}`);
    await run('ip', ['netns', 'add', ns.name]);
    this.namespaces.push(ns);
    liveNamespaces.add(ns);
    await run('ip', ['-n', ns.name, 'link', 'set', 'lo', 'up']);
    return ns;
  }

  /**
   * Connects a and b with a veth pair, both ends up, with IPv4 10.231.<k>.1|2/24 and IPv6
   * fd00:231:<k+1>::1|2/64 (no duplicate address detection), k counting links of this bed from 0.
   * The addresses are returned in canonical (RFC 5952) text.
   */
  async link(a: Netns, b: Netns): Promise<VethLink> {
    const k = this.links++;
    const aDevice = `veth${k}a`;
    const bDevice = `veth${k}b`;
    await run('ip', ['-n', a.name, 'link', 'add', aDevice, 'type', 'veth', 'peer', 'name', bDevice, 'netns', b.name]);
    const link: VethLink = {
      aDevice, bDevice, aIPv4: `10.231.${k}.1`, bIPv4: `10.231.${k}.2`, aIPv6: `fd00:231:${k + 1}::1`, bIPv6: `fd00:231:${k + 1}::2`,
    };
    await run('ip', ['-n', a.name, 'addr', 'add', `${link.aIPv4}/24`, 'dev', aDevice]);
    await run('ip', ['-n', b.name, 'addr', 'add', `${link.bIPv4}/24`, 'dev', bDevice]);
    await run('ip', ['-n', a.name, 'addr', 'add', `${link.aIPv6}/64`, 'dev', aDevice, 'nodad']);
    await run('ip', ['-n', b.name, 'addr', 'add', `${link.bIPv6}/64`, 'dev', bDevice, 'nodad']);
    await run('ip', ['-n', a.name, 'link', 'set', aDevice, 'up']);
    await run('ip', ['-n', b.name, 'link', 'set', bDevice, 'up']);
    return link;
  }

  /** Kills every process in this bed's namespaces and deletes them (the links go with them). */
  async cleanup(): Promise<void> {
    for (const ns of this.namespaces.splice(0).reverse()) deleteNamespaceSync(ns);
  }
}
