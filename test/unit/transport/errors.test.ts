import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { TransportError, TransportErrorCode } from '../../../src/transport/errors.js';

test('transport error codes are listed in docs/errors.md, section "Transport", and nothing else is', () => {
  const doc = readFileSync(new URL('../../../../docs/errors.md', import.meta.url), 'utf8');
  const start = doc.indexOf('\n## Transport');
  assert.ok(start >= 0, 'docs/errors.md has a "## Transport" section');
  const end = doc.indexOf('\n## ', start + 1);
  const section = doc.slice(start, end < 0 ? undefined : end);
  const documented = [...section.matchAll(/^\| `(TRANSPORT_ERR_[A-Z_]+)` \|/gm)].map((m) => m[1]);
  assert.deepEqual(documented, Object.values(TransportErrorCode));
});

test('a TransportError carries its code and cause', () => {
  const cause = new Error('ECONNREFUSED');
  const e = new TransportError('TRANSPORT_ERR_CONNECT_FAILED', 'connecting failed', { cause });
  assert.equal(e.code, 'TRANSPORT_ERR_CONNECT_FAILED');
  assert.equal(e.cause, cause);
  assert.equal(e.name, 'TransportError');
  assert.ok(e instanceof Error);
});
