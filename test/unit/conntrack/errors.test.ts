import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { KernelSourceErrorCodes } from '../../../src/exporter/conntrack/errors.js';

describe('kernel source error codes', () => {
  it('are the codes documented under "Exporter: kernel sources" in docs/errors.md, in order', () => {
    const doc = readFileSync(new URL('../../../../docs/errors.md', import.meta.url), 'utf8');
    const start = doc.indexOf('## Exporter: kernel sources');
    assert.ok(start >= 0, 'docs/errors.md has no "Exporter: kernel sources" section');
    const next = doc.indexOf('\n## ', start + 1);
    const section = doc.slice(start, next < 0 ? undefined : next);
    const documented = [...section.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
    assert.deepEqual(documented, Object.keys(KernelSourceErrorCodes));
  });
});
