// Third-party tools for the interoperability tests. A missing tool skips the test with a
// clear reason on a developer machine, and fails it under CI=true (.ci/run installs them).
import assert from 'node:assert/strict';
import { spawnSync, spawn, type ChildProcess } from 'node:child_process';
import type { TestContext } from 'node:test';

export function toolPath(tool: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() !== '' ? r.stdout.trim() : null;
}

/**
 * True when every tool is installed. Otherwise skips the test (or fails it under CI=true)
 * and returns false.
 */
export function haveTools(t: TestContext, tools: readonly string[], apt: string): boolean {
  const missing = tools.filter((tool) => toolPath(tool) === null);
  if (missing.length === 0) return true;
  const reason = `${missing.join(', ')} not installed (apt-get install ${apt})`;
  if (process.env.CI === 'true') assert.fail(`interop prerequisite missing under CI: ${reason}`);
  t.skip(reason);
  return false;
}

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a tool to completion and fails the test with its stderr when it exits non-zero. */
export function runTool(
  cmd: string,
  args: readonly string[],
  opts: { cwd?: string; timeoutMs?: number; env?: Record<string, string> } = {},
): RunResult {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    cwd: opts.cwd,
    timeout: opts.timeoutMs ?? 30_000,
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, ...opts.env },
  });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    assert.fail(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}:\n${r.stderr}`);
  }
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A long-running tool; stop() sends SIGTERM (SIGKILL after a grace period) and waits. */
export interface RunningTool {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  stop: (signal?: NodeJS.Signals) => Promise<number | null>;
}

export function startTool(cmd: string, args: readonly string[], cwd?: string): RunningTool {
  const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (out += s));
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : null)));
    child.once('error', (err) => {
      out += String(err);
      resolve(null);
    });
  });
  return {
    child,
    output: () => out,
    exited,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        const guard = setTimeout(() => child.kill('SIGKILL'), 5000);
        const code = await exited;
        clearTimeout(guard);
        return code;
      }
      return exited;
    },
  };
}

export async function waitUntil(what: string, cond: () => boolean | Promise<boolean>, guardMs = 20_000): Promise<void> {
  const deadline = Date.now() + guardMs;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A UDP port that was free a moment ago, for tools that cannot bind port 0 and report it. */
export async function freeUdpPort(): Promise<number> {
  const { createSocket } = await import('node:dgram');
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', () => resolve()));
  const port = s.address().port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/**
 * The receive queue of the IPv4 UDP socket bound to 127.0.0.1:port, from /proc/net/udp, or
 * null while no socket is bound there. 0 means the tool has read every datagram sent to it.
 */
export async function udpReceiveQueue(port: number): Promise<number | null> {
  const { readFile } = await import('node:fs/promises');
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const line of (await readFile('/proc/net/udp', 'utf8')).split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols[1] === local) return parseInt(cols[4].split(':')[1], 16);
  }
  return null;
}
