import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ENTERPRISE_ANTREA, ENTERPRISE_REVERSE, VARIABLE_LENGTH, allInformationElements, ieById, ieByName } from '../../../src/ipfix/index.js';

const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
const script = join(repoRoot, 'scripts/gen-ie-registry.mjs');

describe('IE registry', () => {
  it('finds IANA, reverse and Antrea elements by name and by (enterprise, ID)', () => {
    assert.deepEqual(ieByName('octetDeltaCount'), { name: 'octetDeltaCount', enterpriseId: 0, elementId: 1, dataType: 'unsigned64', length: 8 });
    assert.equal(ieById(0, 405)?.name, 'originalObservationDomainId');
    assert.deepEqual(ieByName('reverseOctetDeltaCount'), { name: 'reverseOctetDeltaCount', enterpriseId: ENTERPRISE_REVERSE, elementId: 1, dataType: 'unsigned64', length: 8 });
    assert.equal(ieById(ENTERPRISE_REVERSE, 86)?.name, 'reversePacketTotalCount');
    assert.deepEqual(ieByName('destinationPodName'), { name: 'destinationPodName', enterpriseId: ENTERPRISE_ANTREA, elementId: 103, dataType: 'string', length: VARIABLE_LENGTH });
    assert.equal(ieById(ENTERPRISE_ANTREA, 160)?.length, 16, 'Antrea UUIDs are 16-byte octetArrays');
    assert.equal(ieById(ENTERPRISE_ANTREA, 172)?.name, 'proxySnatPort');
  });

  it('has no reverse form of the non-reversible elements of RFC 5103 6.1', () => {
    for (const name of ['paddingOctets', 'observationDomainId', 'templateId', 'biflowDirection', 'exporterIPv4Address', 'flowKeyIndicator']) {
      const ie = ieByName(name);
      assert.ok(ie, name);
      assert.equal(ieById(ENTERPRISE_REVERSE, ie.elementId), undefined, `reverse ${name}`);
    }
    assert.ok(ieByName('reverseFlowStartSeconds'));
  });

  it('does not register reserved and unassigned rows', () => {
    assert.equal(ieById(0, 0), undefined);
    assert.ok(allInformationElements().every((ie) => /^[A-Za-z][A-Za-z0-9]*$/.test(ie.name)));
    assert.equal(ieByName('Reserved'), undefined);
    assert.equal(ieByName('nope'), undefined);
  });

  it('is current with the reference CSV files (gen-ie-registry --check)', () => {
    const r = spawnSync(process.execPath, [script, '--check'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  });

  it('--check fails with a clear message when the CSV files changed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowvis-ie-'));
    try {
      cpSync(join(repoRoot, '../shared/reference/ipfix-ie-iana.csv'), join(dir, 'ipfix-ie-iana.csv'));
      cpSync(join(repoRoot, '../shared/reference/ipfix-ie-antrea.csv'), join(dir, 'ipfix-ie-antrea.csv'));
      appendFileSync(join(dir, 'ipfix-ie-antrea.csv'), '173,someNewElement,string,,current,,,,,,,,56506,,\n');
      const r = spawnSync(process.execPath, [script, '--check', '--ref', dir], { encoding: 'utf8' });
      assert.equal(r.status, 1);
      assert.match(r.stderr, /stale.*npm run gen:ie/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
