// ECharts, bundled (no CDN), with only the charts the dashboards draw. SVG rendering: the charts
// are small, text stays crisp and selectable, and tests can read the labels; a heatmap of more
// than CANVAS_HEATMAP_CELLS cells draws on a canvas.
import * as echarts from 'echarts/core';
import { HeatmapChart, LineChart, SankeyChart } from 'echarts/charts';
import { GridComponent, LegendComponent, TooltipComponent, VisualMapComponent } from 'echarts/components';
import { CanvasRenderer, SVGRenderer } from 'echarts/renderers';
import type { Heatmap as HeatmapData, LineSeries, SankeyData } from '../domain/charts.js';
import { formatBitRate, formatBytes } from '../domain/format.js';
import type { Entity } from '../domain/charts.js';

echarts.use([SankeyChart, LineChart, HeatmapChart, GridComponent, LegendComponent, TooltipComponent, VisualMapComponent, SVGRenderer, CanvasRenderer]);

/** Heatmaps with more cells than this draw on a canvas: thousands of SVG rects take long to lay out. */
export const CANVAS_HEATMAP_CELLS = 400;

const PALETTE = ['#2f6fde', '#e8833a', '#3aa675', '#9467bd', '#d4a106', '#17becf', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22'];
const DENIED = '#d62728';

interface PendingChart {
  el: HTMLElement;
  renderer: 'svg' | 'canvas';
  draw(chart: echarts.ECharts): void;
}

/**
 * The charts on the current page; disposed when the page is drawn again. A page asks for its
 * charts, then flush() draws them all: every box is measured first, in one layout, and each
 * chart is made at that size. (ECharts measures its box itself otherwise, and each measure after
 * a chart was drawn lays out the whole page again, large tables included.)
 */
export class ChartHost {
  private charts: echarts.ECharts[] = [];
  private pending: PendingChart[] = [];
  /** The size each chart was made at: the observer's first report of it is no resize. */
  private readonly madeAt = new WeakMap<Element, string>();
  private readonly observer = new ResizeObserver((entries) => {
    for (const e of entries) {
      const size = `${Math.round(e.contentRect.width)}x${Math.round(e.contentRect.height)}`;
      if (this.madeAt.get(e.target) === size) continue;
      this.madeAt.delete(e.target);
      echarts.getInstanceByDom(e.target as HTMLElement)?.resize({ width: 'auto', height: 'auto' });
    }
  });

  private init(el: HTMLElement, draw: (chart: echarts.ECharts) => void, renderer: 'svg' | 'canvas' = 'svg'): void {
    this.pending.push({ el, renderer, draw });
  }

  /** Draws the charts asked for since the last flush. */
  flush(): void {
    const boxes = this.pending;
    this.pending = [];
    const sizes = boxes.map((p) => ({ width: p.el.clientWidth, height: p.el.clientHeight }));
    boxes.forEach((p, i) => {
      const { width, height } = sizes[i];
      const chart = echarts.init(p.el, null, { renderer: p.renderer, width, height });
      p.el.dataset.renderer = p.renderer;
      this.charts.push(chart);
      this.madeAt.set(p.el, `${width}x${height}`);
      this.observer.observe(p.el);
      p.draw(chart);
    });
  }

  disposeAll(): void {
    this.observer.disconnect();
    this.pending = [];
    for (const c of this.charts) c.dispose();
    this.charts = [];
  }

  /** `lateDetails`: tooltip lines known only after drawing (read when the tooltip shows). */
  sankey(
    el: HTMLElement,
    data: SankeyData,
    onEntity: (e: Entity) => void,
    valueText: (v: number) => string = formatBytes,
    lateDetails?: (link: { source: string; target: string }) => string[],
  ): void {
    const byName = new Map(data.nodes.map((n) => [n.name, n]));
    el.style.height = `${Math.min(640, Math.max(220, 60 + data.nodes.length * 14))}px`;
    this.init(el, (chart) => this.drawSankey(chart, data, byName, onEntity, valueText, lateDetails));
  }

  private drawSankey(
    chart: echarts.ECharts,
    data: SankeyData,
    byName: Map<string, SankeyData['nodes'][number]>,
    onEntity: (e: Entity) => void,
    valueText: (v: number) => string,
    lateDetails?: (link: { source: string; target: string }) => string[],
  ): void {
    chart.setOption({
      animation: false,
      color: PALETTE,
      tooltip: {
        trigger: 'item',
        confine: true,
        formatter: (p: { dataType: string; name: string; value: number; data: { source?: string; target?: string; details?: string[] } }) => {
          if (p.dataType === 'edge') {
            const s = byName.get(p.data.source ?? '')?.label ?? '';
            const t = byName.get(p.data.target ?? '')?.label ?? '';
            const late = lateDetails?.({ source: p.data.source ?? '', target: p.data.target ?? '' }) ?? [];
            return [`${esc(s)} → ${esc(t)}`, `<b>${valueText(p.value)}</b>`, ...(p.data.details ?? []).map(esc), ...late.map(esc)].join('<br>');
          }
          return `${esc(byName.get(p.name)?.label ?? p.name)}<br><b>${valueText(p.value)}</b>`;
        },
      },
      series: [
        {
          type: 'sankey',
          left: 8,
          right: 8,
          top: 8,
          bottom: 8,
          nodeGap: 6,
          nodeWidth: 12,
          layoutIterations: 16,
          emphasis: { focus: 'adjacency' },
          data: data.nodes.map((n) => ({ name: n.name, label: { position: n.side === 'source' ? 'right' : 'left' } })),
          links: data.links.map((l) => ({
            source: l.source,
            target: l.target,
            value: l.value,
            details: l.details,
            lineStyle: l.denied ? { color: DENIED, opacity: 0.65 } : { color: 'gradient', opacity: 0.35 },
          })),
          label: { fontSize: 11, formatter: (p: { name: string }) => byName.get(p.name)?.label ?? p.name },
        },
      ],
    });
    chart.on('click', (p) => {
      const params = p as unknown as { dataType: string; name: string };
      if (params.dataType !== 'node') return;
      const entity = byName.get(params.name)?.entity;
      if (entity) onEntity(entity);
    });
  }

  line(el: HTMLElement, series: LineSeries[], onSeries?: (name: string) => void, colors?: string[]): void {
    this.init(el, (chart) => this.drawLine(chart, series, onSeries, colors));
  }

  private drawLine(chart: echarts.ECharts, series: LineSeries[], onSeries?: (name: string) => void, colors?: string[]): void {
    chart.setOption({
      animation: false,
      color: colors ?? PALETTE,
      grid: { left: 64, right: 16, top: 40, bottom: 28 },
      legend: { type: 'scroll', top: 4, textStyle: { fontSize: 11 } },
      tooltip: { trigger: 'axis', confine: true, valueFormatter: (v: unknown) => formatBitRate(Number(v)) },
      xAxis: { type: 'time' },
      yAxis: { type: 'value', axisLabel: { formatter: (v: number) => formatBitRate(v) } },
      series: series.map((s) => ({ type: 'line', name: s.name, data: s.data, showSymbol: false, lineStyle: { width: 1.5 }, emphasis: { focus: 'series' } })),
    });
    if (onSeries) chart.on('click', (p) => onSeries((p as unknown as { seriesName: string }).seriesName));
  }

  heatmap(el: HTMLElement, data: HeatmapData, onCell: (source: string, destination: string) => void): void {
    el.style.height = `${Math.max(220, 90 + data.sources.length * 36)}px`;
    this.init(el, (chart) => this.drawHeatmap(chart, data, onCell), data.cells.length > CANVAS_HEATMAP_CELLS ? 'canvas' : 'svg');
  }

  private drawHeatmap(chart: echarts.ECharts, data: HeatmapData, onCell: (source: string, destination: string) => void): void {
    chart.setOption({
      animation: false,
      grid: { left: 96, right: 16, top: 24, bottom: 96 },
      tooltip: {
        confine: true,
        formatter: (p: { value: [number, number, number] }) =>
          `${esc(data.sources[p.value[1]])} → ${esc(data.destinations[p.value[0]])}<br><b>${mbps(p.value[2])} Mbps</b>`,
      },
      xAxis: { type: 'category', data: data.destinations, name: 'destination', nameLocation: 'middle', nameGap: 26 },
      yAxis: { type: 'category', data: data.sources, name: 'source' },
      visualMap: { min: 0, max: data.max > 0 ? data.max : 1, calculable: true, orient: 'horizontal', left: 'center', bottom: 0, itemHeight: 120, formatter: (v: number) => `${mbps(v)} Mbps`, inRange: { color: ['#eef4ff', '#2f6fde', '#0b2a66'] } },
      series: [{ type: 'heatmap', data: data.cells, label: { show: data.cells.length <= 100, fontSize: 11, formatter: (p: { value: [number, number, number] }) => mbps(p.value[2]) } }],
    });
    chart.on('click', (p) => {
      const v = (p as unknown as { value: [number, number, number] }).value;
      onCell(data.sources[v[1]], data.destinations[v[0]]);
    });
  }
}

/** Mbps with the digits that matter: 12.35, 0.0042, 0. */
function mbps(v: number): string {
  if (v === 0) return '0';
  return v >= 1 ? v.toFixed(2) : v.toPrecision(2);
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
