import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { ExporterError, ExporterErrorCodes } from '../../../src/exporter/errors.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');

test('docs/exporter.md lists exactly the exporter error codes', () => {
  const doc = readFileSync(join(root, 'docs', 'exporter.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## Error codes'), doc.indexOf('## Tests and benchmarks'));
  const documented = [...section.matchAll(/^\| `(EXPORTER_ERR_[A-Z_]+)` \|/gm)].map((m) => m[1]).sort();
  assert.deepEqual(documented, Object.keys(ExporterErrorCodes).sort());
});

test('an ExporterError carries its code and cause', () => {
  const cause = new Error('EADDRINUSE');
  const err = new ExporterError('EXPORTER_ERR_METRICS_LISTEN', 'metrics endpoint 127.0.0.1:1: EADDRINUSE', { cause });
  assert.equal(err.code, 'EXPORTER_ERR_METRICS_LISTEN');
  assert.equal(err.cause, cause);
  assert.equal(err.name, 'ExporterError');
});
