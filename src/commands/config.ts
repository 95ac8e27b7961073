import { defineCommand } from './define.ts';
import { renderTable } from '../ui/table.ts';

export default defineCommand({
  name: 'config',
  summary: 'Print the effective configuration and where each value came from',
  description:
    'Print the effective configuration (root, database, log file, config file and its sections) and the source of each value: flag, env, file or default. Passwords in database URLs and S3 secrets are redacted.',
  examples: ['storectl config', 'storectl --database postgres://u:secret@db/storectl config --json'],
  options: (cmd) => cmd,
  async run(_args, _opts, env) {
    const { describeConfig } = await import('../config.ts');
    const report = describeConfig(env.config());
    return {
      report,
      text: () =>
        renderTable(
          ['setting', 'value', 'source'],
          [
            ['root', report.root.value, report.root.source],
            ['database', report.database.value ?? '- (an S3 store needs --database)', report.database.source],
            ['logFile', report.logFile.value ?? '-', report.logFile.source],
            ...Object.entries(report.s3).map(([k, v]) => [`s3.${k}`, v.value === null ? '-' : String(v.value), v.source]),
            ...report.tiers.map((t) => [`tier ${t.name}`, t.storageClass ? `${t.url} (${t.storageClass})` : t.url, t.name === 'hot' ? 'root' : 'file']),
            ['configFile', report.configFile ?? '-', report.configFile ? 'found' : 'none'],
            ...Object.keys(report.sections).filter((k) => k !== 'tiers').map((k) => [k, JSON.stringify(report.sections[k]), 'file']),
          ],
          { tty: env.ui.stdoutTTY },
        ),
    };
  },
});
