// `flowvis store info` prints the store's engine, location, schema and row count, and for the
// embedded store the health of its background jobs (store/health.ts), as the aggregator's
// /metrics does.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DuckDbRepository } from '../../../src/store/duckdb.js';
import { DUCKDB_MIGRATIONS, latestVersion } from '../../../src/store/migrations.js';
import { FLOWVIS_BIN } from '../../integration/collector/spawn.js';
import { flow } from './fixtures.js';

const run = promisify(execFile);

describe('flowvis store info', () => {
  it("prints the embedded store's rows, schema and job health", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowvis-store-info-'));
    const store = join(dir, 'store');
    try {
      const repo = await DuckDbRepository.open(store);
      await repo.insertFlows([flow({ flowEndSeconds: 1_700_000_100 }), flow({ flowEndSeconds: 1_700_000_200 })], 1_700_000_300);
      await repo.close();
      const { stdout } = await run(process.execPath, [FLOWVIS_BIN, 'store', 'info', '--store', store]);
      const info = JSON.parse(stdout) as {
        engine: string;
        schemaVersion: number;
        flows: number;
        health: { jobs: Record<string, { failures: number; lastError: string }>; segmentsPerLevel: number[]; fileBytes: number };
      };
      assert.equal(info.engine, 'duckdb');
      assert.equal(info.schemaVersion, latestVersion(DUCKDB_MIGRATIONS));
      assert.equal(info.flows, 2);
      assert.deepEqual(Object.keys(info.health.jobs).sort(), ['compaction', 'fold', 'rollupCompaction']);
      for (const job of Object.values(info.health.jobs)) assert.deepEqual([job.failures, job.lastError], [0, '']);
      assert.equal(info.health.segmentsPerLevel[0], 1, 'the insert wrote one segment');
      assert.ok(info.health.fileBytes > 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
