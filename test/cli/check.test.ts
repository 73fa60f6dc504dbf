// qrv check end to end: the real CLI on catalogs written directly, for each status (OK,
// WARNING, CRITICAL, UNKNOWN), its exit code and output, plain and --json.
import t, { type Test } from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Catalog } from '../../src/catalog/store.ts';
import type { CatalogData } from '../../src/catalog/schema.ts';
import { qrv } from '../helpers/cli.ts';
import {
  jobRow,
  memberRow,
  policyRow,
  poolRow,
  qrvRow,
  snapshotRow,
  subclientRow,
  volumeRow,
} from '../helpers/check-rows.ts';
import { tmpDir } from '../helpers/tmp.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const ago = (ms: number) => new Date(Date.now() - ms).toISOString();
const ENV = { TZ: 'UTC' };

/** A home whose catalog is healthy: web on a 5-minute schedule, snapshotted a minute ago, copied to a pool. */
async function healthyHome(
  t: Test,
  change: (data: CatalogData) => void = () => {},
): Promise<{ home: string; file: string }> {
  const home = path.join(await tmpDir(t), 'home');
  const catalog = await Catalog.open(home);
  await catalog.update((data) => {
    data.volumes.push(volumeRow('web'), volumeRow('db'));
    data.policies.push(policyRow('often', '*/5 * * * *'));
    data.subclients.push(subclientRow('www', ['web'], 'often'));
    data.snapshots.push(snapshotRow('web', ago(MIN), { state: 'removed', removedAt: ago(MIN / 2) }));
    data.qrvs.push(qrvRow('web', ago(MIN / 2), { id: 'q-0000000a', pool: 'replicas' }));
    data.pools.push(poolRow('replicas', [memberRow('/r/a.img', 100, 'q-0000000a'), memberRow('/r/b.img', 100)]));
    data.jobs.push(jobRow('run', 'web', 'succeeded', ago(2 * MIN), ago(MIN / 2)));
    change(data);
  });
  return { home, file: catalog.file };
}

function lines(stdout: string): string[] {
  return stdout.trimEnd().split('\n');
}

t.test('OK: exit 0, one status line with perfdata, nothing on stderr, the catalog untouched', async (t) => {
  const { home, file } = await healthyHome(t);
  const before = await fs.readFile(file);
  const entries = await fs.readdir(home);
  const run = await qrv(home, ['check'], ENV);
  t.equal(run.exitCode, 0, run.stdout);
  t.equal(run.stderr, '');
  t.same(lines(run.stdout).length, 1);
  t.match(
    run.stdout,
    /^QRV OK - 2 volumes \(1 scheduled\), 1 QRV, 1 pool: no problems \| snapshot_age_web=\d+s;;;0 missed_runs_web=[01];1;3;0 qrv_age_web_q-0000000a=\d+s;172800;604800;0 pool_used_replicas=50%;80;95;0;100 failed_jobs=0;;0;0$/,
  );
  t.same(await fs.readFile(file), before, 'catalog byte-identical');
  t.same(await fs.readdir(home), entries, 'check made no file (no lock, no temporary file)');
});

t.test('WARNING: exit 1, the problem on the status line and on its own line', async (t) => {
  const { home } = await healthyHome(t, (data) => {
    data.qrvs[0]!.updatedAt = ago(3 * DAY);
  });
  const run = await qrv(home, ['check'], ENV);
  t.equal(run.exitCode, 1, run.stdout);
  const out = lines(run.stdout);
  t.equal(out.length, 2);
  t.match(
    out[0],
    /^QRV WARNING - 1 warning: QRV q-0000000a of web \(\/replicas\/web\.qrv\.img\): last updated \S+, 3d00h ago \(more than --qrv-warn 2d00h\) \| /,
  );
  t.match(out[1], /^WARNING: QRV q-0000000a of web/);

  // the threshold moves it
  const relaxed = await qrv(home, ['check', '--qrv-warn', '4d'], ENV);
  t.equal(relaxed.exitCode, 0, relaxed.stdout);
  t.match(relaxed.stdout, /^QRV OK - /);
  const strict = await qrv(home, ['check', '--qrv-crit', '3d'], ENV);
  t.equal(strict.exitCode, 2, strict.stdout);
  t.match(strict.stdout, /^QRV CRITICAL - 1 critical: .*more than --qrv-crit 3d00h/);
});

