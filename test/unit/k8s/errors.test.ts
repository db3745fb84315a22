import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { K8sErrorCodes } from '../../../src/exporter/k8s/errors.js';

it('documents every K8S_ERR_* code in docs/kubernetes-metadata.md, and no other', () => {
  const doc = readFileSync(new URL('../../../../docs/kubernetes-metadata.md', import.meta.url), 'utf8');
  const section = doc.slice(doc.indexOf('## Error codes'));
  const documented = [...section.matchAll(/^\| `(K8S_ERR_[A-Z_]+)` \|/gm)].map((m) => m[1]).sort();
  assert.deepEqual(documented, Object.keys(K8sErrorCodes).sort());
});
