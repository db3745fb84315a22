// Reads the JSON lines a child process prints and waits for the ones a test needs.
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export class JsonLines {
  readonly seen: Array<Record<string, unknown>> = [];
  private stderr = '';
  private waiters: Array<() => void> = [];
  private exited = false;

  constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        this.seen.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        this.seen.push({ text: line });
      }
      this.wake();
    });
    child.stderr?.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
    child.on('exit', () => {
      this.exited = true;
      this.wake();
    });
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /**
   * The first line (from index `from` on) that satisfies `match`. Fails with the output seen so
   * far when the child exits first or nothing matches within `limitMs` (a hang guard, not a
   * timing assertion).
   */
  async waitFor(what: string, match: (line: Record<string, unknown>) => boolean, from = 0, limitMs = 20_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + limitMs;
    for (;;) {
      const hit = this.seen.slice(from).find(match);
      if (hit !== undefined) return hit;
      if (this.exited || Date.now() > deadline) {
        throw new Error(`no line with ${what}; exited=${this.exited}; seen=${JSON.stringify(this.seen).slice(0, 3000)}; stderr=${this.stderr.slice(0, 2000)}`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 200);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  send(line: string): void {
    this.child.stdin?.write(`${line}\n`);
  }

  exit(): Promise<void> {
    if (this.exited) return Promise.resolve();
    return new Promise((resolve) => this.child.once('exit', () => resolve()));
  }
}

/** Resolves once the child's stderr matches pattern; rejects if it exits first or after limitMs. */
export async function waitForStderr(lines: JsonLines, pattern: RegExp, limitMs = 20_000): Promise<void> {
  const child = lines.child;
  let text = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`exporter did not log ${pattern}: ${text.slice(0, 3000)}`)), limitMs);
    const onData = (d: Buffer) => {
      text += d.toString();
      if (pattern.test(text)) {
        clearTimeout(timer);
        child.stderr?.off('data', onData);
        resolve();
      }
    };
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exporter exited with ${code}: ${text.slice(0, 3000)}`));
    });
  });
}
