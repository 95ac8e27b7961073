// The layers of storectl, as rules dependency-cruiser holds (test/layers.test.ts runs it in `npm test`).
//
//   bin -> main -> cli -> commands -> ops -> (db | storage)
//
// ui is used by commands (and cli/main); render is used by ops; context and config are the
// composition that cli builds and ops receive; the base modules (errors, log, version, format,
// progress, ...) sit at the bottom and import no layer. Type-only imports count: a type pulls
// its module into the graph for readers and tools as much as a value does.
// src/docs/index.ts builds the whole program to describe it: scripts/gen-docs.ts and tests use
// it, nothing at run time does (the completion command describes the live program it is given).

const MAIN = '^src/main\\.ts$';
const CLI = '^src/cli\\.ts$';
const COMMANDS = '^src/commands/';
const DOCS_BUILD = '^src/docs/index\\.ts$';
const DOCS = '^src/docs/';
const OPS = '^src/ops/';
const CONTEXT = '^src/context\\.ts$';
const CONFIG = '^src/config\\.ts$';
const RENDER = '^src/render/';
const DB = '^src/db/';
const STORAGE = '^src/storage/';
const UI = '^src/ui/';
const BASE = '^src/(errors|log|visible|redact|units|threads|package-root|test-hooks|version|format|progress|bytewise|dirs|prng)\\.ts$';

const any = (...paths) => paths.join('|');
const rule = (name, comment, from, to) => ({ name, comment, severity: 'error', from, to });

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    rule('no-circular', 'no module may reach itself again through its imports', { path: '^src/' }, { circular: true }),
    rule('main-only-from-bin', 'src/main.ts is the entry point: only bin/storectl (outside src) starts it', { path: '^src/' }, { path: MAIN }),
    rule('cli-only-from-main', 'the commander program is built by main (and described by docs/index.ts)', { path: '^src/', pathNot: any(MAIN, DOCS_BUILD) }, { path: CLI }),
    rule('commands-only-from-cli', 'command definitions are registered by cli (and described by docs/index.ts)', { path: '^src/', pathNot: any(CLI, COMMANDS, DOCS_BUILD) }, { path: COMMANDS }),
    rule('docs-build-not-at-run-time', 'docs/index.ts builds a whole program: scripts and tests only', { path: '^src/', pathNot: DOCS_BUILD }, { path: DOCS_BUILD }),
    rule('docs-below-commands', 'docs generators work on the commander tree they are given', { path: DOCS, pathNot: DOCS_BUILD }, { path: any(MAIN, CLI, COMMANDS, OPS, CONTEXT, CONFIG, RENDER, DB, STORAGE, UI) }),
    rule('commands-use-ops', 'a command reads options, calls an operation and renders: no catalog or storage code (their vocabulary modules excepted)', { path: COMMANDS }, { path: any(DB, STORAGE), pathNot: '^src/(db/types|storage/layout|storage/blob)\\.ts$' }),
    rule('ops-never-up', 'operations return reports and never print: no ui, no cli, no commands', { path: OPS }, { path: any(MAIN, CLI, COMMANDS, DOCS, UI) }),
    rule('context-below-commands', 'the Context ops receive is built from db, storage and config only', { path: CONTEXT }, { path: any(MAIN, CLI, COMMANDS, DOCS, OPS, UI, RENDER) }),
    rule('config-below-context', 'configuration is read before anything opens', { path: CONFIG }, { path: any(MAIN, CLI, COMMANDS, DOCS, OPS, UI, RENDER, CONTEXT, DB) }),
    rule('render-below-ops', 'card and export rendering is a library for ops', { path: RENDER }, { path: any(MAIN, CLI, COMMANDS, DOCS, OPS, UI, CONTEXT, CONFIG, DB, STORAGE) }),
    rule('db-independent', 'the catalog knows nothing of the blob store, ops or the UI', { path: DB }, { path: any(MAIN, CLI, COMMANDS, DOCS, OPS, UI, CONTEXT, CONFIG, RENDER, STORAGE) }),
    rule('storage-independent', 'the blob store knows nothing of the catalog, ops or the UI', { path: STORAGE }, { path: any(MAIN, CLI, COMMANDS, DOCS, OPS, UI, CONTEXT, CONFIG, RENDER, DB) }),
    rule('ui-below-commands', 'rendering, prompts and progress bars: used by commands, using no operation', { path: UI }, { path: any(MAIN, CLI, COMMANDS, DOCS, OPS, CONTEXT, CONFIG, RENDER, DB, STORAGE) }),
    rule('base-at-bottom', 'base modules import no layer', { path: BASE }, { path: any(MAIN, CLI, COMMANDS, DOCS, OPS, CONTEXT, CONFIG, RENDER, DB, STORAGE, UI) }),
    rule('no-unresolvable', 'an import that resolves to nothing hides an edge from every rule', { path: '^src/' }, { couldNotResolve: true, pathNot: '^tsx/esm/api$' }),
  ],
  options: {
    // TypeScript 7 has no JavaScript compiler API, so dependency-cruiser parses with swc.
    parser: 'swc',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^node_modules' },
  },
};
