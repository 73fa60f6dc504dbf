// File-level recovery as a service on a real catalog and real ext4 images: sources in order,
// --to or the mounted volume, the summary, partial exit, progress events, refusals.
import t, { type Test } from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { Catalog } from '../../src/catalog/store.ts';
import { QrvError } from '../../src/core/errors.ts';
import { Reporter, type QrvEvent } from '../../src/core/events.ts';
import type { Context } from '../../src/engine/context.ts';
import { groupSources, recoverFiles } from '../../src/services/recover-files.ts';
import { ext4Image } from '../helpers/images.ts';
import { snapshotRow, volumeRow } from '../helpers/check-rows.ts';
import { tmpDir } from '../helpers/tmp.ts';

const root = process.getuid?.() === 0;
const T1 = '2026-11-30T10:00:00.000Z';
const T2 = '2026-11-30T12:00:00.000Z';

async function setup(t: Test) {
  const dir = await fs.realpath(await tmpDir(t));
  const volume = await ext4Image(dir, 'web', 16, { 'keep.txt': 'live\n' });
  const old = await ext4Image(dir, 'old', 16, {
    'etc/app.conf': 'x = 1\n',
    'hello.txt': 'hello\n',
    'data/a.bin': Buffer.alloc(200_000, 3),
  });
  const newer = await ext4Image(dir, 'new', 16, { 'etc/app.conf': 'x = 2\n', 'new.txt': 'new\n' });
  const other = await ext4Image(dir, 'other', 16, { x: 'x' });
  const catalog = await Catalog.open(path.join(dir, 'home'));
  await catalog.update((data) => {
    data.volumes.push(volumeRow('web', { path: volume }), volumeRow('db', { path: other }));
    data.snapshots.push(
      snapshotRow('web', T1, { id: 's-00000001', path: old }),
      snapshotRow('web', T2, { id: 's-00000002', path: newer }),
      snapshotRow('db', T2, { id: 's-000000d1', path: other }),
    );
  });
  const events: QrvEvent[] = [];
  const reporter = new Reporter();
  reporter.subscribe((e) => events.push(e));
  const ctx: Context = { catalog, reporter, now: () => new Date('2026-11-30T18:00:00Z') };
  return { dir, ctx, events, volume };
}

t.test('groupSources: each --path belongs to the --from or --as-of before it', async (t) => {
  t.same(
    groupSources([
      { option: 'from', value: 's-1' },
      { option: 'path', value: '/a' },
      { option: 'path', value: '/b' },
      { option: 'as-of', value: '2h ago' },
      { option: 'path', value: '/c' },
      { option: 'from', value: 's-1' },
      { option: 'path', value: '/d' },
    ]),
    [
      { from: 's-1', paths: ['/a', '/b'] },
      { asOf: '2h ago', paths: ['/c'] },
      { from: 's-1', paths: ['/d'] },
    ],
  );
  t.throws(
    () =>
      groupSources([
        { option: 'path', value: '/a' },
        { option: 'from', value: 's-1' },
      ]),
    { code: 'usage', message: /--path \/a comes before any --from/ },
  );
  t.throws(
    () =>
      groupSources([
        { option: 'from', value: 's-1' },
        { option: 'path', value: '/a' },
        { option: 'from', value: 's-2' },
      ]),
    { code: 'usage', message: /^--from s-2 has no --path after it$/ },
  );
});

t.test('two sources into --to: restored, skipped and why, partial exit, progress', async (t) => {
  const { dir, ctx, events } = await setup(t);
  const to = path.join(dir, 'restore');
  const summary = await recoverFiles(ctx, {
    volume: 'web',
    to,
    force: false,
    via: 'debugfs',
    sources: [
      { from: 's-00000001', paths: ['/etc', '/hello.txt', '/data/a.bin'] },
      { asOf: '2026-11-30T13:00Z', paths: ['/new.txt', '/etc/app.conf', '/missing'] },
    ],
  });
  t.equal(
    await fs.readFile(path.join(to, 'etc/app.conf'), 'utf8'),
    'x = 1\n',
    'the first source wins; the second does not overwrite without --force',
  );
  t.equal(await fs.readFile(path.join(to, 'new.txt'), 'utf8'), 'new\n');
  t.equal((await fs.readFile(path.join(to, 'data/a.bin'))).length, 200_000);
  const data = summary.data as {
    restored: Array<{ path: string; to: string; type: string; bytes: number }>;
    skipped: Array<{ path: string; reason: string }>;
    sources: unknown;
    target: string;
  };
  t.same(
    data.restored.map((r) => r.path),
    ['/etc', '/etc/app.conf', '/hello.txt', '/data/a.bin', '/new.txt'],
  );
  t.match(
    data.restored.find((r) => r.path === '/data/a.bin'),
    { to: path.join(to, 'data/a.bin'), type: 'file', bytes: 200_000 },
  );
  t.same(data.skipped, [
    { path: '/etc/app.conf', reason: 'exists in the target as a file (--force replaces it)' },
    { path: '/missing', reason: '/missing is not in s-00000002 (no "missing" in /)' },
  ]);
  t.same(
    data.sources,
    [
      { id: 's-00000001', pointInTime: T1 },
      { id: 's-00000002', pointInTime: T2 },
    ],
    '--as-of chose the newer snapshot',
  );
  t.equal(data.target, to);
  t.equal(summary.exit, 'partial');
  t.match(
    summary.lines.at(-1),
    new RegExp(
      `^5 restored \\(200016 bytes\\), 2 skipped, into ${to} from s-00000001 \\(2026-11-30 10:00:00Z\\), s-00000002 \\(2026-11-30 12:00:00Z\\)`,
    ),
  );
  t.ok(summary.lines.includes(`restored /data/a.bin -> ${to}/data/a.bin (200000 bytes)`));
  t.ok(summary.lines.includes('skipped  /missing: /missing is not in s-00000002 (no "missing" in /)'));
  const progress = events.filter((e) => e.type === 'progress');
  t.ok(progress.length >= 2, 'progress events');
  t.ok(
    progress.some(
      (e) => e.type === 'progress' && e.phase === 'recover' && e.bytesDone === 200_012 && e.bytesTotal === 200_012,
    ),
    'the first source: 100%',
  );
  t.match(
    progress.at(-1),
    { phase: 'recover', bytesDone: 10, bytesTotal: 10 },
    'the second: skipped bytes count as handled',
  );
  t.match(
    events.filter((e) => e.type === 'step' && e.state === 'done'),
    [
      { phase: 'recover', step: 'restore files from s-00000001', detail: '4 restored, read by debugfs' },
      { step: 'restore files from s-00000002', detail: '1 restored, 2 skipped, read by debugfs' },
    ],
  );
  // One recover job row, with a step per source, as stored.
  const job = (summary.data as { job: { id: string } }).job;
  t.match(job, {
    kind: 'recover',
    volume: 'web',
    state: 'succeeded',
    snapshotId: 's-00000001',
    destination: to,
    steps: [
      { name: 'restore files from s-00000001', state: 'done' },
      { name: 'restore files from s-00000002', state: 'done' },
    ],
  });
  t.same((await ctx.catalog.read()).jobs, [job]);

  const again = await recoverFiles(ctx, {
    volume: 'web',
    to,
    force: true,
    via: 'debugfs',
    sources: [{ from: 's-00000002', paths: ['/etc/app.conf'] }],
  });
  t.equal(again.exit, undefined, 'everything restored: exit 0');
  t.equal(await fs.readFile(path.join(to, 'etc/app.conf'), 'utf8'), 'x = 2\n', '--force replaces');
});

