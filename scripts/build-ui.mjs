#!/usr/bin/env node
// Builds the web dashboards (src/ui) into static files the HTTP server serves:
//   dist/src/ui/static/{index.html, app.js, chart-<hash>.js (ECharts), app.css}
// 1. type-checks the browser code with its own tsconfig (DOM library; the root tsconfig
//    excludes src/ui), 2. bundles src/ui/main.ts with esbuild (ECharts included; nothing is
//    loaded from a CDN; ECharts in its own chunk), 3. copies app.css, and index.html with a
//    modulepreload per shared chunk.
// Usage: node scripts/build-ui.mjs [--no-check]
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
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
copyFileSync(join(src, 'app.css'), join(out, 'app.css'));
// index.html names the shared chunks that app.js imports, so that the browser fetches them with
// app.js rather than one round trip after it. Not ECharts: app.js asks for it itself, once it has
// sent the page's request (compiling it earlier would hold that request back).
const chunkFiles = readdirSync(out).filter((f) => f.endsWith('.js') && f !== 'app.js');
const preload = chunkFiles
  .filter((f) => f.startsWith('chunk-'))
  .map((f) => `<link rel="modulepreload" href="${f}">`)
  .join('\n');
const html = readFileSync(join(src, 'index.html'), 'utf8');
if (!html.includes('<script type="module" src="app.js"></script>')) throw new Error('build-ui: src/ui/index.html no longer loads app.js as expected');
writeFileSync(join(out, 'index.html'), html.replace('<script type="module" src="app.js"></script>', `<script type="module" src="app.js"></script>\n${preload}`));
const kb = (f) => `${(statSync(join(out, f)).size / 1024).toFixed(0)} KiB`;
console.log(`build-ui: ${out} (app.js ${kb('app.js')}, ${chunkFiles.map((c) => `${c} ${kb(c)}`).join(', ')}, app.css ${kb('app.css')}) in ${Date.now() - started} ms`);
