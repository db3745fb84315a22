// What both metadata sources share: the ClusterState behind the lookups, readiness, and a
// default logger.
import pino from 'pino';
import type { PolicyVerdict } from '../policy/engine.js';
import { ClusterState, type ClusterStateOptions } from './cluster-state.js';
import type { ClusterMetadata, MetadataLogger, MetadataStats, NodeInfo, PodInfo, PolicyQuery, ServicePortInfo } from './metadata.js';

export function defaultLogger(name: string): MetadataLogger {
  return pino({ name }, pino.destination(2));
}

export abstract class StateBackedMetadata implements ClusterMetadata {
  protected readonly state: ClusterState;
  private isReady = false;
  private readyWaiters: (() => void)[] = [];

  constructor(options: ClusterStateOptions) {
    this.state = new ClusterState(options);
  }

  abstract start(): Promise<void>;
  abstract stop(): Promise<void>;

  ready(): boolean {
    return this.isReady;
  }

  protected markReady(): void {
    if (this.isReady) return;
    this.isReady = true;
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    for (const w of waiters) w();
  }

  waitUntilReady(timeoutMs: number): Promise<void> {
    if (this.isReady) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.readyWaiters = this.readyWaiters.filter((w) => w !== done);
        reject(new Error(`Kubernetes metadata not ready after ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.readyWaiters.push(done);
    });
  }

  podByIp(ip: string, atMs: number): PodInfo | undefined {
    return this.state.podByIp(ip, atMs);
  }
  serviceByClusterIp(ip: string, port: number, protocol: number): ServicePortInfo | undefined {
    return this.state.serviceByClusterIp(ip, port, protocol);
  }
  serviceByEndpoint(ip: string, port: number, protocol: number): ServicePortInfo | undefined {
    return this.state.serviceByEndpoint(ip, port, protocol);
  }
  nodeByName(name: string): NodeInfo | undefined {
    return this.state.nodeByName(name);
  }
  nodeByIp(ip: string): NodeInfo | undefined {
    return this.state.nodeByIp(ip);
  }
  podCidrs(): readonly string[] {
    return this.state.podCidrs();
  }
  evaluatePolicies(flow: PolicyQuery): PolicyVerdict {
    return this.state.evaluatePolicies(flow);
  }
  stats(): MetadataStats {
    return this.state.stats();
  }
}
