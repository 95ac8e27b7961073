import { defineCommand } from './define.ts';
import { renderTable } from '../ui/table.ts';

export default defineCommand({
  name: 'config',
  summary: 'Print the effective configuration and where each value came from',
  description:
    'Print the effective configuration (root, database and its PostgreSQL schema, log file, config file and its sections) and the source of each value: flag, env, file or default. Passwords in database URLs and S3 secrets are redacted.',
  examples: ['storectl config', 'storectl --database postgres://u:secret@db/storectl config --json'],
  options: (cmd) => cmd,
  parse: () => ({}),
  async run(_opts, env) {
    const { describeConfig } = await import('../config.ts');
    const report = describeConfig(env.config());
    return {
      report,
      text: () =>
        renderTable(
          ['setting', 'value', 'source'],
          [
            ['root', report.root.value, report.root.source],
            [
              'database',
              report.database.value ?? '- (an S3 store needs --database)',
              report.database.variable === 'DATABASE_URL' ? 'env DATABASE_URL (the application\'s; STORECTL_DATABASE_URL is not set)' : report.database.variable ? `env ${report.database.variable}` : report.database.source,
            ],
            ['database.schema', `${report.databaseSchema.value}${report.database.value?.startsWith('postgres') ? '' : ' (PostgreSQL catalogs only)'}`, report.databaseSchema.variable ? `env ${report.databaseSchema.variable}` : report.databaseSchema.source],
            ['logFile', report.logFile.value ?? '-', report.logFile.source],
            ...Object.entries(report.s3).map(([k, v]) => [`s3.${k}`, v.value === null ? '-' : String(v.value), v.source]),
            ...report.tiers.map((t) => [`tier ${t.name}`, t.storageClass ? `${t.url} (${t.storageClass})` : t.url, t.name === 'hot' ? 'root' : 'file']),
            ['configFile', report.configFile ?? '-', report.configFile ? 'found' : 'none'],
            ...Object.keys(report.sections).filter((k) => k !== 'tiers').flatMap((k) => flatten(k, report.sections[k]).map(([key, value]) => [key, value, 'file'])),
          ],
          { tty: env.ui.stdoutTTY },
        ),
    };
  },
});

/**
 * A config file section as one row per setting, with dotted keys (cleanup.maxDelete,
 * cleanup.rules[0].id): never one JSON cell a screen wide. A list of plain values is one row.
 */
export function flatten(key: string, value: unknown): [string, string][] {
  if (Array.isArray(value)) {
    if (value.every((v) => v === null || typeof v !== 'object')) return [[key, value.length ? value.map(String).join(', ') : '[]']];
    return value.flatMap((v, i) => flatten(`${key}[${i}]`, v));
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    return entries.length ? entries.flatMap(([k, v]) => flatten(`${key}.${k}`, v)) : [[key, '{}']];
  }
  return [[key, value === null || value === undefined ? '-' : String(value)]];
}
