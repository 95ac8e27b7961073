// storectl s3-lifecycle --print: the bucket lifecycle configuration is checked against the rules
// (what maps, with which days; what is skipped and why) and against the documented shape of
// PutBucketLifecycleConfiguration (a structure check here, and botocore's own parameter
// validation through `aws s3api put-bucket-lifecycle-configuration` pointed at s3rver, which
// does not implement lifecycle: the request gets as far as the server only if botocore accepted
// it). End to end on an S3 store on both dialects: the catalog check skips a prefix that holds
// files the rule does not select.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { DIALECTS, runCli, tmpDir } from './helpers/env.ts';
import { startS3, type S3Fixture } from './helpers/s3.ts';
import { makeS3Store } from './helpers/s3-store.ts';
import { DEFAULT_RULES, loadCleanupConfig } from '../src/ops/lifecycle/rules.ts';
import { planBucketLifecycle, type BucketLifecycleConfiguration } from '../src/ops/s3-lifecycle.ts';

/** The shape PutBucketLifecycleConfiguration documents for LifecycleConfiguration (the parts storectl writes). */
function checkShape(c: unknown): void {
  assert.ok(c && typeof c === 'object' && !Array.isArray(c), 'an object');
  assert.deepEqual(Object.keys(c), ['Rules']);
  const rules = (c as BucketLifecycleConfiguration).Rules;
  assert.ok(Array.isArray(rules) && rules.length >= 1 && rules.length <= 1000, '1 to 1000 rules');
  const ids = new Set<string>();
  for (const r of rules) {
    for (const k of Object.keys(r)) assert.ok(['ID', 'Status', 'Filter', 'Expiration', 'Transitions', 'AbortIncompleteMultipartUpload'].includes(k), `unknown key ${k}`);
    assert.equal(typeof r.ID, 'string');
    assert.ok(r.ID.length >= 1 && r.ID.length <= 255, 'ID of 1-255 characters');
    assert.ok(!ids.has(r.ID), `ID ${r.ID} unique`);
    ids.add(r.ID);
    assert.ok(r.Status === 'Enabled' || r.Status === 'Disabled');
    assert.deepEqual(Object.keys(r.Filter), ['Prefix']);
    assert.equal(typeof r.Filter.Prefix, 'string');
    assert.ok(r.Expiration || r.AbortIncompleteMultipartUpload, 'each rule has an action');
    if (r.Expiration) {
      assert.deepEqual(Object.keys(r.Expiration), ['Days']);
      assert.ok(Number.isInteger(r.Expiration.Days) && r.Expiration.Days >= 1, 'Days a positive whole number');
    }
    if (r.AbortIncompleteMultipartUpload) {
      assert.deepEqual(Object.keys(r.AbortIncompleteMultipartUpload), ['DaysAfterInitiation']);
      assert.ok(Number.isInteger(r.AbortIncompleteMultipartUpload.DaysAfterInitiation) && r.AbortIncompleteMultipartUpload.DaysAfterInitiation >= 1);
    }
  }
}

const rulesOf = (section: unknown) => loadCleanupConfig(section).rules;

test('the default rules: temp-files maps (1 day rounded up, plus the margin); every jobs rule is skipped with why; multipart uploads aborted after 1 day', () => {
  const p = planBucketLifecycle(DEFAULT_RULES, 'store/', 1);
  checkShape(p.configuration);
  assert.deepEqual(p.configuration.Rules, [
    { ID: 'storectl-temp-files', Status: 'Enabled', Filter: { Prefix: 'store/temp/' }, Expiration: { Days: 2 } },
    { ID: 'storectl-abort-incomplete-multipart', Status: 'Enabled', Filter: { Prefix: '' }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } },
  ]);
  const enabled = DEFAULT_RULES.filter((r) => !r.disabled && r.id !== 'temp-files').map((r) => r.id);
  assert.deepEqual(p.skipped.map((s) => s.rule).filter((id) => enabled.includes(id)), enabled);
  assert.match(p.skipped.find((s) => s.rule === 'completed-cards')!.reason, /job status \(completed\).*age from completed_at/);
  assert.match(p.skipped.find((s) => s.rule === 'stuck-jobs')!.reason, /status in the catalog/);
  assert.match(p.skipped.find((s) => s.rule === 'completed-to-cold')!.reason, /storage class in place/);
});

