// Lifecycle rules and durations: pure functions, no store.
import { test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import { formatAge, parseDuration } from '../src/ops/lifecycle/duration.ts';
import { deleteRuleForJob, jobDueAt, loadCleanupConfig, markRuleForJob } from '../src/ops/lifecycle/rules.ts';
import { capOf } from '../src/ops/lifecycle/guards.ts';

test('durations parse and print', () => {
  assert.equal(parseDuration('0'), 0);
  assert.equal(parseDuration('90m'), 5_400_000);
  assert.equal(parseDuration('1.5h'), 5_400_000);
  assert.equal(parseDuration('7d'), 604_800_000);
  for (const bad of ['', '7', 'd', '-1h', '1y', 7, null]) assert.equal(parseDuration(bad), undefined, String(bad));
  assert.equal(formatAge(604_800_000), '1w');
  assert.equal(formatAge(5_400_000), '90m');
});

test('defaults: the first matching rule governs; qa_failed and reprint are kept', () => {
  const rules = loadCleanupConfig(undefined).rules;
  // the documented defaults, in their order (README, 'Lifecycle rules'), written out here
  assert.deepEqual(rules.map((r) => r.id), ['stuck-jobs', 'completed-cards', 'completed-exports', 'failed-exports', 'failed-jobs', 'temp-files']);
  const job = (kind: string, status: string) => ({ kind, status, owner: 'o' });
  assert.equal(deleteRuleForJob(rules, job('export', 'failed'))!.id, 'failed-exports');
  assert.equal(deleteRuleForJob(rules, job('card', 'failed'))!.id, 'failed-jobs');
  assert.equal(deleteRuleForJob(rules, job('card', 'qa_failed')), undefined);
  assert.equal(deleteRuleForJob(rules, job('card', 'reprint')), undefined);
  assert.equal(deleteRuleForJob(rules, job('card', 'processing')), undefined);
  assert.equal(markRuleForJob(rules, job('card', 'queued'))!.id, 'stuck-jobs');
  const t = new Date('2026-11-01T00:00:00Z');
  const completed = deleteRuleForJob(rules, job('export', 'completed'))!;
  assert.equal(jobDueAt(completed, { createdAt: t, updatedAt: t, completedAt: t }).toISOString(), '2026-11-02T00:00:00.000Z');
  // a completed job without completed_at ages from updated_at
  assert.equal(jobDueAt(completed, { createdAt: t, updatedAt: t, completedAt: null }).toISOString(), '2026-11-02T00:00:00.000Z');
});

test('config: overrides by id, new rules after the defaults, --retention-hours, replaceDefaults', () => {
  const c = loadCleanupConfig({ rules: [{ id: 'completed-exports', age: '48h' }, { id: 'x', statuses: 'qa_failed', age: '30d' }], maxDelete: '5%' }, {});
  assert.equal(c.rules.find((r) => r.id === 'completed-exports')!.ageMs, 48 * 3_600_000);
  assert.equal(c.rules[c.rules.length - 1]!.id, 'x');
  assert.deepEqual(c.rules[c.rules.length - 1]!.statuses, ['qa_failed']);
  assert.equal(c.maxDelete, '5%');
  assert.equal(loadCleanupConfig({}, { retentionHours: 6 }).rules.find((r) => r.id === 'completed-exports')!.ageMs, 6 * 3_600_000);
  assert.deepEqual(loadCleanupConfig({ replaceDefaults: true, rules: [{ id: 'only', statuses: ['failed'], age: '1d' }] }).rules.map((r) => r.id), ['only']);
});

test('config errors name the field', () => {
  const bad = (section: unknown, re: RegExp) => assert.throws(() => loadCleanupConfig(section), (e: Error & { exitCode?: number }) => e.exitCode === 2 && re.test(e.message));
  bad({ rule: [] }, /cleanup\.rule: unknown field/);
  bad({ rules: [{ id: 'x', statuses: ['failed'], age: '3 days' }] }, /cleanup\.rules\[0\]\.age: bad duration "3 days"/);
  bad({ rules: [{ id: 'x', statuses: ['failed'] }] }, /cleanup\.rules\[0\]\.age: is required/);
  bad({ rules: [{ id: 'x', statuses: ['done'], age: '1d' }] }, /unknown status "done"/);
  bad({ rules: [{ id: 'x', age: '1d' }] }, /must name the statuses/);
  bad({ rules: [{ id: 'x', statuses: ['queued'], age: '1d' }] }, /never deleted/);
  bad({ rules: [{ id: 'x', scope: 'files', statuses: ['failed'], age: '1d' }] }, /kind and statuses apply to jobs rules/);
  bad({ rules: [{ id: 'x', statuses: ['failed'], category: 'temp', age: '1d' }] }, /files rules/);
  bad({ rules: [{ id: 'x', scope: 'files', pathPrefix: '../etc', age: '1d' }] }, /pathPrefix/);
  bad({ rules: [{ id: 'a', statuses: ['failed'], age: '1d' }, { id: 'a', statuses: ['failed'], age: '1d' }] }, /given twice/);
  bad({ maxDelete: 'lots' }, /cleanup\.maxDelete: bad cap/);
  bad({ orphans: { minAge: 'soon' } }, /cleanup\.orphans\.minAge: bad duration/);
});

test('caps: a count or a percentage of a base', () => {
  assert.equal(capOf('10%', 1000), 100);
  assert.equal(capOf('250', 1000), 250);
  assert.equal(capOf('0.5%', 1000), 5);
});
