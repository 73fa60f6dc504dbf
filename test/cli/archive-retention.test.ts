// Archive generations kept by policy (issue 14), through bin/qrv against a folder store: qrv cron
// archives each newer point in time, qrv prune removes the generations outside the retention grid
// and then the packs no generation uses, under the store's exclusive lock; a held lock keeps
// others out with one line, a stale one is removed by qrv store unlock; a killed send is resumed
// by the next cron.
import t, { type Test } from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { qrv, qrvJson } from '../helpers/cli.ts';
import { ext4Image, sha256, writeAt } from '../helpers/images.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { acquireStoreLock, LOCKS } from '../../src/archive/store-lock.ts';
import { openDirStore } from '../../src/stores/dir-store.ts';

const MiB = 1024 * 1024;

async function ok(t: Test, home: string, args: string[]) {
  const run = await qrv(home, args);
  t.equal(run.exitCode, 0, `qrv ${args.join(' ')}: ${run.stderr}`);
  return run;
}

async function setup(t: Test) {
  const dir = await fs.realpath(await tmpDir(t));
  const home = path.join(dir, 'home');
  const vault = path.join(dir, 'vault');
  const image = await ext4Image(dir, 'web', 24, { 'data.bin': randomBytes(6 * MiB) });
  await ok(t, home, ['volume', 'add', 'web', '--path', image]);
  await ok(t, home, ['store', 'add', 'vault', '--dir', vault, '--pack-size', '1M']);
  // no grid yet: cron keeps every generation
  await ok(t, home, ['policy', 'add', 'p', '--copy', 'never', '--archive-to', 'vault']);
  await ok(t, home, ['subclient', 'add', 'sc', '--volume', 'web', '--policy', 'p']);
  return { dir, home, vault, image };
}

type Row = { id: string; state: string; pointInTime: string };
const generations = async (home: string) => ((await qrvJson(home, ['list'])).summary.archives ?? []) as Row[];

t.test(
  'cron archives each newer point in time; prune keeps the grid and removes what no generation uses',
  async (t) => {
    const { dir, home, vault, image } = await setup(t);
    const bad = await qrv(home, ['policy', 'set', 'p', '--archive-keep', '24h,3x']);
    t.equal(bad.exitCode, 2, 'a grid that is not one is refused');
    const none = await qrv(home, ['cron']);
    t.equal(none.exitCode, 0, none.stderr);
    t.same(await generations(home), [], 'no point in time yet: nothing archived');
    const sums: string[] = [];
    for (const round of [1, 2, 3]) {
      // rounds 2 and 3 rewrite the same 512 KiB: round 2's chunks are used by no later generation
      if (round > 1) await writeAt(image, 16 * MiB, randomBytes(512 * 1024));
      await ok(t, home, ['snap', 'web']);
      const cron = await ok(t, home, ['cron']);
      t.match(cron.stdout, /archived web to vault as a-[0-9a-f]{12}/, `round ${round}: cron archives`);
      sums.push(await sha256(image));
      const again = await ok(t, home, ['cron']);
      t.notMatch(again.stdout, /archived/, 'and not again while nothing newer is there');
    }
    const rows = await generations(home);
    t.equal(rows.length, 3);
    const [newest] = [...rows].sort((a, b) => b.pointInTime.localeCompare(a.pointInTime));
    const year = String(new Date().getUTCFullYear());
    const older = rows.filter((r) => r.id !== newest!.id && r.pointInTime.startsWith(year));

    // a grid of one year keeps the newest generation of this year: the others made here go
    const dry = await ok(t, home, ['prune', '--dry-run', '--archive-keep', '1y']);
    for (const r of older) t.match(dry.stdout, `would remove ${r.id} of web from vault: outside the grid 1y`);
    t.equal((await generations(home)).filter((r) => r.state === 'ready').length, 3, 'a dry run changes nothing');

    const packsBefore = (await fs.readdir(path.join(vault, 'packs'), { recursive: true })).length;
    const pruned = await ok(t, home, ['prune', '--archive-keep', '1y']);
    for (const r of older) t.match(pruned.stdout, `removed ${r.id} of web from vault: outside the grid 1y`);
    const swept = /vault: (\d+) packs no generation uses removed/.exec(pruned.stdout);
    t.ok(swept && Number(swept[1]) >= 1, `the packs only removed generations used are gone (${swept?.[0]})`);
    t.ok((await fs.readdir(path.join(vault, 'packs'), { recursive: true })).length < packsBefore);
    const manifests = await fs.readdir(path.join(vault, 'generations', 'web'));
    t.same(manifests, [newest!.id], 'only the kept generation is in the store');
    const states = Object.fromEntries((await generations(home)).map((r) => [r.id, r.state]));
    for (const r of older) {
      t.equal(states[r.id], undefined, `${r.id} is no longer listed`);
      const shown = (await qrvJson(home, ['show', r.id])).summary.archive as { state: string; removedAt: string };
      t.match(shown, { state: 'removed', removedAt: /^\d{4}-/ }, 'its row says it was removed');
    }

    const to = path.join(dir, 'back.img');
    await ok(t, home, ['recover', 'web', '--from', newest!.id, '--to', to]);
    t.equal(await sha256(to), sums[2], 'the kept generation still comes back byte for byte');
    const verified = await ok(t, home, ['verify', newest!.id, '--deep']);
    t.match(verified.stdout, /every segment and chunk matches its name/);
    t.same(await fs.readdir(path.join(vault, 'locks')), [], 'every lock was released');
  },
);

