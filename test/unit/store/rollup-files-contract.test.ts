// Rollups against raw rows (rollup-contract.ts) in a directory store, whose rollup rows live in
// rollup files and rollup_rows (schema 6); rollups.test.ts runs the same in memory.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { DuckDbRepository } from '../../../src/store/duckdb.js';
import { rollupContract } from './rollup-contract.js';

const dir = mkdtempSync(join(tmpdir(), 'flowvis-rollup-files-'));
after(() => rmSync(dir, { recursive: true, force: true }));

rollupContract('embedded (DuckDB, directory: rollup files)', {
  open: () => DuckDbRepository.open(join(dir, 'store')),
  compact: (repo) => (repo as DuckDbRepository).compact(),
});
