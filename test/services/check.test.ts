// qrv check's rules on catalogs built in memory with an exact clock: each threshold at, just
// below and just above its edge; the status, exit code, lines and perfdata of the report; the
// option parsing; and reading the catalog without creating anything.
import t from 'tap';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Cron } from 'croner';
import { emptyCatalog, type CatalogData } from '../../src/catalog/schema.ts';
import { QrvError } from '../../src/core/errors.ts';
import { check, evaluate, formatAge, readCatalogFile } from '../../src/services/check.ts';
import { runsBetween, schedulesOf } from '../../src/services/check-schedules.ts';
import { jsonText, nagiosText, perfdataText, unknownReport, type CheckReport } from '../../src/check/nagios.ts';
import { DEFAULT_THRESHOLDS, parseThresholds, type CheckThresholds } from '../../src/check/thresholds.ts';
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

// Cron schedules are local time; these tests are written in UTC.
process.env.TZ = 'UTC';

const MS = 1;
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

const at = (text: string) => new Date(text);
const plus = (date: Date, ms: number) => new Date(date.getTime() + ms);
const minus = (date: Date, ms: number) => new Date(date.getTime() - ms);
const isoOf = (date: Date) => date.toISOString();

function run(data: CatalogData, now: Date, thresholds: Partial<CheckThresholds> = {}): CheckReport {
  return evaluate(data, now, { ...DEFAULT_THRESHOLDS, ...thresholds });
}

const perf = (report: CheckReport, label: string) => report.perfdata.find((p) => p.label === label);

/** Volume "web" on policy "nightly" (daily at 02:00), snapshotted at 2024-01-10 02:00:05. */
function nightly(): CatalogData {
  const data = emptyCatalog();
  data.volumes.push(volumeRow('web', { policy: 'nightly' }));
  data.policies.push(policyRow('nightly', '0 2 * * *'));
  data.snapshots.push(snapshotRow('web', '2024-01-10T02:00:05.000Z'));
  return data;
}

t.test('an empty catalog and a healthy one are OK, exit 0, with no problem lines', async (t) => {
  const empty = run(emptyCatalog(), at('2024-01-01T00:00:00Z'));
  t.equal(empty.status, 'OK');
  t.equal(empty.exitCode, 0);
  t.same(empty.problems, []);
  t.equal(nagiosText(empty), 'QRV OK - 0 volumes (0 scheduled), 0 QRVs, 0 pools: no problems | failed_jobs=0;;0;0\n');

  const data = nightly();
  data.volumes.push(volumeRow('db'));
  const q = qrvRow('web', '2024-01-10T02:10:00.000Z', { id: 'q-00000001', pool: 'replicas' });
  data.qrvs.push(q);
  data.pools.push(poolRow('replicas', [memberRow('/r/a.img', 100, q.id), memberRow('/r/b.img', 100)]));
  data.jobs.push(jobRow('run', 'web', 'succeeded', '2024-01-10T02:00:00.000Z', '2024-01-10T02:10:00.000Z'));
  const now = at('2024-01-10T12:00:00Z');
  const report = run(data, now);
  t.equal(report.status, 'OK');
  t.equal(report.exitCode, 0);
  t.same(report.checked, { volumes: 2, scheduled: 1, qrvs: 1, pools: 1, jobs: 1 });
  t.equal(
    nagiosText(report),
    'QRV OK - 2 volumes (1 scheduled), 1 QRV, 1 pool: no problems | snapshot_age_web=35995s;;;0 missed_runs_web=0;1;3;0 qrv_age_web_q-00000001=35400s;172800;604800;0 pool_used_replicas=50%;80;95;0;100 failed_jobs=0;;0;0\n',
  );
});

