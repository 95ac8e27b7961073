// Regenerates completions/ and man/storectl.1 from the live command tree.
// `npm run docs` writes them; `--check` exits 1 if a committed file is stale (a test runs it).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { programDoc } from '../src/docs/index.ts';
import { completionScript } from '../src/docs/completion.ts';
import { manPage } from '../src/docs/manpage.ts';

const repo = fileURLToPath(new URL('..', import.meta.url));

export function generatedDocs(): Record<string, string> {
  const doc = programDoc();
  return {
    'completions/storectl.bash': completionScript('bash', doc),
    'completions/_storectl': completionScript('zsh', doc),
    'completions/storectl.fish': completionScript('fish', doc),
    'man/storectl.1': manPage(doc),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const check = process.argv.includes('--check');
  let stale = 0;
  for (const [rel, text] of Object.entries(generatedDocs())) {
    const file = path.join(repo, rel);
    const current = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    if (current === text) continue;
    if (check) {
      console.error(`stale: ${rel} (run npm run docs)`);
      stale++;
    } else {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, text);
      console.error(`wrote ${rel}`);
    }
  }
  process.exitCode = stale ? 1 : 0;
}
