// Runs `flowvis collector` as a child process (bin/flowvis.js, the command users run) and
// tells the test where it listens. Used by the collector's integration, interop and bench code.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const FLOWVIS_BIN = fileURLToPath(new URL('../../../../bin/flowvis.js', import.meta.url));

export interface CollectorProcess {
  child: ChildProcess;
  /** IPFIX listener "host:port" and its port. */
  address: string;
  port: number;
  /** HTTP endpoint base URL, when --http was given. */
  httpUrl: string | null;
  stdout: () => string;
  stderr: () => string;
  /** Sends SIGTERM and resolves with the exit code once the process has ended. */
  stop: (signal?: NodeJS.Signals) => Promise<number | null>;
}

/** Starts the collector with the given flags (add `--address 127.0.0.1:0`) and waits until it listens. */
export async function startCollectorProcess(
  args: readonly string[],
  opts: { captureStdout?: boolean; timeoutMs?: number } = {},
): Promise<CollectorProcess> {
  const child = spawn(process.execPath, [FLOWVIS_BIN, 'collector', ...args], {
    stdio: ['ignore', opts.captureStdout === false ? 'ignore' : 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const listening = await new Promise<{ address: string; http: string | null }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`flowvis collector did not report listening within ${opts.timeoutMs ?? 15000} ms; stderr:\n${err}`));
    }, opts.timeoutMs ?? 15000);
    const check = (): void => {
      for (const line of err.split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          const o = JSON.parse(line) as { msg?: string; address?: string; http?: string | null };
          if (o.msg?.startsWith('listening') && o.address) {
            clearTimeout(timer);
            child.stderr?.off('data', check);
            resolve({ address: o.address, http: o.http ?? null });
            return;
          }
        } catch {
          // a partial line; wait for more
        }
      }
    };
    child.stderr?.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`flowvis collector exited with ${code} before listening; stderr:\n${err}`));
    });
  });
  const port = Number(listening.address.slice(listening.address.lastIndexOf(':') + 1));
  return {
    child,
    address: listening.address,
    port,
    httpUrl: listening.http === null ? null : `http://${listening.http}`,
    stdout: () => out,
    stderr: () => err,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Reads a counter from the block the collector prints on stderr at shutdown. */
export function counterFromStderr(stderr: string, name: string): number {
  const m = new RegExp(`^  ${name}\\s+(\\d+)`, 'm').exec(stderr);
  if (m === null) throw new Error(`no "${name}" counter in stderr:\n${stderr}`);
  return Number(m[1]);
}