t.test('WARNING from the schedule: scheduled runs missed since the newest snapshot', async (t) => {
  const { home } = await healthyHome(t, (data) => {
    data.policies[0]!.schedule = '* * * * *';
    data.snapshots[0]!.createdAt = ago(10 * MIN + 30_000);
  });
  const run = await qrv(home, ['check', '--snap-crit', '100'], ENV);
  t.equal(run.exitCode, 1, run.stdout);
  t.match(
    run.stdout,
    /^QRV WARNING - 1 warning: volume web: 1[01] scheduled runs of "\* \* \* \* \*" \(policy often of sub-client www\) passed without a snapshot; newest snapshot \S+ \(10m ago\) \| .*missed_runs_web=1[01];1;99;0/,
  );
  const critical = await qrv(home, ['check'], ENV);
  t.equal(critical.exitCode, 2, 'past the default --snap-crit 4');
});

t.test(
  'CRITICAL: exit 2, critical problems first; --json gives one summary object with the same exit code',
  async (t) => {
    const { home } = await healthyHome(t, (data) => {
      data.qrvs[0]!.updatedAt = ago(3 * DAY);
      data.jobs.push(jobRow('run', 'db', 'failed', ago(HOUR + MIN), ago(HOUR), { id: 'j-0000dead' }));
    });
    const run = await qrv(home, ['check'], ENV);
    t.equal(run.exitCode, 2, run.stdout);
    const out = lines(run.stdout);
    t.equal(out.length, 3);
    t.match(
      out[0],
      /^QRV CRITICAL - 1 critical, 1 warning: job j-0000dead \(run db\) failed 1h00m ago: cannot write .*; `qrv show j-0000dead` lists its steps \(and 1 more\) \| .*failed_jobs=1;;0;0$/,
    );
    t.match(out[1], /^CRITICAL: job j-0000dead/);
    t.match(out[2], /^WARNING: QRV q-0000000a/);

    const json = await qrv(home, ['--json', 'check'], ENV);
    t.equal(json.exitCode, 2);
    t.equal(lines(json.stdout).length, 1, 'one JSON line');
    const summary = JSON.parse(json.stdout) as Record<string, any>;
    t.match(summary, {
      message_type: 'summary',
      status: 'CRITICAL',
      exitCode: 2,
      message: /^1 critical, 1 warning: job j-0000dead/,
      checked: { volumes: 2, scheduled: 1, qrvs: 1, pools: 1, jobs: 2 },
    });
    t.same(
      summary.problems.map((p: { severity: string; check: string; subject: string }) => [
        p.severity,
        p.check,
        p.subject,
      ]),
      [
        ['critical', 'job', 'j-0000dead'],
        ['warning', 'qrv', 'q-0000000a'],
      ],
    );
    t.match(summary.perfdata, [
      { label: 'snapshot_age_web', uom: 's' },
      { label: 'missed_runs_web' },
      { label: 'qrv_age_web_q-0000000a', warn: 172800, crit: 604800 },
      { label: 'pool_used_replicas', value: 50 },
      { label: 'failed_jobs', value: 1, crit: 0 },
    ]);

    // json after the command works as well, and a later successful run of db makes the failure history
    const later = await healthyHome(t, (data) => {
      data.jobs.push(
        jobRow('run', 'db', 'failed', ago(HOUR + MIN), ago(HOUR)),
        jobRow('run', 'db', 'succeeded', ago(MIN), ago(MIN / 2)),
      );
    });
    const fixed = await qrv(later.home, ['check', '--json'], ENV);
    t.equal(fixed.exitCode, 0, fixed.stdout);
    t.match(JSON.parse(fixed.stdout), { status: 'OK', exitCode: 0, problems: [] });
  },
);

