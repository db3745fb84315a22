// The dashboards in a real browser (Debian's chromium via playwright-core) against the
// aggregator's HTTP server, whose store a real aggregator filled from two exporting processes
// (dashboard-server.ts). Screenshots go to artifacts/ui/.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { browserMissing, launchBrowser, type Browser } from './browser.js';
import { startDashboardServer, T_END, type DashboardServer } from './dashboard-server.js';

// The callbacks given to page.evaluate/waitForFunction run in the browser; these are the few
// browser globals they use (the Node tsconfig has no DOM library).
declare const document: { documentElement: { dataset: Record<string, string | undefined>; scrollWidth: number } };
declare const window: { innerWidth: number };

const skip = browserMissing();
const ARTIFACTS = join(process.cwd(), 'artifacts', 'ui');

describe('web dashboards in chromium', { skip: skip ?? false }, () => {
  let server: DashboardServer;
  let browser: Browser;
  const consoleErrors: string[] = [];

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    server = await startDashboardServer();
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  async function open(hash: string, viewport?: { width: number; height: number }): Promise<Page> {
    const page = await browser.context.newPage();
    if (viewport) await page.setViewportSize(viewport);
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(`${hash}: ${m.text()}`);
    });
    page.on('pageerror', (e) => consoleErrors.push(`${hash}: ${e.message}`));
    await page.goto(`${server.url}/ui/${hash}`);
    return page;
  }

  /** Waits until the page has drawn data for a query that contains every part. */
  async function drawn(page: Page, ...parts: string[]): Promise<void> {
    await page.waitForFunction(
      (want) => {
        const d = document.documentElement.dataset;
        return d.state === 'ready' && want.every((p) => (d.drawn ?? '').includes(p));
      },
      parts,
      { timeout: 15_000 },
    );
  }

  /** The edge pages ask for the addresses behind their edges once drawn; waits for them. */
  async function addressesIn(page: Page): Promise<void> {
    await page.waitForSelector('[data-table="edges"][data-addresses="ready"]', { timeout: 15_000 });
  }

  const text = (page: Page, selector: string) => page.locator(selector).innerText();
  const rows = async (page: Page, table: string) => page.locator(`[data-table="${table}"] tbody tr`).allInnerTexts();
  const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

  it('Overview shows the totals, top entities, denied connections and losses of the known flows', async () => {
    const page = await open('#/overview?last=1h');
    await drawn(page, 'overview?');
    assert.match(await text(page, '[data-stat="records"]'), /Flow records\s+5$/);
    assert.match(await text(page, '[data-stat="connections"]'), /\b5$/);
    assert.match(await text(page, '[data-stat="active"]'), /\b4$/);
    assert.match(await text(page, '[data-stat="denied"]'), /\b1$/);
    assert.match(await text(page, '[data-stat="bytes"]'), /2\.3 MiB \/ 4\.4 MiB/);
    assert.match(await text(page, '[data-stat="packets"]'), /2,062 \/ 3,720/);
    assert.match(await text(page, '[data-stat="dropped"]'), /\b0$/);
    assert.match(await text(page, '[data-stat="lost"]'), /\b0$/);
    assert.deepEqual((await rows(page, 'top-namespaces')).map((r) => r.split('\t')[0]), ['shop', 'monitoring']);
    assert.deepEqual((await rows(page, 'top-pods')).map((r) => r.split('\t')[0]), ['monitoring/prom-0', 'shop/web-1', 'shop/web-2']);
    assert.deepEqual((await rows(page, 'top-services')).map((r) => r.split('\t')[0]), ['shop/frontend:http']);
    const denied = await rows(page, 'denied');
    assert.equal(denied.length, 1);
    assert.match(denied[0], /shop\/web-2\t8\.8\.8\.8\t53\/UDP\tegress shop\/deny-dns\tdrop\t1/);
    assert.equal(await page.locator('[data-chart="throughput"] svg').count(), 1, 'the throughput chart is drawn');
    await shot(page, 'overview');
    await page.close();
  });

  it('Pod-to-Pod, Pod-to-External and Pod-to-Service show their edges with Tx, Rx and IPs', async () => {
    const pod = await open('#/pod-to-pod?last=1h');
    await drawn(pod, 'pod-to-pod?');
    await addressesIn(pod);
    assert.deepEqual(await rows(pod, 'edges'), [
      // The Service's ClusterIP is among the destination addresses: prom-0 reached web-1 through it.
      'monitoring/prom-0\tshop/web-1\t293 KiB\t2.9 MiB\t1\t10.10.1.30\t10.10.0.11, 10.96.0.10',
      'shop/web-1\tshop/db-1\t1.9 MiB\t488 KiB\t1\t10.10.0.11\t10.10.1.21',
      'shop/web-1\tshop/cache-1\t97.7 KiB\t391 KiB\t1\t10.10.0.11\t10.10.0.12',
    ]);
    // The sankeys draw the Pod names (SVG text), the line charts their series.
    const sankeyText = await pod.locator('[data-chart="sankey-tx"] svg').innerHTML();
    for (const name of ['shop/db-1', 'shop/cache-1', 'monitoring/prom-0']) assert.ok(sankeyText.includes(name), name);
    assert.equal(await pod.locator('[data-chart="sankey-rx"] svg').count(), 1);
    assert.equal(await pod.locator('[data-chart="by-source"] svg').count(), 1);
    assert.equal(await pod.locator('[data-chart="by-destination"] svg').count(), 1);
    // A link's tooltip lists the addresses behind it (asked for after the page was drawn).
    const link = pod.locator('[data-chart="sankey-tx"] svg path[fill-opacity], [data-chart="sankey-tx"] svg path[stroke-opacity]').first();
    await link.hover({ force: true });
    await pod.waitForFunction(() => (document as unknown as { body: { innerText: string } }).body.innerText.includes('source IPs: '), undefined, { timeout: 5000 });
    await shot(pod, 'pod-to-pod');
    await pod.close();

    const ext = await open('#/pod-to-external?last=1h');
    await drawn(ext, 'pod-to-external?');
    await addressesIn(ext);
    assert.deepEqual(await rows(ext, 'edges'), ['shop/web-2\t93.184.216.34\t48.8 KiB\t684 KiB\t1\t10.10.0.13\t93.184.216.34', 'shop/web-2\t8.8.8.8\t120 B\t0 B\t1\t10.10.0.13\t8.8.8.8']);
    assert.ok((await ext.locator('[data-chart="sankey-tx"] svg').innerHTML()).includes('93.184.216.34'));
    await shot(ext, 'pod-to-external');
    await ext.close();

    const svc = await open('#/pod-to-service?last=1h');
    await drawn(svc, 'pod-to-service?');
    await addressesIn(svc);
    assert.deepEqual(await rows(svc, 'edges'), ['monitoring/prom-0\tshop/frontend:http\t293 KiB\t2.9 MiB\t1\t10.10.1.30\t10.10.0.11, 10.96.0.10']);
    const legend = await svc.locator('[data-chart="by-destination"] svg').innerHTML();
    assert.ok(legend.includes('shop/frontend:http Tx') && legend.includes('shop/frontend:http Rx'), 'Tx and Rx lines per Service');
    await shot(svc, 'pod-to-service');
    await svc.close();
  });

  it('a sankey of many edges draws the largest and one labelled "other" link; the table lists every edge', async () => {
    // A large answer, made here in the test: 40 Pod pairs, more than the 30 links a sankey draws.
    const page = await browser.context.newPage();
    page.on('pageerror', (e) => consoleErrors.push(`many edges: ${e.message}`));
    const edges = Array.from({ length: 40 }, (_, i) => ({ source: `shop/web-${i}`, destination: `shop/db-${i % 4}`, txBytes: 1000 * (40 - i), rxBytes: 10, flows: 1 }));
    const range = { from: T_END - 3600, to: T_END };
    const empty = { bucketSeconds: 60, series: [] };
    await page.route('**/api/v1/dashboard/pod-to-pod?*', (route) =>
      route.fulfill({ json: { range, completeness: { recordsDropped: 0, recordsLost: 0, storeDropped: 0, snapshots: 0, complete: false }, edges, bySource: empty, byDestination: empty } }),
    );
    await page.route('**/api/v1/dashboard/pod-to-pod/addresses?*', (route) =>
      route.fulfill({ json: { edges: edges.map((e) => ({ source: e.source, destination: e.destination, sourceIps: ['10.0.0.1'], destinationIps: ['10.0.0.2'] })), truncated: false } }),
    );
    await page.goto(`${server.url}/ui/#/pod-to-pod?last=1h`);
    await drawn(page, 'pod-to-pod?');
    await addressesIn(page);
    const sankey = await page.locator('[data-chart="sankey-tx"] svg').innerHTML();
    assert.ok(sankey.includes('other sources (10)') && sankey.includes('other destinations (4)'), 'the other link is labelled with what it stands for');
    assert.ok(sankey.includes('shop/web-0') && !sankey.includes('shop/web-39'), 'the largest edges are drawn, the smallest summed');
    assert.equal((await rows(page, 'edges')).length, 40);
    await shot(page, 'pod-to-pod-other-link');
    await page.close();
  });

  it('Node Throughput shows inter- and intra-node traffic per Node and the Node-pair heatmaps', async () => {
    const page = await open('#/node-throughput?last=1h');
    await drawn(page, 'node-throughput?');
    // Busiest first.
    assert.deepEqual(await rows(page, 'node-matrix'), [
      'node-b\tnode-a\t293 KiB\t2.9 MiB\t1',
      'node-a\tnode-b\t1.9 MiB\t488 KiB\t1',
      'node-a\t(external)\t48.9 KiB\t684 KiB\t2',
      'node-a\tnode-a\t97.7 KiB\t391 KiB\t1',
    ]);
    const inter = await page.locator('[data-chart="inter-node"] svg').innerHTML();
    assert.ok(inter.includes('node-a') && inter.includes('node-b'));
    assert.ok((await page.locator('[data-chart="intra-node"] svg').innerHTML()).includes('node-a'));
    assert.equal(await page.locator('[data-chart="heatmap-tx"] svg').count(), 1);
    assert.equal(await page.locator('[data-chart="heatmap-rx"] svg').count(), 1);
    await shot(page, 'node-throughput');
    await page.close();
  });

  it('Network Policy filters by ingress policy and shows denied flows in red', async () => {
    const page = await open('#/network-policy?last=1h');
    await drawn(page, 'network-policy?');
    const all = await rows(page, 'policy-edges');
    assert.equal(all.length, 3);
    const deniedRow = page.locator('[data-table="policy-edges"] tbody tr.denied');
    assert.equal(await deniedRow.count(), 1);
    assert.match(await deniedRow.innerText(), /shop\/deny-dns drop\t–\tshop\/web-2\t8\.8\.8\.8/);
    const sankey = await page.locator('[data-chart="sankey-policy"] svg').innerHTML();
    assert.ok(sankey.includes('egress shop/deny-dns') && sankey.includes('ingress shop/allow-db'));
    assert.ok(sankey.includes('214, 39, 40') || sankey.toLowerCase().includes('#d62728'), 'the denied link is red');
    await shot(page, 'network-policy');
    await page.fill('input[name="ingressPolicyNamespace"]', 'shop');
    await page.fill('input[name="ingressPolicyName"]', 'allow-db');
    await page.click('.policy-form button[type="submit"]');
    await drawn(page, 'network-policy?', 'ingressPolicy=shop%2Fallow-db');
    assert.match(page.url(), /ingressPolicy=shop%2Fallow-db/);
    assert.deepEqual((await rows(page, 'policy-edges')).map((r) => r.split('\t').slice(2, 4).join(' -> ')), ['shop/web-1 -> shop/db-1']);
    await page.close();
  });

  it('Flow Records sorts, pages, opens the detail panel with every field, and filters', async () => {
    const page = await open('#/flow-records?last=1h');
    await drawn(page, 'flow-records?');
    assert.equal((await rows(page, 'flows')).length, 5);
    assert.equal(await text(page, '.pager span'), 'records 1–5');
    assert.equal(await page.locator('[data-page="next"]').isDisabled(), true);
    await page.click('button[data-sort="octetDeltaCount"]');
    await drawn(page, 'sort=-octetDeltaCount');
    assert.match((await rows(page, 'flows'))[0], /shop\/web-1:41002\tshop\/db-1:5432\t\tTCP\tinterNode\t1\.9 MiB/);
    await page.click('button[data-sort="octetDeltaCount"]');
    await drawn(page, 'sort=octetDeltaCount');
    assert.match((await rows(page, 'flows'))[0], /8\.8\.8\.8:53.*120 B/);
    assert.equal(await page.locator('[data-table="flows"] tbody tr.denied').count(), 1);
    await page.click('[data-table="flows"] tbody tr[data-row="0"] td:first-child');
    await page.waitForSelector('[data-detail]');
    assert.match(page.url(), /row=0/);
    const fields = await page.locator('[data-detail] dd').evaluateAll((els) => els.map((e) => (e as unknown as { dataset: Record<string, string> }).dataset.field));
    for (const f of ['sourceIP', 'destinationIP', 'flowEndSeconds', 'egressNetworkPolicyRuleAction', 'destinationClusterIP', 'flowType', 'tcpState', 'originalExporterAddress']) {
      assert.ok(fields.includes(f), `detail has ${f}`);
    }
    assert.equal(await text(page, '[data-field="egressNetworkPolicyName"]'), 'deny-dns');
    assert.equal(await text(page, '[data-field="egressNetworkPolicyRuleAction"]'), 'drop (2)');
    await shot(page, 'flow-records');
    // A filter from the filter bar: the field list has every filter of the query layer.
    const keys = await page.locator('[data-control="filter-key"] option').allInnerTexts();
    assert.deepEqual(keys, ['namespace', 'pod', 'node', 'service', 'ip', 'port', 'protocol', 'flowType', 'action', 'policy', 'ingressPolicy', 'egressPolicy']);
    await page.selectOption('[data-control="filter-key"]', 'protocol');
    await page.fill('[data-control="filter-value"]', 'tcp');
    await page.click('.add-filter button[type="submit"]');
    await drawn(page, 'protocol=tcp');
    assert.equal((await rows(page, 'flows')).length, 4);
    assert.equal(await page.locator('[data-filter="protocol"]').count(), 1);
    await page.close();
  });

  it('clicking an entity filters every view by it, and the link keeps the state', async () => {
    const page = await open('#/overview?last=1h');
    await drawn(page, 'overview?');
    await page.click('[data-table="top-pods"] [data-entity="pod:shop/web-2"]');
    await drawn(page, 'overview?', 'pod=shop%2Fweb-2');
    assert.match(await text(page, '[data-stat="records"]'), /\b2$/);
    await page.click('[data-nav="pod-to-external"]');
    await drawn(page, 'pod-to-external?', 'pod=shop%2Fweb-2');
    assert.equal((await rows(page, 'edges')).length, 2);
    await page.click('[data-nav="pod-to-pod"]');
    await drawn(page, 'pod-to-pod?', 'pod=shop%2Fweb-2');
    assert.match(await text(page, 'main'), /No Pod-to-Pod traffic in this range with these filters/);
    // The shared link opens the same view in a new tab.
    const link = page.url();
    await page.close();
    const again = await browser.context.newPage();
    await again.goto(link);
    await drawn(again, 'pod-to-pod?', 'pod=shop%2Fweb-2');
    assert.equal(await again.locator('[data-filter="pod"]').innerText().then((t) => t.startsWith('pod: shop/web-2')), true);
    // Removing the filter chip brings every edge back.
    await again.click('[data-filter="pod"] button');
    await drawn(again, 'pod-to-pod?');
    await again.waitForFunction(() => !(document.documentElement.dataset.drawn ?? '').includes('pod='));
    assert.equal((await rows(again, 'edges')).length, 3);
    await again.close();
  });

  it('the time range picker and auto-refresh live in the URL; a range without flows shows the empty state', async () => {
    const page = await open('#/overview?last=1h');
    await drawn(page, 'overview?');
    await page.selectOption('[data-control="refresh"]', '30');
    await drawn(page, 'overview?');
    assert.match(page.url(), /refresh=30/);
    await page.selectOption('[data-control="range"]', '15m');
    await drawn(page, 'last=15m');
    assert.match(await text(page, '[data-stat="records"]'), /\b5$/);
    await page.selectOption('[data-control="range"]', 'custom');
    await page.waitForSelector('[data-control="from"]');
    assert.match(page.url(), /from=\d+&to=\d+/);
    const old = T_END - 86400;
    await page.goto(`${server.url}/ui/#/pod-to-pod?from=${old - 3600}&to=${old}`);
    await drawn(page, `from=${old - 3600}`);
    assert.match(await text(page, 'main'), /No Pod-to-Pod traffic in this range/);
    await shot(page, 'empty-state');
    await page.close();
  });

  it('a bad filter shows the server’s coded error, and Retry is offered', async () => {
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.url}/ui/#/overview?last=1h&port=99999`);
    await page.waitForSelector('.error');
    assert.match(await text(page, '.error'), /STORE_ERR_INVALID_QUERY\s+port=99999 is not valid; write a whole number from 0 to 65535/);
    assert.equal(await page.locator('.error button').innerText(), 'Retry');
    assert.deepEqual(errors, []);
    await shot(page, 'error-state');
    await page.close();
  });

  it('says so when the charts\' code does not load, and offers to load again', async () => {
    const page = await browser.context.newPage();
    await page.route('**/ui/chart-*.js', (route) => route.abort());
    await page.goto(`${server.url}/ui/#/overview?last=1h`);
    await page.waitForSelector('.error');
    assert.match(await text(page, '.error'), /UI_ERR_NETWORK\s+the charts’ code did not load|UI_ERR_NETWORK\s+the charts' code did not load/);
    assert.equal(await page.locator('.error button').innerText(), 'Retry');
    await page.close();
  });

  it('is usable on a narrow screen: nothing overflows sideways', async () => {
    for (const hash of ['#/overview?last=1h', '#/pod-to-pod?last=1h', '#/flow-records?last=1h&row=0']) {
      const page = await open(hash, { width: 390, height: 844 });
      await drawn(page, hash.slice(2, hash.indexOf('?') + 1));
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${hash}: ${overflow}px wider than the screen`);
      await shot(page, `narrow-${hash.slice(2, hash.indexOf('?'))}`);
      await page.close();
    }
  });

  it('logged no console errors on any page', () => {
    assert.deepEqual(consoleErrors, []);
  });
});
