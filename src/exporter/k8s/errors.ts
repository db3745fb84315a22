// Stable error codes of the Kubernetes metadata and NetworkPolicy attribution. Every code is
// listed in docs/kubernetes-metadata.md, and a unit test keeps the two in step.

export const K8sErrorCodes = {
  /** A Kubernetes object (Pod, Service, Node, ...) lacks a required field or has a bad value. */
  K8S_ERR_BAD_OBJECT: 'a Kubernetes object is malformed',
  /** A NetworkPolicy cannot be compiled: bad selector operator, CIDR, port or protocol. */
  K8S_ERR_BAD_POLICY: 'a NetworkPolicy is malformed',
  /** A label selector has an unknown operator or values that do not fit its operator. */
  K8S_ERR_BAD_SELECTOR: 'a label selector is malformed',
  /** An IP address or CIDR is not valid IPv4 or IPv6. */
  K8S_ERR_BAD_ADDRESS: 'an IP address or CIDR is malformed',
  /** The inventory file cannot be read, is not YAML, or holds an object that is not valid. */
  K8S_ERR_INVENTORY: 'the inventory file cannot be used',
  /** The kubeconfig or in-cluster configuration cannot be loaded. */
  K8S_ERR_CONFIG: 'the Kubernetes client configuration cannot be loaded',
  /** A list or watch of the Kubernetes API failed; the source retries with backoff. */
  K8S_ERR_WATCH: 'a list or watch of the Kubernetes API failed',
} as const;

export type K8sErrorCode = keyof typeof K8sErrorCodes;

export class K8sError extends Error {
  readonly code: K8sErrorCode;
  constructor(code: K8sErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'K8sError';
    this.code = code;
  }
}
