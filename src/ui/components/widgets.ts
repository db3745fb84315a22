// Building blocks the pages share: panels, stat cards, tables, empty and error states.
import type { EdgeAddressesData, EdgeRef } from '../api/types.js';
import type { Entity } from '../domain/charts.js';
import type { FilterKey, UiState } from '../domain/state.js';
import type { ChartHost } from './chart.js';
import { h } from './dom.js';

/** What a page gets to draw with. */
export interface PageContext {
  state: UiState;
  charts: ChartHost;
  /** Filters every view by the entity (clicking it again clears the filter). */
  filterBy(entity: Entity): void;
  setFilter(key: FilterKey, value: string): void;
  navigate(next: UiState): void;
  /** The addresses behind some edges of the current edge page (asked for after it is drawn). */
  edgeAddresses(edges: EdgeRef[]): Promise<EdgeAddressesData>;
}

export function panel(title: string, ...body: (Node | null)[]): HTMLElement {
  return h('section', { class: 'panel' }, h('h2', {}, title), ...body);
}

export function stat(id: string, label: string, value: string, tone: 'normal' | 'bad' = 'normal', title?: string): HTMLElement {
  return h('div', { class: `stat ${tone}`, 'data-stat': id, title }, h('div', { class: 'stat-label' }, label), h('div', { class: 'stat-value' }, value));
}

/** A box a chart draws into; `empty` replaces it when there is nothing to draw. */
export function chartBox(kind: string, isEmpty: boolean, emptyText = 'No traffic in this range with these filters.'): HTMLElement {
  if (isEmpty) return emptyState(emptyText);
  return h('div', { class: `chart ${kind}`, 'data-chart': kind });
}

export function emptyState(text: string): HTMLElement {
  return h('div', { class: 'empty', role: 'status' }, text);
}

export function errorState(code: string, message: string, retry: () => void): HTMLElement {
  return h(
    'div',
    { class: 'error', role: 'alert' },
    h('strong', {}, code),
    h('span', {}, ` ${message}`),
    h('button', { type: 'button', onclick: () => retry() }, 'Retry'),
  );
}

export interface Column<T> {
  label: string;
  cell(row: T): Node | string;
  numeric?: boolean;
}

/** A table; `entityOf` makes a cell's text a link that filters by it. */
export function table<T>(id: string, columns: Column<T>[], rows: T[], rowClass?: (row: T) => string): HTMLElement {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { 'data-table': id },
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { class: c.numeric ? 'num' : '' }, c.label)))),
      h(
        'tbody',
        {},
        rows.map((r) => h('tr', { class: rowClass?.(r) ?? '' }, columns.map((c) => h('td', { class: c.numeric ? 'num' : '' }, c.cell(r))))),
      ),
    ),
  );
}

/** A name that filters every view by its entity when clicked. */
export function entityLink(ctx: PageContext, text: string, entity: Entity | null): Node {
  if (!entity) return document.createTextNode(text);
  const active = ctx.state.filters[entity.kind] === entity.value;
  return h(
    'button',
    { type: 'button', class: `entity${active ? ' active' : ''}`, 'data-entity': `${entity.kind}:${entity.value}`, title: active ? `Clear the ${entity.kind} filter` : `Filter every view by ${entity.kind} ${entity.value}`, onclick: () => ctx.filterBy(entity) },
    text,
  );
}

export function grid(...children: HTMLElement[]): HTMLElement {
  return h('div', { class: 'grid' }, ...children);
}
