// The dashboards' store: the state (kept in the URL hash), the current page's data, its loading
// status, and the auto-refresh timer. Components read it and call its actions; they never
// fetch or touch the URL themselves.
import { fetchDashboard, fetchEdgeAddresses, UiApiError } from '../api/client.js';
import type { EdgeAddressesData, EdgeRef } from '../api/types.js';
import { apiParams, stateFromHash, stateToHash, withFilter, type FilterKey, type UiState } from '../domain/state.js';

export type Status = 'loading' | 'ready' | 'error';

export interface View {
  status: Status;
  /** The page's data; kept while a refresh loads, so the page does not flash. */
  data: unknown;
  /** Which page and query the data answers. */
  dataKey: string;
  error: UiApiError | null;
  /** When the data was loaded (epoch ms). */
  loadedAt: number;
}

type Listener = (state: UiState, view: View) => void;

export class AppStore {
  state: UiState;
  view: View = { status: 'loading', data: null, dataKey: '', error: null, loadedAt: 0 };
  private readonly listeners: Listener[] = [];
  private inFlight: AbortController | null = null;
  private timer: number | null = null;

  constructor(private readonly win: Window) {
    this.state = stateFromHash(win.location.hash);
  }

  start(): void {
    this.win.addEventListener('hashchange', () => {
      this.state = stateFromHash(this.win.location.hash);
      void this.load();
    });
    // Canonical hash (defaults written out) without a history entry.
    this.win.history.replaceState(null, '', stateToHash(this.state));
    void this.load();
  }

  subscribe(l: Listener): void {
    this.listeners.push(l);
  }

  private emit(): void {
    for (const l of this.listeners) l(this.state, this.view);
  }

  /** Moves to a new state: a history entry (so Back works) and a load. */
  navigate(next: UiState): void {
    const hash = stateToHash(next);
    if (hash === this.win.location.hash) {
      this.state = next;
      void this.load();
      return;
    }
    this.win.location.hash = hash;
  }

  setFilter(key: FilterKey, value: string, toggle = false): void {
    this.navigate(withFilter(this.state, key, value, toggle));
  }

  /** The key of the query the state asks for; data for another key is not shown as current. */
  queryKey(): string {
    return `${this.state.page}?${apiParams(this.state).toString()}`;
  }

  async load(): Promise<void> {
    this.inFlight?.abort();
    const controller = new AbortController();
    this.inFlight = controller;
    this.armTimer();
    const key = this.queryKey();
    // The request goes out first; the shell draws its loading state while it is under way.
    const request = fetchDashboard<unknown>(this.state.page, apiParams(this.state), controller.signal);
    request.catch(() => undefined);
    this.view = { ...this.view, status: 'loading', error: null };
    this.emit();
    try {
      const data = await request;
      if (controller.signal.aborted) return;
      this.view = { status: 'ready', data, dataKey: key, error: null, loadedAt: Date.now() };
    } catch (err) {
      if (controller.signal.aborted || (err as Error).name === 'AbortError') return;
      const e = err instanceof UiApiError ? err : new UiApiError('UI_ERR_INTERNAL', (err as Error).message, 0);
      this.view = { ...this.view, status: 'error', error: e };
    }
    this.emit();
  }

  /**
   * The addresses behind some edges of the current (edge) page, for the query its data answers.
   * A later load aborts it (the page it was for is gone).
   */
  edgeAddresses(edges: EdgeRef[]): Promise<EdgeAddressesData> {
    const signal = this.inFlight?.signal ?? new AbortController().signal;
    return fetchEdgeAddresses(this.state.page, apiParams(this.state), edges, signal);
  }

  private armTimer(): void {
    if (this.timer !== null) this.win.clearInterval(this.timer);
    this.timer = null;
    if (this.state.refresh > 0) this.timer = this.win.setInterval(() => void this.load(), this.state.refresh * 1000);
  }
}