t.test('a held lock keeps others out with one line; a stale one is removed by store unlock', async (t) => {
  const { home, vault } = await setup(t);
  const snap = await qrvJson(home, ['snap', 'web']);
  const id = (snap.summary.snapshot as { id: string }).id;
  const store = await openDirStore(vault);
  t.teardown(() => store.close());
  const held = await acquireStoreLock(store, 'exclusive', {
    command: 'prune (a test)',
    settleMs: 0,
    refreshEveryMs: null,
  });
  const refused = await qrv(home, ['archive', id, '--to', 'vault']);
  t.equal(refused.exitCode, 6, 'busy');
  t.match(refused.stderr, /^qrv: .*exclusive lock of `qrv prune \(a test\)`.*qrv store unlock vault/m);
  t.equal(refused.stderr.split('\n').filter((l) => l.startsWith('qrv: ')).length, 1, 'one line');
  await held.release();

  // a send under way elsewhere (its shared lock) keeps prune from touching the store
  await ok(t, home, ['archive', id, '--to', 'vault']);
  await ok(t, home, ['archive', id, '--to', 'vault']);
  const sending = await acquireStoreLock(store, 'shared', { command: 'archive (another host)', refreshEveryMs: null });
  const blocked = await qrv(home, ['prune', '--archive-keep', '1y']);
  t.equal(blocked.exitCode, 11, 'prune is partly done: the store was not pruned');
  t.match(blocked.stderr, /could not prune vault: .*a shared lock of `qrv archive \(another host\)`/);
  t.equal((await generations(home)).length, 2, 'both generations are still there');
  await sending.release();
  const pruned = await ok(t, home, ['prune', '--archive-keep', '1y']);
  t.match(pruned.stdout, /removed a-[0-9a-f]{12} of web from vault/, 'once the send is done, prune goes ahead');

  // a lock left by a process of this host that is gone
  const dead = { kind: 'exclusive', host: (await import('node:os')).hostname(), pid: 2 ** 22 + 7, command: 'prune' };
  const at = new Date().toISOString();
  await store.put(`${LOCKS}00000000deadbeef`, Buffer.from(JSON.stringify({ ...dead, createdAt: at, refreshedAt: at })));
  const passed = await qrv(home, ['archive', id, '--to', 'vault']);
  t.equal(passed.exitCode, 0, `a stale lock does not stand in the way: ${passed.stderr}`);
  t.match(
    passed.stderr,
    /passed over in vault: .*00000000deadbeef|passed over in vault: an exclusive lock of `qrv prune`/,
  );
  const unlocked = await ok(t, home, ['store', 'unlock', 'vault']);
  t.match(unlocked.stdout, /removed 00000000deadbeef: /);
  t.match(unlocked.stdout, /no locks left in vault/);
  const missing = await qrv(home, ['store', 'unlock', 'vault', '0123456789abcdef']);
  t.equal(missing.exitCode, 3);
});