t.test(
  'snapshot schedule: WARNING at --snap-warn scheduled runs since the newest snapshot, CRITICAL at --snap-crit',
  async (t) => {
    const data = nightly();
    const cases: [string, number, string][] = [
      // now, runs strictly between the snapshot and now, status
      ['2024-01-11T02:00:00.000Z', 0, 'OK'], // a run time equal to now has not passed yet
      ['2024-01-12T02:00:00.000Z', 1, 'OK'], // just below --snap-warn 2
      ['2024-01-12T02:00:00.001Z', 2, 'WARNING'], // at --snap-warn
      ['2024-01-13T02:00:00.001Z', 3, 'WARNING'], // above --snap-warn, just below --snap-crit 4
      ['2024-01-14T02:00:00.001Z', 4, 'CRITICAL'], // at --snap-crit
      ['2024-01-15T02:00:00.001Z', 5, 'CRITICAL'], // above
    ];
    for (const [now, runs, status] of cases) {
      const report = run(data, at(now));
      t.equal(report.status, status, `${now}: ${status}`);
      t.equal(perf(report, 'missed_runs_web')?.value, runs, `${now}: ${runs} runs`);
      if (status !== 'OK') {
        t.equal(report.problems.length, 1);
        t.match(report.problems[0], { check: 'snapshot-schedule', subject: 'web', severity: status.toLowerCase() });
        t.match(
          report.problems[0]?.message,
          new RegExp(
            `^volume web: ${runs} scheduled runs of "0 2 \\* \\* \\*" \\(policy nightly\\) passed without a snapshot; newest snapshot 2024-01-10T02:00:05Z \\(\\d+d\\d\\dh ago\\)$`,
          ),
        );
      } else t.same(report.problems, []);
    }
    const warned = run(data, at('2024-01-12T02:00:00.001Z'));
    t.equal(warned.exitCode, 1);
    t.equal(
      nagiosText(warned).split('\n')[0]?.replace(/ \|.*/, ''),
      'QRV WARNING - 1 warning: volume web: 2 scheduled runs of "0 2 * * *" (policy nightly) passed without a snapshot; newest snapshot 2024-01-10T02:00:05Z (1d23h ago)',
    );
    t.equal(
      nagiosText(warned).split('\n')[1],
      'WARNING: volume web: 2 scheduled runs of "0 2 * * *" (policy nightly) passed without a snapshot; newest snapshot 2024-01-10T02:00:05Z (1d23h ago)',
    );
    t.equal(run(data, at('2024-01-14T02:00:00.001Z')).exitCode, 2);

    // other thresholds
    t.equal(
      run(data, at('2024-01-12T02:00:00.001Z'), { snapWarn: 3, snapCrit: 3 }).status,
      'OK',
      '2 runs with --snap-warn 3',
    );
    t.equal(
      run(data, at('2024-01-13T02:00:00.001Z'), { snapWarn: 1, snapCrit: 3 }).status,
      'CRITICAL',
      '3 runs with --snap-crit 3',
    );
    t.equal(
      run(data, at('2024-01-11T02:00:00.001Z'), { snapWarn: 1, snapCrit: 3 }).status,
      'WARNING',
      '1 run with --snap-warn 1',
    );
    t.same(
      perf(run(data, at('2024-01-11T02:00:00.001Z'), { snapWarn: 1, snapCrit: 3 }), 'missed_runs_web'),
      { label: 'missed_runs_web', value: 1, uom: '', warn: 0, crit: 2, min: 0, max: null },
      'perfdata thresholds in range form: alert above n-1',
    );
  },
);

t.test('snapshot schedule: which snapshots count as taken', async (t) => {
  const now = at('2024-01-12T02:00:00.001Z'); // two runs after the snapshot of nightly()
  const removed = nightly();
  removed.snapshots.push(
    snapshotRow('web', '2024-01-12T02:00:00.000Z', { state: 'removed', removedAt: '2024-01-12T02:00:00.000Z' }),
  );
  t.equal(run(removed, now).status, 'OK', 'a snapshot removed after its copy was still taken');
  const removing = nightly();
  removing.snapshots.push(snapshotRow('web', '2024-01-12T02:00:00.000Z', { state: 'removing' }));
  t.equal(run(removing, now).status, 'OK', 'so was one being removed');
  for (const state of ['creating', 'failed'] as const) {
    const data = nightly();
    data.snapshots.push(snapshotRow('web', '2024-01-12T02:00:00.000Z', { state }));
    t.equal(run(data, now).status, 'WARNING', `a ${state} snapshot was not taken`);
  }
  const other = nightly();
  other.snapshots.push(snapshotRow('db', '2024-01-12T02:00:00.000Z'));
  t.equal(run(other, now).status, 'WARNING', "another volume's snapshot does not count");
  const older = nightly();
  older.snapshots.unshift(snapshotRow('web', '2024-01-11T02:00:00.000Z'));
  t.equal(perf(run(older, now), 'missed_runs_web')?.value, 1, 'the newest counts, wherever it is in the list');
});

t.test('snapshot schedule: where the schedule comes from', async (t) => {
  const now = at('2024-01-12T02:00:00.001Z');

  // through a sub-client's policy; the volume's own policy has no schedule
  const viaSubclient = emptyCatalog();
  viaSubclient.volumes.push(volumeRow('web', { policy: 'keep' }));
  viaSubclient.policies.push(policyRow('keep', null), policyRow('nightly', '0 2 * * *'));
  viaSubclient.subclients.push(subclientRow('www', ['web', 'db'], 'nightly'));
  viaSubclient.snapshots.push(snapshotRow('web', '2024-01-10T02:00:05.000Z'));
  t.same(
    schedulesOf(viaSubclient, viaSubclient.volumes[0]!).map((s) => [s.expression, s.policy, s.subclient]),
    [['0 2 * * *', 'nightly', 'www']],
  );
  const report = run(viaSubclient, now);
  t.equal(report.status, 'WARNING');
  t.match(report.problems[0]?.message, /\(policy nightly of sub-client www\)/);

  // the volume's own scheduled policy wins over a sub-client's
  const own = structuredClone(viaSubclient);
  own.volumes[0]!.policy = 'weekly';
  own.policies.push(policyRow('weekly', '0 3 * * 0'));
  t.same(
    schedulesOf(own, own.volumes[0]!).map((s) => s.policy),
    ['weekly'],
  );
  t.equal(run(own, now).status, 'OK', 'one weekly run (Sun 2024-01-14) has not come yet');

  // two scheduled sub-clients: the more frequent one decides
  const two = structuredClone(viaSubclient);
  two.policies.push(policyRow('hourly', '0 * * * *'));
  two.subclients.push(subclientRow('often', ['web'], 'hourly'));
  const both = run(two, at('2024-01-10T05:30:00Z'));
  t.equal(both.status, 'WARNING', '3 hourly runs passed, no daily one');
  t.match(both.problems[0]?.message, /3 scheduled runs of "0 \* \* \* \*" \(policy hourly of sub-client often\)/);

  // no schedule anywhere: not checked, no perfdata
  const none = emptyCatalog();
  none.volumes.push(volumeRow('web'));
  none.policies.push(policyRow('keep', null));
  none.subclients.push(subclientRow('www', ['web'], 'keep'), subclientRow('ghost', ['web'], 'no-such-policy'));
  const unscheduled = run(none, at('2030-01-01T00:00:00Z'));
  t.equal(unscheduled.status, 'OK');
  t.equal(unscheduled.checked?.scheduled, 0);
  t.notOk(perf(unscheduled, 'missed_runs_web'));
});

