import { defineCommand } from './define.ts';
import { renderTable } from '../ui/table.ts';
import { UsageError } from '../errors.ts';
import { flag, parseWait, waitOption } from './common-options.ts';

/** What `migrate` is asked: apply the pending migrations (creating the catalog with --create), or list them. */
export interface MigrateOptions {
  status: boolean;
  create: boolean;
  waitMs: number;
}

export default defineCommand({
  name: 'migrate',
  summary: 'Apply the catalog schema (idempotent; for CI migration steps)',
  description:
    'Apply pending catalog schema migrations to the SQLite or PostgreSQL catalog. A second run does nothing and exits 0. With --status, list applied and pending migrations without changing anything. A SQLite catalog (the embedded one under ROOT/.storectl/, or --database sqlite:PATH) is created only with --create, the first deploy of a store: without it, migrate against a root or file with no catalog (a mistyped STORECTL_ROOT, an unmounted volume) says there is no store there (exit 2) instead of starting an empty one. A PostgreSQL database is brought up to date as it is (an empty one gets the schema).',
  examples: [
    'storectl migrate',
    'storectl --root /srv/cards migrate --create   # first deploy: create the store\'s catalog',
    'storectl --database postgres://storectl@db/storectl migrate --json',
    'storectl migrate --status',
  ],
  options: (cmd) =>
    cmd
      .option('--status', 'list applied and pending migrations; change nothing')
      .option('--create', 'create the SQLite catalog (and the root) when there is none: the first deploy of a store')
      .addOption(waitOption()),
  changesStore: true,
  parse(_args, raw): MigrateOptions {
    const o = { status: flag(raw, 'status'), create: flag(raw, 'create'), waitMs: parseWait(raw) };
    if (o.create && o.status) throw new UsageError('--create and --status do not go together', '--status changes nothing');
    return o;
  },
  async run(opts, env) {
    const { create } = opts;
    const ctx = await env.openContext({ createRoot: create, createCatalog: create, migrate: 'never', readOnly: opts.status, s3: true });
    const { runMigrate } = await import('../ops/migrate.ts');
    const report = await runMigrate(ctx, { statusOnly: opts.status, waitMs: opts.waitMs });
    return {
      report,
      text: () =>
        opts.status
          ? renderTable(['migration', 'state'], report.migrations.map((m) => [m.tag, m.applied ? 'applied' : 'pending']), {
              tty: env.ui.stdoutTTY,
              title: `catalog ${report.catalog} (${report.dialect})`,
            }) +
            (report.oldLayout
              ? `schema ${report.oldLayout.to} holds no catalog yet: this database holds one in schema ${report.oldLayout.schema} (${report.oldLayout.applied} migration(s) applied there), where older versions kept it; \`storectl migrate\` moves it into schema ${report.oldLayout.to} and then applies what is pending\n`
              : '')
          : report.applied.length
            ? `applied ${report.applied.length} migration(s) to ${report.catalog}: ${report.applied.join(', ')}\n`
            : `catalog ${report.catalog} is up to date (schema version ${report.schemaVersion})\n`,
    };
  },
});
