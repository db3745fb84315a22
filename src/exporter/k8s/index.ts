// The one entry point the exporter uses: build a ClusterMetadata from its config section.
import type { Clock } from '../../util/clock.js';
import { KubernetesApiMetadata } from './api-metadata.js';
import { InventoryMetadata } from './inventory-metadata.js';
import type { ClusterMetadata, MetadataLogger } from './metadata.js';

export type { ClusterMetadata, ContainerPort, MetadataStats, NodeInfo, PodInfo, PolicyAttribution, PolicyQuery, PolicyVerdict, ServicePortInfo } from './metadata.js';
export { K8sError, K8sErrorCodes, type K8sErrorCode } from './errors.js';
export { KubernetesApiMetadata } from './api-metadata.js';
export { InventoryMetadata } from './inventory-metadata.js';

export type MetadataSourceConfig =
  /** The Kubernetes API with the Pod's service account. */
  | { readonly source: 'in-cluster' }
  /** The Kubernetes API through a kubeconfig file (optionally one of its contexts). */
  | { readonly source: 'kubeconfig'; readonly kubeconfig: string; readonly context?: string }
  /** A static YAML inventory of manifests. */
  | { readonly source: 'inventory'; readonly path: string; readonly pollIntervalMs?: number };

export function createClusterMetadata(config: MetadataSourceConfig, deps: { clock?: Clock; logger?: MetadataLogger } = {}): ClusterMetadata {
  switch (config.source) {
    case 'in-cluster':
      return new KubernetesApiMetadata({ ...deps, connection: { inCluster: true } });
    case 'kubeconfig':
      return new KubernetesApiMetadata({ ...deps, connection: { kubeconfig: config.kubeconfig, context: config.context } });
    case 'inventory':
      return new InventoryMetadata({ ...deps, path: config.path, pollIntervalMs: config.pollIntervalMs });
  }
}
