#!/usr/bin/env node
// Generates src/ipfix/registry.generated.ts from the IE registries in ../shared/reference:
//   ipfix-ie-iana.csv    IANA elements (enterprise 0)
//   ipfix-ie-antrea.csv  Antrea elements (enterprise 56506)
// and derives the RFC 5103 reverse elements (enterprise 29305) from the IANA ones.
//
// Usage: node scripts/gen-ie-registry.mjs            writes the file
//        node scripts/gen-ie-registry.mjs --check    exits 1 when the file is missing or stale
//        node scripts/gen-ie-registry.mjs --ref DIR  reads the CSV files from DIR
// Plain Node ESM, no dependencies.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const check = args.includes('--check');
const refIndex = args.indexOf('--ref');
const refDir = refIndex >= 0 ? resolve(args[refIndex + 1]) : resolve(repoRoot, '../shared/reference');
const outFile = join(repoRoot, 'src/ipfix/registry.generated.ts');

const ENTERPRISE_IANA = 0;
const ENTERPRISE_REVERSE = 29305;
const ENTERPRISE_ANTREA = 56506;
const VARIABLE_LENGTH = 65535;

/** Natural lengths of the RFC 7011 6.1 abstract data types (VARIABLE_LENGTH for variable ones). */
const NATURAL_LENGTH = {
  octetArray: VARIABLE_LENGTH,
  unsigned8: 1, unsigned16: 2, unsigned32: 4, unsigned64: 8,
  signed8: 1, signed16: 2, signed32: 4, signed64: 8,
  float32: 4, float64: 8,
  boolean: 1,
  macAddress: 6,
  string: VARIABLE_LENGTH,
  dateTimeSeconds: 4, dateTimeMilliseconds: 8, dateTimeMicroseconds: 8, dateTimeNanoseconds: 8,
  ipv4Address: 4, ipv6Address: 16,
  basicList: VARIABLE_LENGTH, subTemplateList: VARIABLE_LENGTH, subTemplateMultiList: VARIABLE_LENGTH,
};

/**
 * RFC 5103 section 6.1: Information Elements that have no reverse counterpart (process
 * configuration and statistics, identifiers of the export itself, padding, biflowDirection).
 */
const NON_REVERSIBLE = new Set([
  'biflowDirection',
  'collectorIPv4Address', 'collectorIPv6Address', 'collectorTransportPort',
  'commonPropertiesId',
  'exportedMessageTotalCount', 'exportedOctetTotalCount', 'exportedFlowRecordTotalCount',
  'exporterIPv4Address', 'exporterIPv6Address', 'exporterTransportPort',
  'exportInterface', 'exportProtocolVersion', 'exportTransportProtocol',
  'flowId', 'flowKeyIndicator',
  'ignoredPacketTotalCount', 'ignoredOctetTotalCount',
  'notSentFlowTotalCount', 'notSentPacketTotalCount', 'notSentOctetTotalCount',
  'observationDomainId', 'observedFlowTotalCount',
  'paddingOctets',
  'templateId',
]);

function fail(message) {
  console.error(`gen-ie-registry: ${message}`);
  process.exit(2);
}

/** Minimal RFC 4180 CSV parser: quoted fields, doubled quotes, CRLF or LF. */
function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c === '"') {
      quoted = true;
    } else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else {
      field += c;
    }
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows.filter((r) => r.some((f) => f.trim() !== ''));
}

function readTable(file, columns) {
  const path = join(refDir, file);
  if (!existsSync(path)) fail(`${path} not found; pass --ref <dir> or put shared/reference beside the repository`);
  const [header, ...rows] = parseCsv(readFileSync(path, 'utf8'));
  const index = {};
  for (const [key, name] of Object.entries(columns)) {
    const i = header.findIndex((h) => h.trim().toLowerCase() === name.toLowerCase());
    if (i < 0) fail(`${file}: no column "${name}" in header ${JSON.stringify(header)}`);
    index[key] = i;
  }
  return rows.map((r, n) => {
    const out = {};
    for (const [key, i] of Object.entries(index)) out[key] = (r[i] ?? '').trim();
    out.line = n + 2;
    return out;
  });
}

const elements = [];
const seenId = new Map();
const seenName = new Map();

function add(enterpriseId, elementId, name, dataType, length, source) {
  const key = `${enterpriseId}/${elementId}`;
  if (seenId.has(key)) fail(`${source}: element ${key} (${name}) is already defined as ${seenId.get(key)}`);
  if (seenName.has(name)) fail(`${source}: name ${name} is already used by ${seenName.get(name)}`);
  seenId.set(key, name);
  seenName.set(name, key);
  elements.push([enterpriseId, elementId, name, dataType, length]);
}

