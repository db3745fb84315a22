import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { COLLECTOR_ERROR_CODES } from '../../../src/collector/errors.js';

describe('collector error codes', () => {
  it('are listed in docs/errors.md, section "Collector", and nothing else is', () => {
    const doc = readFileSync(new URL('../../../../docs/errors.md', import.meta.url), 'utf8');
    const start = doc.indexOf('\n## Collector');
    assert.ok(start >= 0, 'docs/errors.md has a "## Collector" section');
    const end = doc.indexOf('\n## ', start + 1);
    const section = doc.slice(start, end < 0 ? undefined : end);
    const documented = [...section.matchAll(/^\| `(COLLECTOR_ERR_[A-Z_]+)` \|/gm)].map((m) => m[1]).sort();
    assert.deepEqual(documented, [...COLLECTOR_ERROR_CODES].sort());
  });
});