t.test('snapshot schedule: a volume never snapshotted is judged from when its schedule began', async (t) => {
  const data = emptyCatalog();
  data.volumes.push(volumeRow('web', { addedAt: '2024-01-01T00:00:00.000Z' }));
  data.policies.push(policyRow('nightly', '0 2 * * *', { createdAt: '2024-01-05T00:00:00.000Z' }));
  data.subclients.push(subclientRow('www', ['web'], 'nightly', '2024-01-10T00:00:00.000Z'));
  // the latest of added (01-01), policy (01-05) and sub-client (01-10): runs on 01-10 and 01-11
  const below = run(data, at('2024-01-11T02:00:00.000Z'));
  t.equal(below.status, 'OK', 'one run since the sub-client was made');
  const warned = run(data, at('2024-01-11T02:00:00.001Z'));
  t.equal(warned.status, 'WARNING', 'two runs');
  t.match(warned.problems[0]?.message, /never snapshotted since it was scheduled \(2024-01-10T00:00:00Z, 1d02h ago\)/);
  t.notOk(perf(warned, 'snapshot_age_web'), 'no snapshot age without a snapshot');

  data.volumes[0]!.addedAt = '2024-01-11T00:00:00.000Z';
  t.equal(run(data, at('2024-01-11T02:00:00.001Z')).status, 'OK', 'a volume added later counts from its addition');

  // a snapshot older than the schedule: counted from the schedule's start
  const old = structuredClone(data);
  old.volumes[0]!.addedAt = '2024-01-01T00:00:00.000Z';
  old.snapshots.push(snapshotRow('web', '2024-01-02T00:00:00.000Z'));
  const report = run(old, at('2024-01-11T02:00:00.001Z'));
  t.equal(perf(report, 'missed_runs_web')?.value, 2);
  t.match(
    report.problems[0]?.message,
    /newest snapshot 2024-01-02T00:00:00Z is older than the schedule \(2024-01-10T00:00:00Z/,
  );
});

t.test(
  'snapshot schedule: a stored schedule that is not a cron expression is a WARNING, once per policy',
  async (t) => {
    const data = emptyCatalog();
    data.volumes.push(volumeRow('web', { policy: 'broken' }), volumeRow('db', { policy: 'broken' }));
    data.policies.push(policyRow('broken', 'every night'));
    const report = run(data, at('2024-01-01T00:00:00Z'));
    t.equal(report.status, 'WARNING');
    t.equal(report.problems.length, 1);
    t.match(report.problems[0], {
      check: 'schedule',
      subject: 'broken',
      message: /^policy broken: schedule "every night" is not a cron expression/,
    });
  },
);

t.test('runsBetween counts strictly between and stops at its limit', async (t) => {
  const cron = new Cron('* * * * * *', { paused: true }); // every second
  t.equal(runsBetween(cron, at('2024-01-01T00:00:00Z'), at('2024-01-01T00:00:03Z')), 2);
  t.equal(runsBetween(cron, at('2024-01-01T00:00:00Z'), at('2030-01-01T00:00:00Z'), 50), 50);
  const data = nightly();
  data.policies[0]!.schedule = '* * * * * *';
  const report = run(data, at('2030-01-01T00:00:00Z'));
  t.equal(perf(report, 'missed_runs_web')?.value, 1000, 'counting stops at 1000');
  t.match(report.problems[0]?.message, /1000 or more scheduled runs/);
});

t.test('--max-snap-age: any volume whose newest snapshot is older, schedule or not', async (t) => {
  const data = emptyCatalog();
  data.volumes.push(volumeRow('db'));
  const taken = at('2024-01-10T00:00:00Z');
  data.snapshots.push(snapshotRow('db', isoOf(taken)));
  const limits = { maxSnapAgeWarnMs: 2 * DAY, maxSnapAgeCritMs: 4 * DAY };
  const cases: [number, string][] = [
    [2 * DAY - MS, 'OK'],
    [2 * DAY, 'OK'], // "older than": the edge itself is not
    [2 * DAY + MS, 'WARNING'],
    [4 * DAY, 'WARNING'],
    [4 * DAY + MS, 'CRITICAL'],
  ];
  for (const [age, status] of cases)
    t.equal(run(data, plus(taken, age), limits).status, status, `${age} ms old: ${status}`);
  t.equal(run(data, plus(taken, 30 * DAY)).status, 'OK', 'not checked by default');
  t.equal(run(data, plus(taken, 3 * DAY), { maxSnapAgeCritMs: 2 * DAY }).status, 'CRITICAL', 'a critical limit alone');
  const warned = run(data, plus(taken, 3 * DAY), limits);
  t.match(warned.problems[0], {
    check: 'snapshot-age',
    subject: 'db',
    message: 'volume db: newest snapshot 2024-01-10T00:00:00Z is 3d00h old (more than --max-snap-age 2d00h)',
  });
  t.match(run(data, plus(taken, 5 * DAY), limits).problems[0]?.message, /more than --max-snap-age-crit 4d00h/);
  t.same(perf(warned, 'snapshot_age_db'), {
    label: 'snapshot_age_db',
    value: 3 * 86400,
    uom: 's',
    warn: 2 * 86400,
    crit: 4 * 86400,
    min: 0,
    max: null,
  });

  // never snapshotted: from when it was added
  const fresh = emptyCatalog();
  fresh.volumes.push(volumeRow('new', { addedAt: isoOf(taken) }));
  t.equal(run(fresh, plus(taken, 2 * DAY), limits).status, 'OK');
  const never = run(fresh, plus(taken, 2 * DAY + MS), limits);
  t.equal(never.status, 'WARNING');
  t.match(never.problems[0]?.message, /^volume new: no snapshot since it was added 2024-01-10T00:00:00Z, 2d00h ago/);
});

t.test('QRVs: WARNING when not updated for --qrv-warn, CRITICAL for --qrv-crit or when failed', async (t) => {
  const updated = at('2024-03-01T00:00:00Z');
  const data = emptyCatalog();
  data.qrvs.push(qrvRow('web', isoOf(updated), { id: 'q-0000000a' }));
  const cases: [number, string][] = [
    [2 * DAY - MS, 'OK'],
    [2 * DAY, 'OK'],
    [2 * DAY + MS, 'WARNING'],
    [7 * DAY - MS, 'WARNING'],
    [7 * DAY, 'WARNING'],
    [7 * DAY + MS, 'CRITICAL'],
  ];
  for (const [age, status] of cases) t.equal(run(data, plus(updated, age)).status, status, `${age} ms old: ${status}`);
  t.equal(
    run(data, plus(updated, 2 * HOUR + MS), { qrvWarnMs: 2 * HOUR, qrvCritMs: 3 * HOUR }).status,
    'WARNING',
    'other thresholds',
  );
  t.equal(run(data, plus(updated, 3 * HOUR + MS), { qrvWarnMs: 2 * HOUR, qrvCritMs: 3 * HOUR }).status, 'CRITICAL');
  const warned = run(data, plus(updated, 3 * DAY));
  t.match(warned.problems[0], {
    check: 'qrv',
    subject: 'q-0000000a',
    message:
      'QRV q-0000000a of web (/replicas/web.qrv.img): last updated 2024-03-01T00:00:00Z, 3d00h ago (more than --qrv-warn 2d00h)',
  });
  t.match(run(data, plus(updated, 8 * DAY)).problems[0]?.message, /more than --qrv-crit 7d00h/);
  t.same(perf(warned, 'qrv_age_web_q-0000000a'), {
    label: 'qrv_age_web_q-0000000a',
    value: 3 * 86400,
    uom: 's',
    warn: 172800,
    crit: 604800,
    min: 0,
    max: null,
  });

  const failed = emptyCatalog();
  failed.qrvs.push(qrvRow('web', isoOf(updated), { id: 'q-0000000b', state: 'failed' }));
  const report = run(failed, plus(updated, MIN));
  t.equal(report.status, 'CRITICAL', 'a failed QRV is critical however new');
  t.match(report.problems[0], {
    check: 'qrv',
    subject: 'q-0000000b',
    message: /^QRV q-0000000b of web \(\/replicas\/web\.qrv\.img\): failed/,
  });

  const damaged = emptyCatalog();
  damaged.qrvs.push(
    qrvRow('web', isoOf(updated), {
      id: 'q-0000000c',
      lastVerify: { at: isoOf(updated), ok: false, badBlocks: 3, deep: false },
    }),
  );
  const verified = run(damaged, plus(updated, MIN));
  t.equal(verified.status, 'CRITICAL', 'a QRV that failed its last verify is critical however new');
  t.match(verified.problems[0], {
    check: 'qrv',
    subject: 'q-0000000c',
    message: /its last verify \(2024-03-01T00:00:00Z\) found 3 bad blocks/,
  });
  damaged.qrvs[0]!.lastVerify = { at: isoOf(updated), ok: true, badBlocks: 0, deep: true };
  t.equal(run(damaged, plus(updated, MIN)).status, 'OK', 'a clean verify is fine');

  const copying = emptyCatalog();
  copying.qrvs.push(qrvRow('web', isoOf(updated), { state: 'copying' }));
  t.equal(run(copying, plus(updated, HOUR)).status, 'OK', 'a copy in progress');
  t.match(
    run(copying, plus(updated, 3 * DAY)).problems[0]?.message,
    /still copying since 2024-03-01T00:00:00Z, 3d00h ago/,
  );

  const removed = emptyCatalog();
  removed.qrvs.push(qrvRow('web', isoOf(updated), { state: 'removed' }));
  const gone = run(removed, plus(updated, 30 * DAY));
  t.equal(gone.status, 'OK', 'removed QRVs are not checked');
  t.equal(gone.checked?.qrvs, 0);

  // a promoted QRV is a volume's primary now: no replica age, however old, and no perfdata
  const promoted = emptyCatalog();
  promoted.qrvs.push(qrvRow('web', isoOf(updated), { id: 'q-0000000d', state: 'promoted' }));
  const primary = run(promoted, plus(updated, 30 * DAY));
  t.equal(primary.status, 'OK', 'a promoted QRV is not judged as a replica');
  t.equal(primary.checked?.qrvs, 0);
  t.equal(perf(primary, 'qrv_age_web_q-0000000d'), undefined, 'and has no age perfdata');
});

t.test(
  'pools: WARNING at --pool-warn percent reserved, CRITICAL at --pool-crit, WARNING with no free member',
  async (t) => {
    const pool = (reserved: number, free: number) => {
      const data = emptyCatalog();
      data.pools.push(
        poolRow('replicas', [memberRow('/r/a.img', reserved, 'q-00000001'), memberRow('/r/b.img', free)]),
      );
      return data;
    };
    const cases: [number, string][] = [
      [799, 'OK'], // 79.9%
      [800, 'WARNING'], // 80%
      [801, 'WARNING'],
      [949, 'WARNING'], // 94.9%
      [950, 'CRITICAL'], // 95%
      [951, 'CRITICAL'],
    ];
    for (const [reserved, status] of cases)
      t.equal(
        run(pool(reserved, 1000 - reserved), at('2024-01-01T00:00:00Z')).status,
        status,
        `${reserved / 10}% reserved: ${status}`,
      );
    t.equal(
      run(pool(600, 400), at('2024-01-01T00:00:00Z'), { poolWarnPct: 60, poolCritPct: 70 }).status,
      'WARNING',
      'other thresholds',
    );
    t.equal(run(pool(700, 300), at('2024-01-01T00:00:00Z'), { poolWarnPct: 60, poolCritPct: 70 }).status, 'CRITICAL');

    const warned = run(pool(850, 150), at('2024-01-01T00:00:00Z'));
    t.match(warned.problems[0], {
      check: 'pool',
      subject: 'replicas',
      message: 'pool replicas: 85.0% of its capacity reserved (850 B of 1000 B), 1 of 2 members reserved, 1 free',
    });
    t.same(perf(warned, 'pool_used_replicas'), {
      label: 'pool_used_replicas',
      value: 85,
      uom: '%',
      warn: 80,
      crit: 95,
      min: 0,
      max: 100,
    });

    const full = emptyCatalog();
    full.pools.push(
      poolRow('full', [memberRow('/r/a.img', 10, 'q-00000001'), memberRow('/r/b.img', 10, 'q-00000002')]),
    );
    const fullReport = run(full, at('2024-01-01T00:00:00Z'));
    t.equal(fullReport.status, 'CRITICAL', 'every member reserved: 100%');
    t.match(fullReport.problems[0]?.message, /100\.0% of its capacity reserved .*2 of 2 members reserved, none free/);

    const empty = emptyCatalog();
    empty.pools.push(poolRow('empty', []));
    const emptyReport = run(empty, at('2024-01-01T00:00:00Z'));
    t.equal(emptyReport.status, 'WARNING', 'a pool with no members has no free member');
    t.match(emptyReport.problems[0], { check: 'pool', subject: 'empty', message: 'pool empty: it has no members' });
    t.notOk(perf(emptyReport, 'pool_used_empty'), 'no percentage of nothing');

    const zero = emptyCatalog();
    zero.pools.push(poolRow('zero', [memberRow('/dev/x', 0, 'q-00000001')]));
    t.equal(run(zero, at('2024-01-01T00:00:00Z')).status, 'WARNING', 'no capacity known, none free: WARNING');
  },
);

t.test(
  'jobs: a failure within --failed-window is CRITICAL unless a later job of its kind and volume succeeded',
  async (t) => {
    const ended = at('2024-05-01T12:00:00Z');
    const failedJob = () =>
      jobRow('run', 'web', 'failed', isoOf(minus(ended, 5 * MIN)), isoOf(ended), { id: 'j-0000f00d' });
    const data = emptyCatalog();
    data.jobs.push(failedJob());
    const cases: [number, string][] = [
      [MIN, 'CRITICAL'],
      [DAY - MS, 'CRITICAL'],
      [DAY, 'CRITICAL'], // "within": the edge is in
      [DAY + MS, 'OK'],
    ];
    for (const [ago, status] of cases) t.equal(run(data, plus(ended, ago)).status, status, `${ago} ms ago: ${status}`);
    t.equal(run(data, plus(ended, 2 * HOUR), { failedWindowMs: HOUR }).status, 'OK', 'a shorter window');
    const report = run(data, plus(ended, 2 * HOUR));
    t.equal(report.exitCode, 2);
    t.match(report.problems[0], {
      check: 'job',
      subject: 'j-0000f00d',
      message:
        'job j-0000f00d (run web) failed 2h00m ago: cannot write /replicas/x: no space left on device; `qrv show j-0000f00d` lists its steps',
    });
    t.same(perf(report, 'failed_jobs'), {
      label: 'failed_jobs',
      value: 1,
      uom: '',
      warn: null,
      crit: 0,
      min: 0,
      max: null,
    });

    const now = plus(ended, 2 * HOUR);
    const later = (kind: 'run' | 'snap', volume: string, state: 'succeeded' | 'failed' | 'running', start: Date) => {
      const d = emptyCatalog();
      d.jobs.push(
        failedJob(),
        jobRow(kind, volume, state, isoOf(start), state === 'running' ? null : isoOf(plus(start, MIN))),
      );
      return run(d, now).status;
    };
    t.equal(later('run', 'web', 'succeeded', plus(ended, HOUR)), 'OK', 'a later run of web succeeded: history');
    t.equal(later('snap', 'web', 'succeeded', plus(ended, HOUR)), 'CRITICAL', 'a snap is another kind');
    t.equal(later('run', 'db', 'succeeded', plus(ended, HOUR)), 'CRITICAL', 'db is another volume');
    t.equal(later('run', 'web', 'succeeded', minus(ended, DAY)), 'CRITICAL', 'an earlier success does not count');
    t.equal(later('run', 'web', 'running', plus(ended, HOUR)), 'CRITICAL', 'one still running has not succeeded');

    const noEnd = emptyCatalog();
    noEnd.jobs.push(jobRow('snap', 'web', 'failed', isoOf(ended), null, { error: null }));
    const noEndReport = run(noEnd, plus(ended, HOUR));
    t.equal(noEndReport.status, 'CRITICAL', 'without endedAt, its start counts');
    t.match(noEndReport.problems[0]?.message, /failed 1h00m ago; /);
    t.equal(run(noEnd, plus(ended, DAY + MS)).status, 'OK');
  },
);

t.test('several problems: the worst decides, critical ones first, each on its own line', async (t) => {
  const data = nightly();
  data.qrvs.push(qrvRow('web', '2024-01-01T00:00:00.000Z', { id: 'q-00000001', state: 'failed' }));
  data.pools.push(poolRow('replicas', [memberRow('/r/a.img', 90, 'q-00000001'), memberRow('/r/b.img', 10)]));
  const report = run(data, at('2024-01-12T02:00:00.001Z'));
  t.equal(report.status, 'CRITICAL');
  t.equal(report.exitCode, 2);
  t.same(
    report.problems.map((p) => [p.severity, p.check]),
    [
      ['critical', 'qrv'],
      ['warning', 'snapshot-schedule'],
      ['warning', 'pool'],
    ],
  );
  const lines = nagiosText(report).trimEnd().split('\n');
  t.equal(lines.length, 4);
  t.match(
    lines[0],
    /^QRV CRITICAL - 1 critical, 2 warnings: QRV q-00000001 of web \(\/replicas\/web\.qrv\.img\): failed .* \(and 2 more\) \| snapshot_age_web=/,
  );
  t.match(lines[1], /^CRITICAL: QRV q-00000001/);
  t.match(lines[2], /^WARNING: volume web:/);
  t.match(lines[3], /^WARNING: pool replicas:/);

  const json = JSON.parse(jsonText(report)) as Record<string, any>;
  t.match(json, {
    message_type: 'summary',
    status: 'CRITICAL',
    exitCode: 2,
    message: report.text,
    checked: { volumes: 1, qrvs: 1, pools: 1 },
  });
  t.equal(json.problems.length, 3);
  t.match(json.problems[0], { severity: 'critical', check: 'qrv', subject: 'q-00000001' });
  t.ok(json.perfdata.some((p: { label: string }) => p.label === 'pool_used_replicas'));
  t.equal(jsonText(report).split('\n').length, 2, 'one line');
});

t.test('every volume judged in turn: the problems and perfdata of a mixed catalog, in order', async (t) => {
  const data = emptyCatalog();
  data.volumes.push(
    volumeRow('web', { policy: 'nightly' }),
    volumeRow('db', { policy: 'broken' }),
    volumeRow('log', { policy: 'broken', addedAt: '2024-01-05T00:00:00.000Z' }),
    volumeRow('api'),
  );
  data.policies.push(
    policyRow('nightly', '0 2 * * *'),
    policyRow('broken', 'every night'),
    policyRow('hourly', '0 * * * *'),
  );
  data.subclients.push(subclientRow('www', ['api'], 'hourly', '2024-01-11T00:00:00.000Z'));
  data.snapshots.push(
    snapshotRow('web', '2024-01-10T02:00:05.000Z'),
    snapshotRow('db', '2024-01-08T00:00:00.000Z'),
    snapshotRow('api', '2024-01-09T00:00:00.000Z'),
  );
  data.qrvs.push(qrvRow('web', '2024-01-11T00:00:00.000Z', { id: 'q-00000001' }));
  data.pools.push(poolRow('replicas', [memberRow('/r/a.img', 90, 'q-00000001'), memberRow('/r/b.img', 10)]));
  const ended = '2024-01-11T23:30:00.000Z';
  data.jobs.push(jobRow('copy', 'web', 'failed', '2024-01-11T23:00:00.000Z', ended, { id: 'j-00000001' }));
  const now = at('2024-01-12T02:30:00.000Z');
  const report = run(data, now, { maxSnapAgeWarnMs: DAY, maxSnapAgeCritMs: 3 * DAY });
  const crit = 'more than --max-snap-age-crit 3d00h';
  t.same(
    report.problems.map((p) => [p.severity, p.check, p.subject, p.message.replace(/ \(CronPattern: .*\);/, ';')]),
    [
      ['critical', 'snapshot-age', 'db', `volume db: newest snapshot 2024-01-08T00:00:00Z is 4d02h old (${crit})`],
      [
        'critical',
        'snapshot-age',
        'log',
        `volume log: no snapshot since it was added 2024-01-05T00:00:00Z, 7d02h ago (${crit})`,
      ],
      [
        'critical',
        'snapshot-schedule',
        'api',
        'volume api: 26 scheduled runs of "0 * * * *" (policy hourly of sub-client www) passed without a snapshot; newest snapshot 2024-01-09T00:00:00Z is older than the schedule (2024-01-11T00:00:00Z, 1d02h ago)',
      ],
      ['critical', 'snapshot-age', 'api', `volume api: newest snapshot 2024-01-09T00:00:00Z is 3d02h old (${crit})`],
      [
        'critical',
        'job',
        'j-00000001',
        'job j-00000001 (copy web) failed 3h00m ago: cannot write /replicas/x: no space left on device; `qrv show j-00000001` lists its steps',
      ],
      [
        'warning',
        'snapshot-schedule',
        'web',
        'volume web: 2 scheduled runs of "0 2 * * *" (policy nightly) passed without a snapshot; newest snapshot 2024-01-10T02:00:05Z (2d00h ago)',
      ],
      [
        'warning',
        'snapshot-age',
        'web',
        'volume web: newest snapshot 2024-01-10T02:00:05Z is 2d00h old (more than --max-snap-age 1d00h)',
      ],
      [
        'warning',
        'schedule',
        'broken',
        'policy broken: schedule "every night" is not a cron expression; its volumes\' snapshots are not checked against it',
      ],
      [
        'warning',
        'pool',
        'replicas',
        'pool replicas: 90.0% of its capacity reserved (90 B of 100 B), 1 of 2 members reserved, 1 free',
      ],
    ],
  );
  t.equal(
    perfdataText(report.perfdata),
    'snapshot_age_web=174595s;86400;259200;0 missed_runs_web=2;1;3;0 snapshot_age_db=354600s;86400;259200;0 ' +
      'snapshot_age_api=268200s;86400;259200;0 missed_runs_api=26;1;3;0 qrv_age_web_q-00000001=95400s;172800;604800;0 ' +
      'pool_used_replicas=90%;80;95;0;100 failed_jobs=1;;0;0',
  );
  t.same(
    new Set(report.perfdata.map((p) => Object.keys(p).join())),
    new Set(['label,value,uom,warn,crit,min,max']),
    'every datum has every field, in the order the JSON output shows them',
  );
  t.equal(
    perfdataText(run(data, now).perfdata).split(' ').slice(0, 3).join(' '),
    'snapshot_age_web=174595s;;;0 missed_runs_web=2;1;3;0 snapshot_age_db=354600s;;;0',
    'no --max-snap-age: the snapshot ages have no thresholds',
  );
});

t.test('output: perfdata labels, one-line messages, UNKNOWN reports', async (t) => {
  t.equal(
    perfdataText([
      { label: 'plain_label', value: 1.23456, uom: '%', warn: 80, crit: 95, min: 0, max: 100 },
      { label: "odd name's=x", value: 2, uom: '', warn: null, crit: null, min: null, max: null },
      { label: 'n', value: 3, uom: 's', warn: null, crit: 4, min: 0, max: null },
    ]),
    "plain_label=1.235%;80;95;0;100 'odd name''s_x'=2 n=3s;;4;0",
  );
  const report: CheckReport = {
    status: 'WARNING',
    exitCode: 1,
    text: 'a | b\nc',
    problems: [{ severity: 'warning', check: 'job', subject: 'x', message: 'line one\nline | two' }],
    perfdata: [],
  };
  t.equal(nagiosText(report), 'QRV WARNING - a / b c\nWARNING: line one line / two\n', 'no stray | or newline');

  const unknown = unknownReport(new QrvError('catalog', 'catalog-corrupt', 'catalog /x is corrupt', 'restore it'));
  t.match(unknown, {
    status: 'UNKNOWN',
    exitCode: 3,
    problems: [],
    perfdata: [],
    error: { code: 'catalog-corrupt', message: 'catalog /x is corrupt', hint: 'restore it' },
  });
  t.equal(nagiosText(unknown), 'QRV UNKNOWN - catalog /x is corrupt (restore it)\n');
  t.same(JSON.parse(jsonText(unknown)), {
    message_type: 'summary',
    status: 'UNKNOWN',
    exitCode: 3,
    message: 'catalog /x is corrupt (restore it)',
    problems: [],
    perfdata: [],
    error: { code: 'catalog-corrupt', message: 'catalog /x is corrupt', hint: 'restore it' },
  });
  t.equal(nagiosText(unknownReport({ code: 'usage', message: 'bad' })), 'QRV UNKNOWN - bad\n');
});

t.test('formatAge', async (t) => {
  t.equal(formatAge(-5), '0s');
  t.equal(formatAge(59_999), '59s');
  t.equal(formatAge(MIN), '1m');
  t.equal(formatAge(HOUR - 1), '59m');
  t.equal(formatAge(HOUR + 7 * MIN), '1h07m');
  t.equal(formatAge(3 * DAY + 4 * HOUR + 59 * MIN), '3d04h');
});

t.test('parseThresholds: defaults, values, and usage errors for anything else', async (t) => {
  t.same(parseThresholds({}), DEFAULT_THRESHOLDS);
  t.same(DEFAULT_THRESHOLDS, {
    snapWarn: 2,
    snapCrit: 4,
    maxSnapAgeWarnMs: null,
    maxSnapAgeCritMs: null,
    qrvWarnMs: 2 * DAY,
    qrvCritMs: 7 * DAY,
    poolWarnPct: 80,
    poolCritPct: 95,
    failedWindowMs: DAY,
  });
  t.same(
    parseThresholds({
      snapWarn: '1',
      snapCrit: '1',
      maxSnapAge: '36h',
      maxSnapAgeCrit: '3d',
      qrvWarn: '12h',
      qrvCrit: '1w',
      poolWarn: '70%',
      poolCrit: '99.5',
      failedWindow: '90m',
    }),
    {
      snapWarn: 1,
      snapCrit: 1,
      maxSnapAgeWarnMs: 36 * HOUR,
      maxSnapAgeCritMs: 3 * DAY,
      qrvWarnMs: 12 * HOUR,
      qrvCritMs: 7 * DAY,
      poolWarnPct: 70,
      poolCritPct: 99.5,
      failedWindowMs: 90 * MIN,
    },
  );
  const bad: [Record<string, string>, RegExp][] = [
    [{ snapWarn: '0' }, /^--snap-warn "0" is not a whole number/],
    [{ snapCrit: '2.5' }, /^--snap-crit "2\.5" is not a whole number/],
    [{ snapWarn: 'x' }, /^--snap-warn "x"/],
    [{ qrvWarn: 'soon' }, /^--qrv-warn "soon" is not a duration/],
    [{ qrvCrit: 'forever' }, /^--qrv-crit "forever" is not a finite duration/],
    [{ maxSnapAge: '-1d' }, /^--max-snap-age "-1d"/],
    [{ failedWindow: '' }, /^--failed-window ""/],
    [{ poolWarn: '0' }, /^--pool-warn "0" is not a percentage/],
    [{ poolCrit: '101%' }, /^--pool-crit "101%"/],
    [{ poolCrit: 'full' }, /^--pool-crit "full"/],
    [{ snapWarn: '5' }, /^--snap-warn is above --snap-crit$/],
    [{ qrvWarn: '8d' }, /^--qrv-warn is above --qrv-crit$/],
    [{ poolWarn: '96' }, /^--pool-warn is above --pool-crit$/],
    [{ maxSnapAge: '2d', maxSnapAgeCrit: '1d' }, /^--max-snap-age is above --max-snap-age-crit$/],
  ];
  for (const [options, message] of bad) {
    t.throws(
      () => parseThresholds(options),
      { name: 'QrvError', exit: 'usage', code: 'bad-threshold', message },
      JSON.stringify(options),
    );
  }
});

t.test(
  'readCatalogFile: reads without creating anything; a missing, unreadable or corrupt catalog is an error',
  async (t) => {
    const dir = await tmpDir(t);
    const home = path.join(dir, 'home');
    await t.rejects(readCatalogFile(home), {
      name: 'QrvError',
      exit: 'catalog',
      code: 'catalog-missing',
      message: `no catalog at ${path.join(home, 'catalog.json')}`,
    });
    await t.rejects(fs.stat(home), { code: 'ENOENT' }, 'the home was not created');

    await fs.mkdir(home);
    const file = path.join(home, 'catalog.json');
    await fs.writeFile(file, '{broken');
    await t.rejects(readCatalogFile(home), { code: 'catalog-corrupt' });
    t.equal(await fs.readFile(file, 'utf8'), '{broken', 'left as it was');

    const data = nightly();
    await fs.writeFile(file, JSON.stringify(data));
    t.same(await readCatalogFile(home), data);
    const report = await check({ home, now: at('2024-01-12T02:00:00.001Z'), thresholds: DEFAULT_THRESHOLDS });
    t.equal(report.status, 'WARNING', 'check() reads the home and evaluates it');

    await fs.rm(file);
    await fs.mkdir(file);
    await t.rejects(
      readCatalogFile(home),
      { exit: 'catalog', code: 'catalog-unsafe', message: /catalog\.json: it is not a regular file$/ },
      'a folder in its place',
    );
  },
);

t.test("doctor's catalog findings: a job whose process is gone is a WARNING naming qrv doctor", async (t) => {
  const home = await tmpDir(t, 'qrv-check-doctor-');
  const data = emptyCatalog();
  data.volumes.push(volumeRow('web'));
  // A pid that cannot be alive (beyond pid_max) on this host: qrv was SIGKILLed.
  data.jobs.push(
    jobRow('copy', 'web', 'running', '2024-05-01T12:00:00.000Z', null, {
      id: 'j-0dead0ff',
      pid: 2 ** 30,
      host: os.hostname(),
    }),
  );
  await fs.writeFile(path.join(home, 'catalog.json'), JSON.stringify(data));
  const report = await check({ home, now: at('2024-05-01T12:05:00Z'), thresholds: DEFAULT_THRESHOLDS });
  t.equal(report.status, 'WARNING');
  t.equal(report.exitCode, 1);
  t.match(report.problems, [
    {
      severity: 'warning',
      check: 'doctor',
      subject: 'j-0dead0ff',
      message: /^job j-0dead0ff \(copy of web\) is marked running but process \d+ is gone \(run `qrv doctor`\)$/,
    },
  ]);
  t.equal(
    evaluate(data, at('2024-05-01T12:05:00Z'), DEFAULT_THRESHOLDS).status,
    'OK',
    'evaluate alone is given no findings: the same catalog judged without them',
  );
});