test('files rules: a bucket rule never acts before storectl would (rounded up, margin, earlier overlapping rules), owner and non-prefix selections skipped', () => {
  const rules = rulesOf({
    replaceDefaults: true,
    rules: [
      { id: 'slow-uploads', scope: 'files', category: 'uploads', pathPrefix: 'uploads/keep/', age: '10d' },
      { id: 'uploads', scope: 'files', category: 'uploads', age: '36h' },
      { id: 'acme-temp', scope: 'files', category: 'temp', owner: 'acme', age: '1h' },
      { id: 'temp', scope: 'files', category: ['temp', 'exports'], age: '90m' },
      { id: 'nothing', scope: 'files', category: 'cards', pathPrefix: 'temp/x', age: '1d' },
      { id: 'all', scope: 'files', age: '30d' },
    ],
  });
  const p = planBucketLifecycle(rules, '', 3);
  checkShape(p.configuration);
  const days = Object.fromEntries(p.configuration.Rules.filter((r) => r.Expiration).map((r) => [r.Filter.Prefix, r.Expiration!.Days]));
  // uploads/keep/ 10d + 3; uploads/ 36h -> 2d, raised to 10d by slow-uploads (its files are under uploads/), + 3
  // temp/ 90m -> 1d, raised to 1d by acme-temp (1h), + 3; exports/ the same rule: 1d + 3
  assert.deepEqual(days, { 'uploads/keep/': 13, 'uploads/': 13, 'temp/': 4, 'exports/': 4 });
  assert.deepEqual(p.configuration.Rules.filter((r) => r.Filter.Prefix === 'temp/').map((r) => r.ID), ['storectl-temp-temp']);
  assert.match(p.skipped.find((s) => s.rule === 'acme-temp')!.reason, /owner \(acme\)/);
  assert.match(p.skipped.find((s) => s.rule === 'nothing')!.reason, /select no path/);
  assert.match(p.skipped.find((s) => s.rule === 'all')!.reason, /every object/);
  // Every Expiration is at least the rule's own age, in whole days, plus the margin.
  for (const m of p.mapped) assert.ok(m.days * 86_400_000 >= rules.find((r) => r.id === m.rule)!.ageMs + 3 * 86_400_000);
  assert.throws(() => planBucketLifecycle(rules, '', 0), /margin/);
});

const awsCli = spawnSync('aws', ['--version'], { encoding: 'utf8' });
let s3: S3Fixture;
before(async () => {
  s3 = await startS3();
});
after(async () => {
  await s3?.dispose();
});

for (const d of DIALECTS) {
  describe(`s3-lifecycle --print on an S3 store: ${d.name}`, { skip: d.skip }, () => {
    test('stdout is the configuration; a prefix holding a job\'s file is skipped; --json the report; no --print, a local store: exit 2', async () => {
      const st = await makeS3Store(d, s3);
      try {
        const r = await st.cliEnv({}, 's3-lifecycle', '--print');
        assert.equal(r.code, 0, r.stderr);
        const doc = r.json as { configuration: BucketLifecycleConfiguration; mapped: { rule: string }[]; skipped: { rule: string; reason: string }[]; bucket: string; prefix: string };
        checkShape(doc.configuration);
        assert.equal(doc.prefix, 'store/');
        assert.deepEqual(doc.configuration.Rules.map((x) => [x.ID, x.Filter.Prefix, x.Expiration?.Days ?? null]), [
          ['storectl-temp-files', 'store/temp/', 2],
          ['storectl-abort-incomplete-multipart', '', null],
        ]);
        // Plain output (no --json): the configuration alone on stdout, the skipped rules on stderr.
        const plain = await runCli(['--root', st.root, '--database', st.db, 's3-lifecycle', '--print'], { env: s3.env });
        assert.equal(plain.code, 0, plain.stderr);
        assert.deepEqual(JSON.parse(plain.stdout), doc.configuration);
        assert.match(plain.stderr, /rule completed-cards \(delete\) skipped: it selects by job status/);

        if (awsCli.status === 0) {
          const file = path.join(tmpDir(), 'lifecycle.json');
          fs.writeFileSync(file, plain.stdout);
          const bucket = st.root.slice('s3://'.length).split('/')[0]!;
          const aws = spawnSync('aws', ['s3api', 'put-bucket-lifecycle-configuration', '--bucket', bucket, '--lifecycle-configuration', `file://${file}`, '--endpoint-url', s3.env.AWS_ENDPOINT_URL_S3!], {
            encoding: 'utf8',
            env: { ...process.env, ...s3.env, AWS_DEFAULT_REGION: 'us-east-1', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' },
          });
          // botocore validated the parameters and sent the request; s3rver answers NotImplemented.
          assert.doesNotMatch(aws.stderr, /Parameter validation failed|Invalid type|Unknown parameter|Missing required/, aws.stderr);
          if (s3.kind === 'loopback') assert.match(aws.stderr, /NotImplemented/, aws.stderr);
        } else {
          console.error('aws CLI not installed: botocore validation not run');
        }

        // A job's file under temp/: the bucket would expire it by age, so temp-files is skipped.
        const src = path.join(st.dir, 'scratch.csv');
        fs.writeFileSync(src, 'a,b\n1,2\n');
        const put = await st.cli('put', src, '--job', 'job-temp-1', '--category', 'temp', '--yes');
        assert.equal(put.code, 0, put.stdout + put.stderr);
        const r2 = await st.cli('s3-lifecycle', '--print');
        assert.equal(r2.code, 0, r2.stderr);
        const doc2 = r2.json as typeof doc;
        assert.deepEqual(doc2.configuration.Rules.map((x) => x.ID), ['storectl-abort-incomplete-multipart']);
        assert.match(doc2.skipped.find((s) => s.rule === 'temp-files')!.reason, /temp\/.*job-temp-1.*a file of job job-temp-1/);

        const noPrint = await st.cli('s3-lifecycle');
        assert.equal(noPrint.code, 2, noPrint.stdout);
        const store = await d.makeStore();
        try {
          if (!store.databaseUrl) assert.equal((await runCli([...store.args, 'migrate', '--create'])).code, 0);
          const local = await runCli([...store.args, ...(store.databaseUrl ? ['--database', store.databaseUrl] : []), '--json', 's3-lifecycle', '--print']);
          assert.equal(local.code, 2, local.stdout + local.stderr);
          assert.match(local.stdout, /not an S3 bucket/);
        } finally {
          await store.dispose();
        }
      } finally {
        await st.dispose();
      }
    });
  });
}
