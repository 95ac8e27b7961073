// Bundles src/ into dist/ with esbuild (code splitting keeps the lazy imports lazy), so the
// installed CLI starts without compiling TypeScript. bin/storectl falls back to tsx when
// dist/ is missing or older than src/.
import { build } from 'esbuild';
import fs from 'node:fs';

fs.rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
await build({
  entryPoints: { main: 'src/main.ts', 'render-worker': 'src/render/worker-entry.ts', 'walk-worker': 'src/storage/walk-worker-entry.ts', 'hash-worker': 'src/storage/hash-worker-entry.ts', 'sqlite-thread': 'src/db/sqlite-thread-entry.ts', 'inspect-thread': 'src/ops/lifecycle/inspect-thread-entry.ts' },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  sourcemap: 'linked',
  logLevel: 'warning',
});