t.test("refusals: not mounted without --to, a file as --to, another volume's copy, nothing at the time", async (t) => {
  const { dir, ctx, volume } = await setup(t);
  const one = (paths: string[]) => [{ from: 's-00000001', paths }];
  await t.rejects(recoverFiles(ctx, { volume: 'web', force: false, sources: one(['/hello.txt']) }), {
    code: 'volume-not-mounted',
    exit: 'refused',
    message: `web (${volume}) is not mounted, and files go back into its mounted filesystem`,
    hint: 'mount it, or give --to DIR to restore the files into a folder',
  });
  await t.rejects(
    recoverFiles(ctx, { volume: 'web', to: volume, force: true, sources: one(['/hello.txt']) }),
    { code: 'target-not-folder' },
    'never into the image itself',
  );
  await t.rejects(
    recoverFiles(ctx, { volume: 'web', to: dir, force: false, sources: [{ from: 's-000000d1', paths: ['/x'] }] }),
    { code: 'wrong-volume', message: /s-000000d1 is a copy of "db", not "web"/ },
  );
  await t.rejects(
    recoverFiles(ctx, { volume: 'web', to: dir, force: false, sources: [{ asOf: '2026-11-29', paths: ['/x'] }] }),
    { code: 'nothing-at-time' },
  );
  await t.rejects(
    recoverFiles(ctx, {
      volume: 'web',
      to: dir,
      force: false,
      sources: [{ from: 's-00000001', paths: ['/x'] }],
      via: 'nfs' as 'mount',
    }),
    QrvError,
  );
});

t.test(
  'root: by default into the mounted volume, found through its loop device',
  { skip: root ? false : 'mounting needs root' },
  async (t) => {
    const { dir, ctx, volume } = await setup(t);
    const mnt = path.join(dir, 'mnt');
    await fs.mkdir(mnt);
    await execa('mount', ['-o', 'loop', volume, mnt]);
    t.teardown(() => execa('umount', [mnt]).catch(() => undefined));
    const summary = await recoverFiles(ctx, {
      volume: 'web',
      force: false,
      sources: [{ from: 's-00000001', paths: ['/etc/app.conf', '/hello.txt'] }],
    });
    t.equal(summary.exit, undefined);
    t.equal((summary.data as { target: string }).target, mnt);
    t.equal(await fs.readFile(path.join(mnt, 'hello.txt'), 'utf8'), 'hello\n');
    t.equal(await fs.readFile(path.join(mnt, 'etc/app.conf'), 'utf8'), 'x = 1\n');
    t.equal(await fs.readFile(path.join(mnt, 'keep.txt'), 'utf8'), 'live\n', 'the rest of the volume untouched');
    t.same(
      (await fs.readdir(mnt)).filter((n) => n.startsWith('.qrv-')),
      [],
    );
  },
);

t.test(
  "--force never replaces one of qrv's own files in the target (here a hard link to volume db): skipped with the reason",
  async (t) => {
    const { dir, ctx } = await setup(t);
    const to = path.join(dir, 'restore-protected');
    await fs.mkdir(to);
    const db = path.join(dir, 'other.img');
    const before = await fs.readFile(db);
    await fs.link(db, path.join(to, 'hello.txt'));
    const summary = await recoverFiles(ctx, {
      volume: 'web',
      to,
      force: true,
      sources: [{ from: 's-00000001', paths: ['/hello.txt', '/etc/app.conf'] }],
    });
    t.equal(summary.exit, 'partial');
    t.match(summary.data.skipped, [
      { path: '/hello.txt', reason: 'volume "db" is in its place in the target: never replaced' },
    ]);
    t.match(summary.data.restored, [{ path: '/etc/app.conf' }], 'the rest is restored');
    t.same(await fs.readFile(db), before, 'volume db is unchanged');
    t.same(await fs.readFile(path.join(to, 'hello.txt')), before, 'the hard link is still there');
  },
);
