// ClusterMetadata from a static inventory file (format: inventory.ts), reloaded when it changes.
// Changes are noticed by fs.watch on the file's folder (editors and `kubectl ... > file` replace
// the file, which a watch on the file itself would miss) and, as a fallback for filesystems
// without change events, by polling the file's size, mtime and inode.
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { systemClock, type Clock } from '../../util/clock.js';
import { StateBackedMetadata, defaultLogger } from './base.js';
import type { ClusterStateOptions } from './cluster-state.js';
import { K8sError } from './errors.js';
import { parseInventory } from './inventory.js';
import type { MetadataLogger } from './metadata.js';

export interface InventoryMetadataOptions extends Partial<ClusterStateOptions> {
  /** Path of the YAML inventory. */
  readonly path: string;
  readonly clock?: Clock;
  readonly logger?: MetadataLogger;
  /** Poll interval of the fallback change check, ms (default 2000; 0 turns polling off). */
  readonly pollIntervalMs?: number;
  /** Set false to skip fs.watch and rely on polling alone (default true). */
  readonly useFsWatch?: boolean;
}

export class InventoryMetadata extends StateBackedMetadata {
  readonly path: string;
  private readonly logger: MetadataLogger;
  private readonly pollIntervalMs: number;
  private readonly useFsWatch: boolean;
  private watcher: FSWatcher | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private lastDigest = '';
  private lastStat = '';
  private loading: Promise<void> | undefined;
  private reloadAgain = false;
  private stopped = true;
  private readonly loadListeners: ((ok: boolean, err?: Error) => void)[] = [];

  constructor(options: InventoryMetadataOptions) {
    super({ ...options, clock: options.clock ?? systemClock });
    this.path = resolve(options.path);
    this.logger = options.logger ?? defaultLogger('k8s-inventory');
    this.pollIntervalMs = options.pollIntervalMs ?? 2000;
    this.useFsWatch = options.useFsWatch ?? true;
  }

  /** Loads the file; rejects with K8S_ERR_INVENTORY when the first load fails. */
  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    const first = await this.load();
    if (first) {
      this.stopped = true;
      throw first;
    }
    if (this.useFsWatch) {
      try {
        const name = basename(this.path);
        this.watcher = watch(dirname(this.path), { persistent: false }, (_event, file) => {
          if (file === null || file === name) this.reload();
        });
        this.watcher.on('error', (err) => {
          this.logger.warn({ file: this.path, err: err.message }, 'inventory file watch failed; polling only');
          this.watcher?.close();
          this.watcher = undefined;
        });
      } catch (err) {
        this.logger.warn({ file: this.path, err: (err as Error).message }, 'cannot watch the inventory folder; polling only');
      }
    }
    if (this.pollIntervalMs > 0) {
      this.pollTimer = setInterval(() => void this.pollOnce(), this.pollIntervalMs);
      this.pollTimer.unref();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watcher?.close();
    this.watcher = undefined;
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = undefined;
    await this.loading;
  }

  /** Calls `fn` after every load attempt (tests wait on it; the CLI may log it). */
  onLoad(fn: (ok: boolean, err?: Error) => void): void {
    this.loadListeners.push(fn);
  }

  /** Re-reads the file now (also what the watchers call). Serialised: one load at a time. */
  reload(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.loading) {
      this.reloadAgain = true;
      return this.loading;
    }
    this.loading = (async () => {
      do {
        this.reloadAgain = false;
        await this.load();
      } while (this.reloadAgain && !this.stopped);
      this.loading = undefined;
    })();
    return this.loading;
  }

  private async pollOnce(): Promise<void> {
    try {
      const s = await stat(this.path);
      const sig = `${s.ino}:${s.size}:${s.mtimeMs}`;
      if (sig !== this.lastStat) await this.reload();
    } catch {
      // A missing file is reported by load() when a change event asks for it; polling stays quiet.
    }
  }

  /** One load attempt; returns the error (already logged and counted) or undefined. */
  private async load(): Promise<K8sError | undefined> {
    let result: K8sError | undefined;
    try {
      const s = await stat(this.path).catch(() => undefined);
      const text = await readFile(this.path, 'utf8').catch((err: NodeJS.ErrnoException) => {
        throw new K8sError('K8S_ERR_INVENTORY', `${this.path}: cannot read the inventory: ${err.code ?? err.message}`, { cause: err });
      });
      if (s) this.lastStat = `${s.ino}:${s.size}:${s.mtimeMs}`;
      const digest = createHash('sha256').update(text).digest('hex');
      if (digest === this.lastDigest) return undefined;
      const inv = parseInventory(text, this.path, this.state.clock.now());
      this.state.replaceAll(inv);
      this.lastDigest = digest;
      this.state.inventoryReloads++;
      this.logger.info(
        {
          file: this.path,
          pods: inv.pods.length,
          services: inv.services.length,
          nodes: inv.nodes.length,
          namespaces: inv.namespaces.length,
          networkPolicies: inv.policies.length,
          skippedKinds: inv.skipped,
        },
        'inventory loaded',
      );
      this.markReady();
    } catch (err) {
      const e = err instanceof K8sError ? err : new K8sError('K8S_ERR_INVENTORY', `${this.path}: ${(err as Error).message}`, { cause: err });
      this.state.inventoryReloadFailures++;
      this.logger.error(
        { file: this.path, code: e.code, err: e.message },
        this.ready() ? 'inventory not reloaded; keeping the previous inventory' : 'inventory not loaded',
      );
      result = e;
    }
    for (const fn of this.loadListeners) fn(result === undefined, result);
    return result;
  }
}
