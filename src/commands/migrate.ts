import { defineCommand } from './define.ts';
import { renderTable } from '../ui/table.ts';

export default defineCommand({
  name: 'migrate',
  summary: 'Apply the catalog schema (idempotent; for CI migration steps)',
  description:
    'Apply pending catalog schema migrations to the SQLite or PostgreSQL catalog. A second run does nothing and exits 0. With --status, list applied and pending migrations without changing anything.',
  examples: [
    'storectl migrate',
    'storectl --database postgres://storectl@db/storectl migrate --json',
    'storectl migrate --status',
  ],
  options: (cmd) => cmd.option('--status', 'list applied and pending migrations; change nothing'),
  async run(_args, opts, env) {
    const ctx = await env.openContext({ createRoot: false, createCatalog: !opts.status, migrate: 'never', readOnly: Boolean(opts.status), s3: true });
    const { runMigrate } = await import('../ops/migrate.ts');
    const report = await runMigrate(ctx, { statusOnly: Boolean(opts.status) });
    return {
      report,
      text: () =>
        opts.status
          ? renderTable(['migration', 'state'], report.migrations.map((m) => [m.tag, m.applied ? 'applied' : 'pending']), {
              tty: env.ui.stdoutTTY,
              title: `catalog ${report.catalog} (${report.dialect})`,
            })
          : report.applied.length
            ? `applied ${report.applied.length} migration(s) to ${report.catalog}: ${report.applied.join(', ')}\n`
            : `catalog ${report.catalog} is up to date (schema version ${report.schemaVersion})\n`,
    };
  },
});