t.test('UNKNOWN: a corrupt catalog gives exit 3 and one status line, and stays untouched', async (t) => {
  const { home, file } = await healthyHome(t);
  await fs.writeFile(file, '{broken');
  const run = await qrv(home, ['check'], ENV);
  t.equal(run.exitCode, 3);
  t.equal(run.stderr, '');
  t.equal(lines(run.stdout).length, 1);
  t.match(
    run.stdout,
    /^QRV UNKNOWN - catalog \S+catalog\.json is corrupt: it is not valid JSON .*\(qrv left it untouched; .*\)$/,
  );
  t.equal(await fs.readFile(file, 'utf8'), '{broken');

  await fs.writeFile(file, JSON.stringify({ schemaVersion: 99 }));
  const newer = await qrv(home, ['check'], ENV);
  t.equal(newer.exitCode, 3);
  t.match(newer.stdout, /^QRV UNKNOWN - catalog \S+ was written by a newer qrv/);

  const json = await qrv(home, ['--json', 'check'], ENV);
  t.equal(json.exitCode, 3);
  t.match(JSON.parse(json.stdout), {
    message_type: 'summary',
    status: 'UNKNOWN',
    exitCode: 3,
    problems: [],
    perfdata: [],
    error: { code: 'catalog-newer' },
  });
});

t.test('UNKNOWN: no catalog at the home; the home is not created', async (t) => {
  const home = path.join(await tmpDir(t), 'nowhere');
  const run = await qrv(home, ['check'], ENV);
  t.equal(run.exitCode, 3);
  t.match(run.stdout, /^QRV UNKNOWN - no catalog at \S+nowhere\/catalog\.json \(pass --home or set QRV_HOME/);
  await t.rejects(fs.stat(home), { code: 'ENOENT' });
});

t.test('UNKNOWN: bad options give exit 3 and one status line, never the usage exit 2', async (t) => {
  const { home } = await healthyHome(t);
  const cases: [string[], RegExp][] = [
    [['check', '--qrv-warn', 'soon'], /^QRV UNKNOWN - --qrv-warn "soon" is not a duration/],
    [['check', '--pool-crit', '120'], /^QRV UNKNOWN - --pool-crit "120" is not a percentage/],
    [['check', '--snap-warn', '5'], /^QRV UNKNOWN - --snap-warn is above --snap-crit/],
    [['check', '--bogus'], /^QRV UNKNOWN - unknown option '--bogus' \(see qrv check --help\)$/],
    [['check', '--snap-warn'], /^QRV UNKNOWN - option '--snap-warn <n>' argument missing/],
    [['check', 'web'], /^QRV UNKNOWN - too many arguments for 'check'/],
  ];
  for (const [args, pattern] of cases) {
    const run = await qrv(home, args, ENV);
    t.equal(run.exitCode, 3, args.join(' '));
    t.equal(run.stderr, '', 'nothing on stderr');
    t.equal(lines(run.stdout).length, 1, 'one line');
    t.match(lines(run.stdout)[0], pattern);
  }
  const json = await qrv(home, ['--json', 'check', '--bogus'], ENV);
  t.equal(json.exitCode, 3);
  t.match(JSON.parse(json.stdout), {
    message_type: 'summary',
    status: 'UNKNOWN',
    exitCode: 3,
    error: { code: 'usage', message: "unknown option '--bogus'" },
  });

  const help = await qrv(home, ['check', '--help'], ENV);
  t.equal(help.exitCode, 0, 'help is not an error');
  t.match(help.stdout, /--snap-warn <n>.*\(default: 2\)/s);
});
