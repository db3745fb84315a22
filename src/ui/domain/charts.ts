// Chart data from the dashboard routes' answers: sankey nodes and links from edges, line series
// from per-entity buckets, heatmap cells from the node matrix. Pure: no DOM, no ECharts; the
// components hand these to ECharts as they are.
import type { Edge, NodeSeriesData, PolicyLink, PolicyPodEdge, SeriesSet } from '../api/types.js';
import type { FilterKey } from './state.js';
import { isDeniedAction } from './format.js';

/** What a name on a chart stands for, so a click can filter by it. */
export type EntityKind = 'pod' | 'ip' | 'service' | 'namespace' | 'node' | 'ingressPolicy' | 'egressPolicy';

export interface Entity {
  kind: EntityKind;
  /** The value as the store API's filter takes it. */
  value: string;
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
/** An endpoint name as the dashboard routes write it: an IP when there is no Pod, else "ns/pod". */
export function endpointEntity(name: string): Entity {
  if (IPV4.test(name) || (name.includes(':') && !name.includes('/'))) return { kind: 'ip', value: name };
  return { kind: 'pod', value: name };
}

/** The filter that clicking an entity sets. */
export function filterFor(entity: Entity): [FilterKey, string] {
  return [entity.kind, entity.value];
}

export interface SankeyNode {
  /** Unique per side: "s:<name>" or "d:<name>", so that a Pod that both sends and receives makes no cycle. */
  name: string;
  label: string;
  entity: Entity | null;
  side: 'source' | 'destination';
}

export interface SankeyLink {
  source: string;
  target: string;
  value: number;
  /** Denied links are drawn red. */
  denied: boolean;
  /** Tooltip lines. */
  details: string[];
}

export interface SankeyData {
  nodes: SankeyNode[];
  links: SankeyLink[];
}

/** Which side of an edge: Tx is source to destination, Rx the reply. */
export type Direction = 'tx' | 'rx';

/** The node names of the "other edges" link: the edges beyond the ones a sankey draws. */
export const OTHER_SOURCES = 's:\u0000other';
export const OTHER_DESTINATIONS = 'd:\u0000other';

/**
 * A sankey of edges by one direction. Links of zero bytes are left out (a sankey cannot draw
 * them); nodes appear once per side, in the order of the edges (largest first). Beyond
 * `maxLinks`, the smaller edges are summed into one link between two nodes labelled as the
 * other sources and destinations, whose tooltip says how many edges it stands for.
 */
export function edgesToSankey(
  edges: readonly Edge[],
  direction: Direction,
  entities: { source: (name: string) => Entity | null; destination: (name: string) => Entity | null },
  describe: (e: Edge) => string[] = () => [],
  maxLinks = Infinity,
): SankeyData {
  const nodes = new Map<string, SankeyNode>();
  const links: SankeyLink[] = [];
  const node = (side: 'source' | 'destination', label: string) => {
    const name = `${side === 'source' ? 's' : 'd'}:${label}`;
    if (!nodes.has(name)) nodes.set(name, { name, label, side, entity: entities[side](label) });
    return name;
  };
  const value = (e: Edge) => (direction === 'tx' ? e.txBytes : e.rxBytes);
  const drawn = edges.filter((e) => value(e) > 0).sort((a, b) => value(b) - value(a));
  for (const e of drawn.slice(0, maxLinks)) {
    links.push({ source: node('source', e.source), target: node('destination', e.destination), value: value(e), denied: false, details: describe(e) });
  }
  const rest = drawn.slice(maxLinks);
  if (rest.length > 0) {
    const sources = new Set(rest.map((e) => e.source)).size;
    const destinations = new Set(rest.map((e) => e.destination)).size;
    nodes.set(OTHER_SOURCES, { name: OTHER_SOURCES, label: `other sources (${sources})`, side: 'source', entity: null });
    nodes.set(OTHER_DESTINATIONS, { name: OTHER_DESTINATIONS, label: `other destinations (${destinations})`, side: 'destination', entity: null });
    const flows = rest.reduce((n, e) => n + e.flows, 0);
    links.push({
      source: OTHER_SOURCES,
      target: OTHER_DESTINATIONS,
      value: rest.reduce((n, e) => n + value(e), 0),
      denied: false,
      details: [`${rest.length} smaller edges, summed (${flows} flows); the table lists them`],
    });
  }
  return { nodes: [...nodes.values()], links };
}

const NO_POLICY = '(no policy)';

/**
 * Network Policy sankey: egress policy (source side) to ingress policy (destination side),
 * weighted by bytes (by flows where a denied connection carried no bytes), from every policy
 * pair's totals. Each link lists its largest Pod pairs among `pairs` (the table's rows) for the
 * tooltip, and what the others add up to. Beyond `maxLinks`, the smaller policy pairs are summed
 * into one "other" link.
 */
export function policyEdgesToSankey(links: readonly PolicyLink[], pairs: readonly PolicyPodEdge[], maxPairs = 8, maxLinks = 40): SankeyData {
  const nodes = new Map<string, SankeyNode>();
  const node = (side: 'source' | 'destination', policy: string) => {
    const label = policy === '' ? NO_POLICY : policy;
    const name = `${side === 'source' ? 'egress' : 'ingress'}: ${label}`;
    if (!nodes.has(name)) {
      const entity: Entity | null = policy === '' ? null : { kind: side === 'source' ? 'egressPolicy' : 'ingressPolicy', value: policy };
      nodes.set(name, { name, label: `${side === 'source' ? 'egress' : 'ingress'} ${label}`, side, entity });
    }
    return name;
  };
  const pairsOf = new Map<string, PolicyPodEdge[]>();
  for (const p of pairs) {
    const id = `${p.egressPolicy}\u0000${p.ingressPolicy}`;
    const list = pairsOf.get(id);
    if (list) list.push(p);
    else pairsOf.set(id, [p]);
  }
  const weight = (l: PolicyLink) => (l.bytes > 0 ? l.bytes : l.flows);
  // The largest policy pairs only: a sankey of hundreds of links is neither readable nor quick.
  const sorted = [...links].sort((x, y) => y.bytes - x.bytes || y.flows - x.flows);
  const out: SankeyLink[] = sorted.slice(0, maxLinks).map((l) => {
    const listed = pairsOf.get(`${l.egressPolicy}\u0000${l.ingressPolicy}`) ?? [];
    const shown = listed.slice(0, maxPairs);
    const shownFlows = shown.reduce((n, p) => n + p.flows, 0);
    return {
      source: node('source', l.egressPolicy),
      target: node('destination', l.ingressPolicy),
      value: weight(l),
      denied: l.denied,
      details: [
        `${l.flows} flow${l.flows === 1 ? '' : 's'}${l.denied ? ', some denied' : ''}`,
        ...shown.map((p) => `${p.sourcePod} → ${p.destinationPod}: ${p.flows} flow${p.flows === 1 ? '' : 's'}${isDeniedAction(p.egressAction) || isDeniedAction(p.ingressAction) ? ' (denied)' : ''}`),
        ...(l.flows > shownFlows ? [`… other Pod pairs: ${l.flows - shownFlows} flow${l.flows - shownFlows === 1 ? '' : 's'}`] : []),
      ],
    };
  });
  const rest = sorted.slice(maxLinks);
  if (rest.length > 0) {
    nodes.set(OTHER_SOURCES, { name: OTHER_SOURCES, label: `other egress policies (${new Set(rest.map((l) => l.egressPolicy)).size})`, side: 'source', entity: null });
    nodes.set(OTHER_DESTINATIONS, { name: OTHER_DESTINATIONS, label: `other ingress policies (${new Set(rest.map((l) => l.ingressPolicy)).size})`, side: 'destination', entity: null });
    const flows = rest.reduce((n, l) => n + l.flows, 0);
    out.push({
      source: OTHER_SOURCES,
      target: OTHER_DESTINATIONS,
      value: rest.reduce((n, l) => n + weight(l), 0),
      denied: rest.some((l) => l.denied),
      details: [`${rest.length} smaller policy pairs, summed (${flows} flows)`],
    });
  }
  return { nodes: [...nodes.values()], links: out };
}

export interface LineSeries {
  name: string;
  /** [epoch milliseconds, bits per second]. */
  data: [number, number][];
}

/** Line series in bits per second: Tx (bytes), Rx (reverseBytes) or both added. */
export function toLineSeries(set: SeriesSet, direction: Direction | 'total', nameOf: (key: string) => string = (k) => k): LineSeries[] {
  const b = set.bucketSeconds;
  return set.series.map((s) => ({
    name: nameOf(s.key),
    data: s.points.map((p) => {
      const bytes = direction === 'tx' ? p.bytes : direction === 'rx' ? p.reverseBytes : p.bytes + p.reverseBytes;
      return [p.t * 1000, (bytes * 8) / b] as [number, number];
    }),
  }));
}

export interface Heatmap {
  sources: string[];
  destinations: string[];
  /** [destination index, source index, Mbps]. */
  cells: [number, number, number][];
  max: number;
}

export const EXTERNAL = '(external)';

/** Average Mbps per Node pair over the range, for Tx (source to destination) or Rx. */
export function nodeHeatmap(matrix: NodeSeriesData['matrix'], spanSeconds: number, direction: Direction): Heatmap {
  const name = (n: string) => (n === '' ? EXTERNAL : n);
  const sources = [...new Set(matrix.map((c) => name(c.sourceNode)))].sort();
  const destinations = [...new Set(matrix.map((c) => name(c.destinationNode)))].sort();
  let max = 0;
  const cells = matrix.map((c) => {
    const bytes = direction === 'tx' ? c.txBytes : c.rxBytes;
    const mbps = Math.round(((bytes * 8) / Math.max(1, spanSeconds) / 1e6) * 1e6) / 1e6;
    max = Math.max(max, mbps);
    return [destinations.indexOf(name(c.destinationNode)), sources.indexOf(name(c.sourceNode)), mbps] as [number, number, number];
  });
  return { sources, destinations, cells, max };
}