t.test('a send killed midway is resumed by the next cron', async (t) => {
  const { home, image } = await setup(t);
  await ok(t, home, ['snap', 'web']);
  const killed = await qrv(home, ['cron'], { QRV_FAILPOINTS: 'mid-archive=kill' });
  t.not(killed.exitCode, 0, 'killed');
  const [row] = await generations(home);
  t.equal(row?.state, 'sending');
  const cron = await ok(t, home, ['cron']);
  t.match(cron.stdout, new RegExp(`archived web to vault as ${row!.id} \\(resumed j-`), 'the same generation, resumed');
  t.equal((await generations(home))[0]?.state, 'ready');
  const to = `${image}.back`;
  await ok(t, home, ['recover', 'web', '--from', row!.id, '--to', to]);
  t.equal(await sha256(to), await sha256(image));
});

t.test("a generation's files: ls, find and recover --path read it through the home's cache", async (t) => {
  const dir = await fs.realpath(await tmpDir(t));
  const home = path.join(dir, 'home');
  const image = await ext4Image(dir, 'web', 24, { 'data.bin': randomBytes(2 * MiB), 'etc/app.conf': 'v=1\n' });
  await ok(t, home, ['volume', 'add', 'web', '--path', image]);
  await ok(t, home, ['store', 'add', 'vault', '--dir', path.join(dir, 'vault')]);
  const snap = await qrvJson(home, ['snap', 'web']);
  const s1 = (snap.summary.snapshot as { id: string }).id;
  const sent = await qrvJson(home, ['archive', s1, '--to', 'vault']);
  const id = (sent.summary.archive as { id: string }).id;
  await ok(t, home, ['unsnap', s1]);

  const first = await ok(t, home, ['ls', `${id}:/etc`]);
  t.match(first.stdout, new RegExp(`^${id} \\(.*\\) of web: ext4, read by`, 'm'));
  t.match(first.stdout, /^app\.conf$/m, 'the file is listed');
  t.match(first.stdout, `fetching ${id} from vault into ${path.join(home, 'cache')}`, 'fetched the first time');
  const cached = await fs.stat(path.join(home, 'cache', `${id}.img`));
  t.equal(cached.mode & 0o777, 0o600, 'the cached image is private');
  t.ok(cached.blocks * 512 < 12 * MiB, `and sparse (${cached.blocks * 512} bytes on disk of 24 MiB)`);
  const again = await ok(t, home, ['find', id, '**/*.bin']);
  t.match(again.stdout, /^\/data\.bin$/m);
  t.notMatch(again.stdout, /fetching/, 'read from the cache the second time');
  const asOf = await ok(t, home, ['ls', '--volume', 'web', '--as-of', 'now', '/']);
  t.match(
    asOf.stdout,
    new RegExp(`^${id} .*chosen for`, 'm'),
    '--as-of chooses the generation when nothing local is left',
  );

  const out = path.join(dir, 'out');
  await ok(t, home, ['recover', 'web', '--from', id, '--path', '/etc/app.conf', '--to', out]);
  t.equal(await fs.readFile(path.join(out, 'etc', 'app.conf'), 'utf8'), 'v=1\n', 'a file restored from the generation');

  // a damaged cache mark is not trusted: the image is fetched again
  await fs.writeFile(path.join(home, 'cache', `${id}.json`), '{}');
  const refetched = await ok(t, home, ['ls', `${id}:/`]);
  t.match(refetched.stdout, /fetching/, 'fetched again');
  const s2 = ((await qrvJson(home, ['snap', 'web'])).summary.snapshot as { id: string }).id;
  await ok(t, home, ['archive', s2, '--to', 'vault']);
  await ok(t, home, ['prune', '--archive-keep', '1y']);
  t.same(
    (await fs.readdir(path.join(home, 'cache'))).filter((f) => f.startsWith(id)),
    [],
    'a generation prune removed leaves nothing in the cache',
  );
});
