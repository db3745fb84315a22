// The browser's side of /api/v1/dashboard/<page>: one GET per page (and, on the edge pages, one
// POST for the addresses behind the edges drawn), errors as UiApiError with
// the server's code and message (a 400 says which parameter to write differently).
import type { ApiErrorBody, EdgeAddressesData, EdgeRef } from './types.js';

export class UiApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'UiApiError';
  }
}

export function fetchDashboard<T>(page: string, params: URLSearchParams, signal: AbortSignal): Promise<T> {
  return request<T>(`../api/v1/dashboard/${page}?${params.toString()}`, { signal, headers: { accept: 'application/json' } });
}

/** The addresses behind some edges of an edge page, with the page's query parameters. */
export function fetchEdgeAddresses(page: string, params: URLSearchParams, edges: EdgeRef[], signal: AbortSignal): Promise<EdgeAddressesData> {
  return request<EdgeAddressesData>(`../api/v1/dashboard/${page}/addresses?${params.toString()}`, {
    method: 'POST',
    signal,
    headers: { accept: 'application/json', 'content-type': 'application/json' },
    body: JSON.stringify({ edges }),
  });
}

async function request<T>(url: string, init: RequestInit): Promise<T> {
  let res: Response;
  try {
    res = await fetch(url, init);
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new UiApiError('UI_ERR_NETWORK', `the server did not answer: ${(err as Error).message}`, 0);
  }
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    throw new UiApiError('UI_ERR_BAD_RESPONSE', `the server answered ${res.status} with something that is not JSON`, res.status);
  }
  if (!res.ok) {
    const e = body as Partial<ApiErrorBody>;
    throw new UiApiError(e.error ?? `HTTP_${res.status}`, e.message ?? `the server answered ${res.status}`, res.status);
  }
  return body as T;
}