// IANA: "Reserved", "Unassigned" and names with spaces ("Assigned for NetFlow v9 compatibility") are not
// elements. A few current elements have a data type that RFC 7011 does not define (the CSV says
// "unknown", e.g. the unsigned256 ones); they are registered as variable-length octetArray so that
// they decode as bytes under their name.
const iana = readTable('ipfix-ie-iana.csv', {
  elementId: 'elementId', name: 'name', dataType: 'abstractDataType', enterpriseId: 'enterpriseId',
});
for (const r of iana) {
  if (!/^[A-Za-z][A-Za-z0-9]*$/.test(r.name) || /^(Reserved|Unassigned)$/i.test(r.name)) continue;
  const elementId = Number(r.elementId);
  if (!Number.isInteger(elementId) || elementId < 0 || elementId > 32767) fail(`ipfix-ie-iana.csv:${r.line}: bad elementId "${r.elementId}"`);
  if (r.enterpriseId !== '' && Number(r.enterpriseId) !== ENTERPRISE_IANA) fail(`ipfix-ie-iana.csv:${r.line}: enterpriseId ${r.enterpriseId} is not 0`);
  const dataType = r.dataType in NATURAL_LENGTH ? r.dataType : 'octetArray';
  add(ENTERPRISE_IANA, elementId, r.name, dataType, NATURAL_LENGTH[dataType], `ipfix-ie-iana.csv:${r.line}`);
}

// RFC 5103 reverse elements: every reversible IANA element under enterprise 29305.
for (const [enterpriseId, elementId, name, dataType, length] of [...elements]) {
  if (enterpriseId !== ENTERPRISE_IANA || NON_REVERSIBLE.has(name)) continue;
  add(ENTERPRISE_REVERSE, elementId, `reverse${name[0].toUpperCase()}${name.slice(1)}`, dataType, length, `reverse of ${name}`);
}

const antrea = readTable('ipfix-ie-antrea.csv', {
  elementId: 'ElementID', name: 'Name', dataType: 'Abstract Data Type', enterpriseId: 'Enterprise ID', size: 'Data Size',
});
for (const r of antrea) {
  const elementId = Number(r.elementId);
  if (!Number.isInteger(elementId) || elementId < 0 || elementId > 32767) fail(`ipfix-ie-antrea.csv:${r.line}: bad ElementID "${r.elementId}"`);
  if (Number(r.enterpriseId) !== ENTERPRISE_ANTREA) fail(`ipfix-ie-antrea.csv:${r.line}: Enterprise ID ${r.enterpriseId} is not ${ENTERPRISE_ANTREA}`);
  if (!(r.dataType in NATURAL_LENGTH)) fail(`ipfix-ie-antrea.csv:${r.line}: unknown data type "${r.dataType}"`);
  // "Data Size" fixes the length of an octetArray (the UUIDs are 16 bytes).
  const length = r.size !== '' ? Number(r.size) : NATURAL_LENGTH[r.dataType];
  if (!Number.isInteger(length) || length < 1 || length > VARIABLE_LENGTH) fail(`ipfix-ie-antrea.csv:${r.line}: bad Data Size "${r.size}"`);
  add(ENTERPRISE_ANTREA, elementId, r.name, r.dataType, length, `ipfix-ie-antrea.csv:${r.line}`);
}

elements.sort((a, b) => a[0] - b[0] || a[1] - b[1]);

const lines = [
  '// GENERATED by scripts/gen-ie-registry.mjs from ../shared/reference/ipfix-ie-iana.csv and',
  '// ipfix-ie-antrea.csv. Do not edit; run `npm run gen:ie`. `npm run check:ie` fails when stale.',
  '// Rows: [enterpriseId, elementId, name, abstract data type, natural length (65535 = variable)].',
  "import type { AbstractDataType } from './api.js';",
  '',
  'export type IeRow = readonly [number, number, string, AbstractDataType, number];',
  '',
  'export const IE_ROWS: readonly IeRow[] = [',
  ...elements.map((e) => `  [${e[0]}, ${e[1]}, ${JSON.stringify(e[2])}, ${JSON.stringify(e[3])}, ${e[4]}],`),
  '];',
  '',
];
const text = lines.join('\n');

if (check) {
  const current = existsSync(outFile) ? readFileSync(outFile, 'utf8') : '';
  if (current !== text) {
    console.error(
      `check:ie: src/ipfix/registry.generated.ts is ${current === '' ? 'missing' : 'stale'} ` +
        `(it does not match ${refDir}/ipfix-ie-*.csv); run \`npm run gen:ie\` and commit the result`,
    );
    process.exit(1);
  }
  console.log(`check:ie: src/ipfix/registry.generated.ts is current (${elements.length} elements)`);
} else {
  writeFileSync(outFile, text);
  console.log(`gen:ie: wrote src/ipfix/registry.generated.ts (${elements.length} elements)`);
}
