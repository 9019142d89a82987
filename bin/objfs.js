#!/usr/bin/env -S node --single-threaded-gc --interrupt-budget=1081344
// objfs command line entry point: the compiled TypeScript lives in dist/. The shebang's node flags
// are src/cli/node-flags.ts's NODE_FLAGS (they must be given before the process starts).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('objfs: not built yet: run "npm install" (or "npm run build") in the objfs directory\n');
  process.exit(1);
}
const { main } = await import(entry.href);
await main(process.argv);
