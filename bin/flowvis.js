#!/usr/bin/env node
// The flowvis command. The TypeScript sources are compiled to dist/ by `npm run build`
// (npm ci runs it through the prepare script).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write('flowvis: dist/ is missing; run `npm run build` in the flowvis checkout first\n');
  process.exit(2);
}
const { run } = await import(main.href);
await run(process.argv);
