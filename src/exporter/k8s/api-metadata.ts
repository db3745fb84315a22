// ClusterMetadata from the Kubernetes API: one list+watch informer (@kubernetes/client-node's
// ListWatch) per resource: Pods, Services, EndpointSlices (discovery.k8s.io/v1), Nodes,
// Namespaces and NetworkPolicies (networking.k8s.io/v1).
//
// The informer relists by itself when a watch ends with 410 Gone, and re-watches from the last
// resourceVersion when the server closes a watch. On any other list or watch error it stops and
// reports it; we count it, log it and start it again after an exponential backoff, which
// resumes from the last resourceVersion (or relists if that is too old), as a reflector does.
// Objects missing from a relist are reported deleted by the informer.
import {
  CoreV1Api,
  DiscoveryV1Api,
  KubeConfig,
  NetworkingV1Api,
  makeInformer,
  type Informer,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { systemClock, type Clock } from '../../util/clock.js';
import { compileNetworkPolicy } from '../policy/network-policy.js';
import { StateBackedMetadata, defaultLogger } from './base.js';
import type { ClusterStateOptions } from './cluster-state.js';
import { K8sError } from './errors.js';
import type { MetadataLogger } from './metadata.js';
import { objectRef, parseEndpointSlice, parseNamespace, parseNode, parsePod, parseService } from './objects.js';

export interface KubernetesApiMetadataOptions extends Partial<ClusterStateOptions> {
  /** Where the client configuration comes from: a kubeconfig file, the Pod's service account, or a ready KubeConfig. */
  readonly connection: { readonly kubeconfig: string; readonly context?: string } | { readonly inCluster: true } | { readonly kubeConfig: KubeConfig };
  readonly clock?: Clock;
  readonly logger?: MetadataLogger;
  /** First retry delay after a list/watch error, ms (default 500); doubles up to `maxBackoffMs`. */
  readonly initialBackoffMs?: number;
  /** Longest retry delay, ms (default 30000). */
  readonly maxBackoffMs?: number;
}

type ResourceName = 'pods' | 'services' | 'endpointslices' | 'nodes' | 'namespaces' | 'networkpolicies';

interface Resource {
  readonly name: ResourceName;
  readonly informer: Informer<KubernetesObject>;
  listed: boolean;
  attempts: number;
  errors: number;
  retryTimer: NodeJS.Timeout | undefined;
  starting: Promise<void> | undefined;
}

export function loadKubeConfig(connection: KubernetesApiMetadataOptions['connection']): KubeConfig {
  if ('kubeConfig' in connection) return connection.kubeConfig;
  const kc = new KubeConfig();
  try {
    if ('inCluster' in connection) {
      kc.loadFromCluster();
    } else {
      kc.loadFromFile(connection.kubeconfig);
      if (connection.context) kc.setCurrentContext(connection.context);
    }
  } catch (err) {
    const from = 'inCluster' in connection ? 'the in-cluster service account' : `kubeconfig "${connection.kubeconfig}"`;
    throw new K8sError('K8S_ERR_CONFIG', `cannot load the Kubernetes client configuration from ${from}: ${(err as Error).message}`, { cause: err });
  }
  if (!kc.getCurrentCluster()) {
    throw new K8sError('K8S_ERR_CONFIG', 'the Kubernetes client configuration has no current cluster; set current-context or pass a context');
  }
  return kc;
}

export class KubernetesApiMetadata extends StateBackedMetadata {
  private readonly logger: MetadataLogger;
  private readonly kc: KubeConfig;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly resources: Resource[] = [];
  private stopped = true;

  constructor(options: KubernetesApiMetadataOptions) {
    super({ ...options, clock: options.clock ?? systemClock });
    this.logger = options.logger ?? defaultLogger('k8s-api');
    this.initialBackoffMs = options.initialBackoffMs ?? 500;
    this.maxBackoffMs = options.maxBackoffMs ?? 30_000;
    this.kc = loadKubeConfig(options.connection);
    const core = this.kc.makeApiClient(CoreV1Api);
    const discovery = this.kc.makeApiClient(DiscoveryV1Api);
    const networking = this.kc.makeApiClient(NetworkingV1Api);
    const list = <T>(fn: () => Promise<T>) => fn as unknown as () => Promise<KubernetesListObject<KubernetesObject>>;
    this.add('pods', '/api/v1/pods', list(() => core.listPodForAllNamespaces()));
    this.add('services', '/api/v1/services', list(() => core.listServiceForAllNamespaces()));
    this.add('endpointslices', '/apis/discovery.k8s.io/v1/endpointslices', list(() => discovery.listEndpointSliceForAllNamespaces()));
    this.add('nodes', '/api/v1/nodes', list(() => core.listNode()));
    this.add('namespaces', '/api/v1/namespaces', list(() => core.listNamespace()));
    this.add('networkpolicies', '/apis/networking.k8s.io/v1/networkpolicies', list(() => networking.listNetworkPolicyForAllNamespaces()));
  }

  private add(name: ResourceName, path: string, listFn: () => Promise<KubernetesListObject<KubernetesObject>>): void {
    const res: Resource = {
      name,
      listed: false,
      attempts: 0,
      errors: 0,
      retryTimer: undefined,
      starting: undefined,
      informer: makeInformer(this.kc, path, async () => {
        const list = await listFn();
        res.attempts = 0;
        if (!res.listed) {
          res.listed = true;
          // The informer applies the list right after this promise settles; check readiness after that.
          setImmediate(() => this.checkReady());
        }
        return list;
      }),
    };
    const upsert = (obj: KubernetesObject): void => this.apply(name, obj, false);
    const remove = (obj: KubernetesObject): void => this.apply(name, obj, true);
    res.informer.on('add', upsert);
    res.informer.on('update', upsert);
    res.informer.on('delete', remove);
    res.informer.on('error', (err?: unknown) => this.onError(res, err));
    this.resources.push(res);
  }

  private checkReady(): void {
    if (this.resources.every((r) => r.listed)) this.markReady();
  }

  private apply(name: ResourceName, obj: KubernetesObject, deleted: boolean): void {
    const now = this.state.clock.now();
    try {
      switch (name) {
        case 'pods':
          if (deleted) {
            const ref = objectRef(obj, 'Pod', true);
            this.state.deletePod(ref.namespace, ref.name, now);
          } else {
            this.state.upsertPod(parsePod(obj, now));
          }
          break;
        case 'services': {
          if (deleted) {
            const ref = objectRef(obj, 'Service', true);
            this.state.deleteService(ref.namespace, ref.name);
          } else {
            this.state.upsertService(parseService(obj));
          }
          break;
        }
        case 'endpointslices': {
          if (deleted) {
            const ref = objectRef(obj, 'EndpointSlice', true);
            this.state.deleteEndpointSlice(ref.namespace, ref.name);
          } else {
            this.state.upsertEndpointSlice(parseEndpointSlice(obj));
          }
          break;
        }
        case 'nodes':
          if (deleted) this.state.deleteNode(objectRef(obj, 'Node', false).name);
          else this.state.upsertNode(parseNode(obj));
          break;
        case 'namespaces':
          if (deleted) {
            this.state.deleteNamespace(objectRef(obj, 'Namespace', false).name);
          } else {
            const ns = parseNamespace(obj);
            this.state.upsertNamespace(ns.name, ns.labels);
          }
          break;
        case 'networkpolicies':
          if (deleted) {
            const ref = objectRef(obj, 'NetworkPolicy', true);
            this.state.deletePolicy(ref.namespace, ref.name);
          } else {
            this.state.upsertPolicy(compileNetworkPolicy(obj));
          }
          break;
      }
    } catch (err) {
      if (!(err instanceof K8sError)) throw err;
      this.state.objectsRejected++;
      // A rejected update must not leave the previous version answering as if current.
      if (!deleted) this.dropPrevious(name, obj, now);
      this.logger.warn({ resource: name, code: err.code, err: err.message }, 'Kubernetes object rejected');
    }
  }

  private dropPrevious(name: ResourceName, obj: KubernetesObject, now: number): void {
    try {
      if (name === 'pods') {
        const ref = objectRef(obj, 'Pod', true);
        this.state.deletePod(ref.namespace, ref.name, now);
      } else if (name === 'networkpolicies') {
        const ref = objectRef(obj, 'NetworkPolicy', true);
        this.state.deletePolicy(ref.namespace, ref.name);
      } else if (name === 'services') {
        const ref = objectRef(obj, 'Service', true);
        this.state.deleteService(ref.namespace, ref.name);
      }
    } catch {
      // Without a name there is nothing to drop.
    }
  }

  private onError(res: Resource, err: unknown): void {
    if (this.stopped) return; // aborting our own watches on stop() is not an error
    this.state.watchErrors++;
    res.errors++;
    const status = (err as { statusCode?: number; code?: number } | undefined)?.statusCode;
    const delay = Math.min(this.maxBackoffMs, this.initialBackoffMs * 2 ** res.attempts);
    res.attempts = Math.min(res.attempts + 1, 30);
    this.logger.warn(
      { code: 'K8S_ERR_WATCH', resource: res.name, status, err: err instanceof Error ? err.message : String(err), retryInMs: delay },
      'Kubernetes list/watch failed; retrying',
    );
    if (res.retryTimer) clearTimeout(res.retryTimer);
    res.retryTimer = setTimeout(() => {
      res.retryTimer = undefined;
      this.startResource(res);
    }, delay);
  }

  private startResource(res: Resource): void {
    if (this.stopped) return;
    const errorsBefore = res.errors;
    const p = res.informer
      .start()
      .then(() => {
        // Listed (if needed) and watching without an error: the next failure starts the backoff afresh.
        if (res.errors === errorsBefore) res.attempts = 0;
      })
      .catch((err: unknown) => this.onError(res, err));
    res.starting = p;
    void p.finally(() => {
      if (res.starting === p) res.starting = undefined;
    });
  }

  /** Starts every informer; resolves when each has made its first attempt (see ready()). */
  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    for (const res of this.resources) this.startResource(res);
    await Promise.all(this.resources.map((r) => r.starting));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const res of this.resources) {
      if (res.retryTimer) clearTimeout(res.retryTimer);
      res.retryTimer = undefined;
      await res.informer.stop();
    }
    // A start that was connecting when stop() ran assigns its watch afterwards: stop it again.
    await Promise.all(this.resources.map((r) => r.starting));
    for (const res of this.resources) await res.informer.stop();
  }
}
