// `flowvis ui` opens an embedded store read-only, so it cannot migrate it: a store at an older
// schema is refused with the command that upgrades it, and serves once migrated.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDbRepository } from '../../../src/store/duckdb.js';
import { DUCKDB_MIGRATIONS, latestVersion } from '../../../src/store/migrations.js';
import { FLOWVIS_BIN } from '../../integration/collector/spawn.js';

/** Runs `flowvis ui` until it exits or says where it serves, then stops it. */
function runUi(store: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FLOWVIS_BIN, 'ui', '--store', store, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`flowvis ui neither exited nor served within 20 s; stderr:\n${stderr}`));
    }, 20_000);
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
      if (stderr.includes('dashboards for')) child.kill('SIGTERM');
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

describe('flowvis ui on an embedded store', () => {
  it('refuses an older schema with the migrate command, and serves it once migrated', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowvis-ui-schema-'));
    const store = join(dir, 'store');
    try {
      const old = await DuckDbRepository.open(store, { migrate: false });
      await old.migrateTo(3);
      await old.close();
      const refused = await runUi(store);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /is at schema 3 and this flowvis reads schema \d+/);
      assert.ok(refused.stderr.includes(`flowvis store migrate --store ${store}`), refused.stderr);

      const repo = await DuckDbRepository.open(store);
      assert.equal(await repo.schemaVersion(), latestVersion(DUCKDB_MIGRATIONS));
      await repo.close();
      const served = await runUi(store);
      assert.match(served.stderr, /dashboards for duckdb/);
      assert.doesNotMatch(served.stderr, /is at schema/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
