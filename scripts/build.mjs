// Bundles src/ into dist/ with esbuild (code splitting keeps the lazy imports lazy), so the
// installed CLI starts without compiling TypeScript. bin/storectl falls back to tsx when
// dist/ is missing or older than src/.
import fs from 'node:fs';

// esbuild is a devDependency. An install without them (`npm install -g .` from a clone, which
// runs this `prepare` with the production dependencies only) has no esbuild: then there is no
// bundle, and bin/storectl runs the sources through tsx (a dependency), which is slower to start.
let build;
try {
  ({ build } = await import('esbuild'));
} catch {
  console.error('storectl: esbuild is not installed (no devDependencies): no dist/ bundle; bin/storectl runs src/ through tsx');
  process.exit(0);
}

fs.rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
await build({
  entryPoints: { main: 'src/main.ts', 'render-worker': 'src/render/worker-entry.ts', 'walk-worker': 'src/storage/walk-worker-entry.ts', 'hash-worker': 'src/storage/hash-worker-entry.ts', 'sqlite-thread': 'src/db/sqlite-thread-entry.ts', 'inspect-thread': 'src/ops/lifecycle/inspect-thread-entry.ts', 'removal-thread': 'src/storage/removal-thread.mjs', 'image-encoder': 'src/ops/images/encoder-entry.ts' },
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
