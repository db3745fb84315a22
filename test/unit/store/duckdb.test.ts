import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { DuckDbRepository } from '../../../src/store/duckdb.js';
import { DUCKDB_MIGRATIONS } from '../../../src/store/migrations.js';
import { repositoryContract } from './contract.js';

const dir = mkdtempSync(join(tmpdir(), 'flowvis-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));

repositoryContract('embedded (DuckDB, directory)', { open: () => DuckDbRepository.open(join(dir, 'store')), migrations: DUCKDB_MIGRATIONS });
repositoryContract('embedded (DuckDB, in memory)', { open: () => DuckDbRepository.open(':memory:'), migrations: DUCKDB_MIGRATIONS });
