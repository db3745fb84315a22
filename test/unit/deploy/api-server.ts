// An in-test Kubernetes API server for Secrets and ConfigMaps (loopback, port 0): enough of
// GET, POST (create) and PUT (replace) under /api/v1/namespaces/<ns>/<secrets|configmaps>
// for the aggregator's certificate publication and restore. Like a real API server it stores a
// Secret's stringData base64-encoded in data, and returns only data. Every request is recorded
// so that tests can check it against the Role in deploy/.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';

export interface Recorded {
  method: string;
  resource: string;
  namespace: string;
  name: string | undefined;
}

/** A stored Secret's key as text (its data is base64, as the API server keeps it). */
export function secretText(secret: Record<string, unknown> | undefined, key: string): string | undefined {
  const data = secret?.data as Record<string, string> | undefined;
  const v = data?.[key];
  return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
}

export class SecretsApiServer {
  readonly requests: Recorded[] = [];
  readonly objects = new Map<string, Record<string, unknown>>();
  /** When set, every request gets this status (e.g. 403, 500) instead of an answer. */
  failWith: number | null = null;
  private readonly server: Server = createServer((req, res) => void this.handle(req, res));

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Writes a kubeconfig that points at this server (call after listen). */
  writeKubeconfig(file: string): void {
    const port = (this.server.address() as AddressInfo).port;
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: test',
        `  cluster: {server: "http://127.0.0.1:${port}", insecure-skip-tls-verify: true}`,
        'users:',
        '- name: aggregator',
        '  user: {token: test-token}',
        'contexts:',
        '- name: test',
        '  context: {cluster: test, user: aggregator}',
        'current-context: test',
        '',
      ].join('\n'),
    );
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = new URL(req.url ?? '/', 'http://x');
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/(secrets|configmaps)(?:\/([^/]+))?$/.exec(url.pathname);
    const send = (code: number, body: unknown) => res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (!m) {
      send(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: `no route ${url.pathname}` });
      return;
    }
    const [, namespace, resource, name] = m;
    this.requests.push({ method: req.method ?? '', resource, namespace, name });
    if (this.failWith !== null) {
      send(this.failWith, { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: this.failWith, message: 'refused by the test' });
      return;
    }
    const kind = resource === 'secrets' ? 'Secret' : 'ConfigMap';
    const body = chunks.length > 0 ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>) : {};
    const bodyName = (body.metadata as { name?: string } | undefined)?.name;
    const stored = (): Record<string, unknown> => {
      const o: Record<string, unknown> = { ...body, kind, apiVersion: 'v1' };
      if (kind === 'Secret' && o.stringData) {
        const data = { ...((o.data as Record<string, string> | undefined) ?? {}) };
        for (const [k, v] of Object.entries(o.stringData as Record<string, string>)) data[k] = Buffer.from(v, 'utf8').toString('base64');
        o.data = data;
        delete o.stringData;
      }
      return o;
    };
    if (req.method === 'GET' && name) {
      const o = this.objects.get(`${resource}/${namespace}/${name}`);
      if (o) send(200, o);
      else send(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: `${resource} "${name}" not found` });
    } else if (req.method === 'POST' && !name && bodyName) {
      const o = stored();
      this.objects.set(`${resource}/${namespace}/${bodyName}`, o);
      send(201, o);
    } else if (req.method === 'PUT' && name && bodyName === name) {
      const o = stored();
      this.objects.set(`${resource}/${namespace}/${name}`, o);
      send(200, o);
    } else {
      send(405, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'MethodNotAllowed', code: 405 });
    }
  }
}
