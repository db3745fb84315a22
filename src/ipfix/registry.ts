// Information Element lookup by (enterprise, ID) and by name, both O(1) Map lookups over the
// generated table (IANA, RFC 5103 reverse 29305, Antrea 56506).
import type { InformationElement } from './api.js';
import { IE_ROWS } from './registry.generated.js';

const byKey = new Map<number, InformationElement>();
const byName = new Map<string, InformationElement>();

/** enterpriseId is a u32 and elementId a u15, so the key stays below 2^47: an exact number. */
function key(enterpriseId: number, elementId: number): number {
  return enterpriseId * 0x10000 + elementId;
}

for (const [enterpriseId, elementId, name, dataType, length] of IE_ROWS) {
  const ie: InformationElement = Object.freeze({ name, enterpriseId, elementId, dataType, length });
  byKey.set(key(enterpriseId, elementId), ie);
  byName.set(name, ie);
}

export function ieById(enterpriseId: number, elementId: number): InformationElement | undefined {
  return byKey.get(key(enterpriseId, elementId));
}

export function ieByName(name: string): InformationElement | undefined {
  return byName.get(name);
}

/** Every registered element, in (enterprise, ID) order. */
export function allInformationElements(): InformationElement[] {
  return [...byKey.values()];
}

/** The record key of an element that the registry does not know. */
export function unknownIeName(enterpriseId: number, elementId: number): string {
  return `ie${enterpriseId}_${elementId}`;
}
