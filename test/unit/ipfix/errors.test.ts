import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { IPFIX_ERROR_CODES, IpfixError } from '../../../src/ipfix/index.js';

const docs = readFileSync(new URL('../../../../docs/errors.md', import.meta.url), 'utf8');

/** The codes in the first column of the table under "## IPFIX codec". */
function documentedCodes(): string[] {
  const start = docs.indexOf('## IPFIX codec');
  assert.ok(start >= 0, 'docs/errors.md has an "## IPFIX codec" section');
  const next = docs.indexOf('\n## ', start + 1);
  const section = docs.slice(start, next < 0 ? undefined : next);
  return [...section.matchAll(/^\| `(IPFIX_ERR_[A-Z0-9_]+)` \|/gm)].map((m) => m[1]);
}

describe('IPFIX error codes', () => {
  it('are listed in docs/errors.md, each once, in the order of IPFIX_ERROR_CODES', () => {
    assert.deepEqual(documentedCodes(), [...IPFIX_ERROR_CODES]);
  });

  it('carry their code on the error and in the message', () => {
    const e = new IpfixError('IPFIX_ERR_BAD_VERSION', 'version 9');
    assert.equal(e.code, 'IPFIX_ERR_BAD_VERSION');
    assert.match(e.message, /^IPFIX_ERR_BAD_VERSION: version 9$/);
    assert.ok(e instanceof Error);
  });
});
