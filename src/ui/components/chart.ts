// ECharts, bundled (no CDN), with only the charts the dashboards draw. SVG rendering: the charts
// are small, text stays crisp and selectable, and tests can read the labels.
import * as echarts from 'echarts/core';
import { HeatmapChart, LineChart, SankeyChart } from 'echarts/charts';
import { GridComponent, LegendComponent, TooltipComponent, VisualMapComponent } from 'echarts/components';
import { SVGRenderer } from 'echarts/renderers';
import type { Heatmap as HeatmapData, LineSeries, SankeyData } from '../domain/charts.js';
import { formatBitRate, formatBytes } from '../domain/format.js';
import type { Entity } from '../domain/charts.js';

echarts.use([SankeyChart, LineChart, HeatmapChart, GridComponent, LegendComponent, TooltipComponent, VisualMapComponent, SVGRenderer]);

const PALETTE = ['#2f6fde', '#e8833a', '#3aa675', '#9467bd', '#d4a106', '#17becf', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22'];
const DENIED = '#d62728';

/** The charts on the current page; disposed when the page is drawn again. */
export class ChartHost {
  private charts: echarts.ECharts[] = [];
  private readonly observer = new ResizeObserver((entries) => {
    for (const e of entries) echarts.getInstanceByDom(e.target as HTMLElement)?.resize();
  });

  private init(el: HTMLElement): echarts.ECharts {
    const chart = echarts.init(el, null, { renderer: 'svg' });
    this.charts.push(chart);
    this.observer.observe(el);
    return chart;
  }

  disposeAll(): void {
    this.observer.disconnect();
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
    const chart = this.init(el);
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
    const chart = this.init(el);
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
    const chart = this.init(el);
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
