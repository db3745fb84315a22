#!/usr/bin/env node
// Builds the web dashboards (src/ui) into static files the HTTP server serves:
//   dist/src/ui/static/{index.html, app.js, chart-<hash>.js (ECharts), app.css}
// 1. type-checks the browser code with its own tsconfig (DOM library; the root tsconfig
//    excludes src/ui), 2. bundles src/ui/main.ts with esbuild (ECharts included; nothing is
//    loaded from a CDN), 3. copies index.html and app.css.
// Usage: node scripts/build-ui.mjs [--no-check]
import { copyFileSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src/ui');
const out = join(root, 'dist/src/ui/static');

if (!process.argv.includes('--no-check')) {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(src, 'tsconfig.json')], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error('build-ui: the browser code does not type-check (see above)');
    process.exit(r.status ?? 1);
  }
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const started = Date.now();
// Split: app.js (the shell, pages and store) starts the page's request at once; ECharts, which
// is most of the code, is a chunk main.ts imports dynamically, loaded while the data comes.
await build({
  entryPoints: { app: join(src, 'main.ts') },
  outdir: out,
  splitting: true,
  chunkNames: '[name]-[hash]',
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  minify: true,
  sourcemap: true,
  legalComments: 'linked',
  logLevel: 'warning',
});
for (const f of ['index.html', 'app.css']) copyFileSync(join(src, f), join(out, f));
const kb = (f) => `${(statSync(join(out, f)).size / 1024).toFixed(0)} KiB`;
const chunks = readdirSync(out).filter((f) => f.endsWith('.js') && f !== 'app.js');
console.log(`build-ui: ${out} (app.js ${kb('app.js')}, ${chunks.map((c) => `${c} ${kb(c)}`).join(', ')}, app.css ${kb('app.css')}) in ${Date.now() - started} ms`);
