// The browser's side of /api/v1/dashboard/<page>: one GET per page, errors as UiApiError with
// the server's code and message (a 400 says which parameter to write differently).
import type { ApiErrorBody } from './types.js';

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

export async function fetchDashboard<T>(page: string, params: URLSearchParams, signal: AbortSignal): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`../api/v1/dashboard/${page}?${params.toString()}`, { signal, headers: { accept: 'application/json' } });
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
