import { defineCommand } from './define.ts';
import { intOption, num, text } from './common-options.ts';
import { UsageError } from '../errors.ts';

/** What `s3-lifecycle --print` is asked. */
export interface S3LifecycleOptions {
  marginDays?: number;
  tier?: string;
}

export default defineCommand({
  name: 's3-lifecycle',
  summary: "Print the bucket lifecycle configuration that backs up storectl's rules (never applied by storectl)",
  description:
    "Print the S3 bucket lifecycle configuration derived from the lifecycle rules (config section `cleanup`), as the JSON that `aws s3api put-bucket-lifecycle-configuration --lifecycle-configuration file://FILE` and `mc ilm import` take. storectl's rules stay the authority; the bucket's own lifecycle is a backstop for what storectl cannot see (abandoned multipart uploads, objects other programs leave under temp/). A bucket rule sees only an object's key prefix and its age since it was written, so only files rules that select by category or pathPrefix (no owner) map to an Expiration, their age rounded up to whole days plus --margin-days (default 1), never sooner than an earlier rule that can govern the same files; a prefix under which the catalog has files the rule does not select (a job's files, another category) is skipped, since the bucket would expire them too. Jobs rules (by status, owner, completed_at), transitions and mark_failed cannot be expressed and are listed on stderr as skipped, with why. Plus AbortIncompleteMultipartUpload after 1 day for the whole bucket. --print is required: storectl never applies it. Stdout is the configuration itself; --json gives the whole report (configuration, mapped, skipped).",
  examples: [
    'storectl s3-lifecycle --print > lifecycle.json',
    'aws s3api put-bucket-lifecycle-configuration --bucket BUCKET --lifecycle-configuration file://lifecycle.json',
    'mc ilm import ALIAS/BUCKET < lifecycle.json',
    'storectl s3-lifecycle --print --tier cold --margin-days 3',
  ],
  options: (cmd) =>
    cmd
      .option('--print', 'print the configuration (required: storectl never applies it)')
      .option('--margin-days <n>', 'whole days added after rounding each rule\'s age up (at least 1)', intOption(1, 3650))
      .option('--tier <name>', 'the S3 tier whose bucket it is for (default hot, the store root)'),
  parse(_args, raw): S3LifecycleOptions {
    if (!raw.print) throw new UsageError('s3-lifecycle only prints the configuration', 'pass --print, then apply it with aws s3api put-bucket-lifecycle-configuration or mc ilm import');
    return { marginDays: num(raw, 'marginDays'), tier: text(raw, 'tier') };
  },
  async run(opts, env) {
    const { loadCleanupConfig } = await import('../ops/lifecycle/rules.ts');
    const rules = loadCleanupConfig(env.config().sections.cleanup).rules;
    const ctx = await env.openContext({ createRoot: false, createCatalog: false, readOnly: true, s3: true, command: 's3-lifecycle' });
    const { bucketLifecycle, DEFAULT_MARGIN_DAYS } = await import('../ops/s3-lifecycle.ts');
    const report = await bucketLifecycle(ctx, { rules, marginDays: opts.marginDays ?? DEFAULT_MARGIN_DAYS, tier: opts.tier });
    if (!env.ui.opts.json) {
      for (const m of report.mapped) env.ui.log.info(`rule ${m.rule}: ${m.why}`);
      for (const s of report.skipped) env.ui.log.warn(`rule ${s.rule} (${s.action}) skipped: ${s.reason}`);
    }
    return {
      report,
      text: () => JSON.stringify(report.configuration, null, 2) + '\n',
    };
  },
});
