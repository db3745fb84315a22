// The static inventory: a YAML file of ordinary Kubernetes manifests (several documents
// separated by "---", and/or `kind: List` / `kind: PodList` ... with `items`). Pods, Services,
// EndpointSlices, Nodes, Namespaces and NetworkPolicies are read; other kinds (Deployments,
// ConfigMaps, ...) are skipped, so a cluster dump (`kubectl get pods,svc,... -A -o yaml`) works
// as is; so does `-o json`. One malformed object rejects the whole file: a half-read inventory would attribute
// flows wrongly without saying so.
import { parseAllDocuments } from 'yaml';
import { compileNetworkPolicy, type CompiledPolicy } from '../policy/network-policy.js';
import type { ClusterSnapshot } from './cluster-state.js';
import { K8sError } from './errors.js';
import type { NodeInfo, PodInfo } from './metadata.js';
import { parseEndpointSlice, parseNamespace, parseNode, parsePod, parseService, type EndpointSliceInfo, type ServiceInfo } from './objects.js';

export interface ParsedInventory extends ClusterSnapshot {
  /** Objects of kinds the inventory does not use, by kind. */
  readonly skipped: Readonly<Record<string, number>>;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Parses inventory text. `file` names the file in errors; `loadedMs` is the time a Pod in a
 * terminal phase without container finish times is taken to have ended.
 */
export function parseInventory(text: string, file: string, loadedMs: number): ParsedInventory {
  return parseDocuments(readDocuments(text, file), file, loadedMs);
}

/**
 * JSON (`kubectl get ... -o json`) is read with JSON.parse, which is about 100 times faster than a
 * YAML parser on large dumps; anything else is YAML, possibly several documents.
 */
function readDocuments(text: string, file: string): unknown[] {
  const first = text.trimStart()[0];
  if (first === '{' || first === '[') {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new K8sError('K8S_ERR_INVENTORY', `${file}: not valid JSON: ${(err as Error).message}`);
    }
    return Array.isArray(value) ? value : [value];
  }
  const docs = parseAllDocuments(text, { prettyErrors: true });
  if (!Array.isArray(docs)) return [];
  return docs.map((doc, d) => {
    if (doc.errors.length > 0) {
      throw new K8sError('K8S_ERR_INVENTORY', `${file}: document ${d + 1} is not valid YAML: ${doc.errors[0].message}`);
    }
    return doc.toJS() as unknown;
  });
}

function parseDocuments(docs: unknown[], file: string, loadedMs: number): ParsedInventory {
  const pods: PodInfo[] = [];
  const services: ServiceInfo[] = [];
  const endpointSlices: EndpointSliceInfo[] = [];
  const nodes: NodeInfo[] = [];
  const namespaces: { name: string; labels: Readonly<Record<string, string>> }[] = [];
  const policies: CompiledPolicy[] = [];
  const skipped: Record<string, number> = {};
  const seen = new Set<string>();

  docs.forEach((value, d) => {
    if (value === null || value === undefined) return;
    const items: { obj: unknown; where: string }[] = [];
    if (isRecord(value) && typeof value.kind === 'string' && value.kind.endsWith('List') && Array.isArray(value.items)) {
      const itemKind = value.kind === 'List' ? undefined : value.kind.slice(0, -'List'.length);
      value.items.forEach((item, i) => {
        // Typed lists (PodList) may omit kind on their items.
        const obj = itemKind && isRecord(item) && item.kind === undefined ? { ...item, kind: itemKind } : item;
        items.push({ obj, where: `document ${d + 1} item ${i}` });
      });
    } else {
      items.push({ obj: value, where: `document ${d + 1}` });
    }
    for (const { obj, where } of items) {
      if (!isRecord(obj) || typeof obj.kind !== 'string') {
        throw new K8sError('K8S_ERR_INVENTORY', `${file}: ${where} is not a Kubernetes object (no "kind")`);
      }
      const kind = obj.kind;
      try {
        let id: string | undefined;
        switch (kind) {
          case 'Pod': {
            const p = parsePod(obj, loadedMs);
            pods.push(p);
            id = `Pod ${p.namespace}/${p.name}`;
            break;
          }
          case 'Service': {
            const s = parseService(obj);
            services.push(s);
            id = `Service ${s.namespace}/${s.name}`;
            break;
          }
          case 'EndpointSlice': {
            const s = parseEndpointSlice(obj);
            endpointSlices.push(s);
            id = `EndpointSlice ${s.namespace}/${s.name}`;
            break;
          }
          case 'Node': {
            const n = parseNode(obj);
            nodes.push(n);
            id = `Node ${n.name}`;
            break;
          }
          case 'Namespace': {
            const n = parseNamespace(obj);
            namespaces.push(n);
            id = `Namespace ${n.name}`;
            break;
          }
          case 'NetworkPolicy': {
            const p = compileNetworkPolicy(obj);
            policies.push(p);
            id = `NetworkPolicy ${p.namespace}/${p.name}`;
            break;
          }
          default:
            skipped[kind] = (skipped[kind] ?? 0) + 1;
        }
        if (id !== undefined) {
          if (seen.has(id)) throw new K8sError('K8S_ERR_BAD_OBJECT', `${id} is defined twice`);
          seen.add(id);
        }
      } catch (err) {
        if (err instanceof K8sError) throw new K8sError('K8S_ERR_INVENTORY', `${file}: ${where}: ${err.message}`, { cause: err });
        throw err;
      }
    }
  });
  return { pods, services, endpointSlices, nodes, namespaces, policies, skipped };
}
