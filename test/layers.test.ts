// The layers hold: dependency-cruiser checks src/ against .dependency-cruiser.cjs, and the same
// rules fail on a fixture that breaks them (so this test can fail).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { REPO, tmpDir } from './helpers/env.ts';

const CONFIG = path.join(REPO, '.dependency-cruiser.cjs');
const DEPCRUISE = path.join(REPO, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');

interface Violation {
  from: string;
  to: string;
  rule: { name: string; severity: string };
}
interface CruiseResult {
  status: number | null;
  modules: { source: string; dependencies: { resolved: string }[] }[];
  violations: Violation[];
  stderr: string;
}

function cruise(cwd: string): CruiseResult {
  const r = spawnSync(process.execPath, [DEPCRUISE, 'src', '--config', CONFIG, '--output-type', 'json'], { cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.ok(r.stdout.trim().startsWith('{'), `dependency-cruiser printed no report (exit ${r.status}): ${r.stderr}`);
  const out = JSON.parse(r.stdout) as { modules: CruiseResult['modules']; summary: { violations: Violation[] } };
  return { status: r.status, modules: out.modules, violations: out.summary.violations, stderr: r.stderr };
}

/** The plain `depcruise` run as a person or CI would type it: its exit status is the number of errors. */
function cruiseErr(cwd: string): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [DEPCRUISE, 'src', '--config', CONFIG, '--output-type', 'err'], { cwd, encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr };
}

const describeViolation = (v: Violation) => `${v.rule.name}: ${v.from} -> ${v.to}`;

function sourceFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.(ts|mjs)$/.test(f))
    .map((f) => `src/${f.split(path.sep).join('/')}`)
    .sort();
}

test('src/ keeps its layers: no forbidden import, no cycle (.dependency-cruiser.cjs)', () => {
  const r = cruise(REPO);
  assert.deepEqual(r.violations.map(describeViolation), [], 'layering rules broken (see .dependency-cruiser.cjs for the direction)');
  // The checker saw every source file and their imports: a parser that skipped .ts would pass vacuously.
  const seen = new Set(r.modules.map((m) => m.source));
  assert.deepEqual(sourceFiles(path.join(REPO, 'src')).filter((f) => !seen.has(f)), [], 'files dependency-cruiser did not read');
  const edges = new Set(r.modules.flatMap((m) => m.dependencies.map((d) => `${m.source} -> ${d.resolved}`)));
  for (const e of ['src/main.ts -> src/cli.ts', 'src/cli.ts -> src/commands/index.ts', 'src/ops/backup/backup.ts -> src/version.ts', 'src/ops/backup/verify.ts -> src/progress.ts']) {
    assert.ok(edges.has(e), `expected import ${e} (type-only imports included)`);
  }
});

function fixture(files: Record<string, string>): string {
  const dir = tmpDir('storectl-layers-');
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', allowImportingTsExtensions: true, noEmit: true } }));
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}

const CLEAN = {
  'src/errors.ts': 'export class StorectlError extends Error {}\n',
  'src/progress.ts': 'export interface Progress { tick(n?: number): void }\n',
  'src/ui/progress.ts': "import type { Progress } from '../progress.ts';\nexport const bar = (p: Progress) => p;\n",
  'src/db/catalog.ts': "import { StorectlError } from '../errors.ts';\nexport const fail = () => new StorectlError();\n",
  'src/ops/stats.ts': "import type { Progress } from '../progress.ts';\nimport { fail } from '../db/catalog.ts';\nexport const stats = (p: Progress) => (p ? 1 : fail());\n",
};

test('the same rules pass a clean fixture and fail one with a forbidden import or a cycle', (t) => {
  const clean = fixture(CLEAN);
  const forbidden = fixture({ ...CLEAN, 'src/ops/stats.ts': "import type { Progress } from '../ui/progress.ts';\nexport const stats = (p: Progress) => p;\n" });
  const backwards = fixture({ ...CLEAN, 'src/db/catalog.ts': "import { stats } from '../ops/stats.ts';\nexport const fail = () => stats;\n" });
  t.after(() => [clean, forbidden, backwards].forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  const ok = cruise(clean);
  assert.deepEqual(ok.violations.map(describeViolation), []);
  assert.equal(ok.modules.filter((m) => m.source.startsWith('src/')).length, Object.keys(CLEAN).length);
  assert.equal(cruiseErr(clean).status, 0);

  const bad = cruise(forbidden);
  assert.deepEqual(bad.violations.map(describeViolation), ['ops-never-up: src/ops/stats.ts -> src/ui/progress.ts']);
  const badErr = cruiseErr(forbidden);
  assert.equal(badErr.status, 1, `dependency-cruiser must exit non-zero on a violation: ${badErr.out}`);
  assert.match(badErr.out, /ops-never-up/);

  const cyc = cruise(backwards);
  const rules = new Set(cyc.violations.map((v) => v.rule.name));
  assert.ok(rules.has('db-independent'), cyc.violations.map(describeViolation).join('\n'));
  assert.ok(rules.has('no-circular'), cyc.violations.map(describeViolation).join('\n'));
});
