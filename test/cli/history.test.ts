// History at the command line: a version 4 catalog of 10,000+ rows (made from a real one qrv
// wrote) is upgraded by its first write with nothing lost — its finished rows move to the history
// store, and show, list --all and qrv history still find every one of them; a kill between the
// append to history and the catalog write leaves each id seen once.
import fs from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { qrv, qrvJson } from '../helpers/cli.ts';
import { inflate, seedCatalog } from '../helpers/big-catalog.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { SCHEMA_VERSION } from '../../src/catalog/schema.ts';

const COUNT = 10_000;
// 10,000 rows through a dozen whole qrv processes: more than the default 300 s on a busy machine
t.setTimeout(900_000);

t.test(
  'a v4 catalog with 10,000 finished jobs and 10,000 removed snapshots is upgraded by its first write, nothing lost',
  async (t) => {
    const dir = await tmpDir(t);
    const { catalog: seed } = await seedCatalog(dir);
    const home = path.join(dir, 'home');
    await fs.mkdir(home, { mode: 0o700 });
    const now = new Date();
    const v4 = inflate(seed, { count: COUNT, live: 50, now, stepMinutes: 45, version: 4 });
    const file = path.join(home, 'catalog.json');
    await fs.writeFile(file, JSON.stringify(v4, null, 2), { mode: 0o600 });
    const before = (await fs.stat(file)).size;
    const ids = new Set<string>([...v4.jobs.map((j: any) => j.id), ...v4.snapshots.map((s: any) => s.id)]);

    // reading does not upgrade
    const old = await qrvJson(home, ['show', 'j-10000000']);
    t.equal(old.run.exitCode, 0, old.run.stderr);
    t.equal(JSON.parse(await fs.readFile(file, 'utf8')).schemaVersion, 4, 'a read leaves the file as it was');

    const live = v4.snapshots.find((s: any) => s.state === 'ready').id;
    const set = await qrv(home, ['set', live, '--label', 'upgraded']);
    t.equal(set.exitCode, 0, set.stderr);
    const after = JSON.parse(await fs.readFile(file, 'utf8'));
    t.equal(after.schemaVersion, SCHEMA_VERSION, 'the first write upgrades it');
    t.ok(after.jobs.length < 10, `the catalog keeps a few jobs (${after.jobs.length})`);
    t.ok(after.snapshots.filter((s: any) => s.state === 'removed').length <= 2, 'and few removed snapshots');
    t.equal(
      after.snapshots.filter((s: any) => s.state === 'ready').length,
      v4.snapshots.filter((s: any) => s.state === 'ready').length,
      'every live snapshot stays',
    );
    t.ok((await fs.stat(file)).size < before / 10, 'the file is a fraction of its size');

    // every old id answers, from wherever it is now
    for (const id of [
      'j-10000000',
      'j-10001234',
      `j-${(0x10000000 + COUNT - 1).toString(16)}`,
      's-10000000',
      `s-${(0x10000000 + COUNT - 1).toString(16)}`,
    ]) {
      const shown = await qrvJson(home, ['show', id]);
      t.equal(shown.run.exitCode, 0, `${id}: ${shown.run.stderr}`);
      t.equal((shown.summary.job ?? shown.summary.snapshot).id, id);
    }
    const listed = await qrvJson(home, ['list', '--all']);
    const listedIds = new Set(listed.summary.snapshots.map((s: any) => s.id));
    t.equal(listedIds.size, listed.summary.snapshots.length, 'list --all: each snapshot once');
    t.ok(
      v4.snapshots.every((s: any) => listedIds.has(s.id)),
      'list --all has every snapshot the old catalog had',
    );
    const jobs = await qrvJson(home, ['history', '--kind', 'job', '--limit', String(COUNT * 2)]);
    const jobIds = jobs.summary.records.map((r: any) => r.id);
    t.equal(new Set(jobIds).size, jobIds.length, 'history: each job once');
    t.ok(
      v4.jobs.filter((j: any) => j.state !== 'running').every((j: any) => jobIds.includes(j.id)),
      'history has every finished job',
    );
    const snaps = await qrvJson(home, ['history', '--kind', 'snap', '--limit', '5']);
    t.ok(
      snaps.summary.records.length > 0 &&
        snaps.summary.records.every((r: any) => r.kind === 'job' && r.row.kind === 'snap'),
      'a job kind: only jobs of that kind',
    );
    t.match(await qrv(home, ['history', '--kind', 'nope']), { exitCode: 2, stderr: /--kind "nope" is not a kind/ });
    t.match(await qrv(home, ['history', '--limit', '0']), { exitCode: 2, stderr: /--limit 0 is not a positive/ });
    const seen = new Set([
      ...after.jobs.map((j: any) => j.id),
      ...after.snapshots.map((s: any) => s.id),
      ...jobIds,
      ...listedIds,
    ]);
    t.ok(
      [...ids].every((id) => seen.has(id)),
      'nothing lost',
    );

    // --since reads only what is recent
    const recent = await qrvJson(home, ['history', '--since', '1d', '--kind', 'snapshot']);
    t.ok(
      recent.summary.records.length > 20 && recent.summary.records.length <= 34,
      `a day of removals (${recent.summary.records.length})`,
    );
    t.ok(recent.summary.records.every((r: any) => Date.parse(r.at) >= now.getTime() - 86_400_000 - 60_000));
  },
);

t.test('a kill after the append to history and before the catalog write leaves each id seen once', async (t) => {
  const dir = await tmpDir(t);
  const { catalog: seed } = await seedCatalog(dir);
  const home = path.join(dir, 'home');
  await fs.mkdir(home, { mode: 0o700 });
  const v4 = inflate(seed, { count: 200, live: 5, now: new Date(), version: 4 });
  await fs.writeFile(path.join(home, 'catalog.json'), JSON.stringify(v4), { mode: 0o600 });
  const live = v4.snapshots.find((s: any) => s.state === 'ready').id;
  const killed = await qrv(home, ['set', live, '--label', 'x'], { QRV_FAILPOINTS: 'after-history-append=kill' });
  t.not(killed.exitCode, 0, 'killed');
  t.equal(
    JSON.parse(await fs.readFile(path.join(home, 'catalog.json'), 'utf8')).schemaVersion,
    4,
    'the catalog was not written',
  );
  t.ok((await fs.readdir(path.join(home, 'history'))).length > 0, 'the history was');
  const check = async (what: string) => {
    const jobs = await qrvJson(home, ['history', '--kind', 'job', '--limit', '1000']);
    const ids = jobs.summary.records.map((r: any) => r.id);
    t.equal(new Set(ids).size, ids.length, `${what}: each job once in qrv history`);
    t.equal(ids.length, v4.jobs.filter((j: any) => j.state !== 'running').length, `${what}: every finished job`);
    const listed = (await qrvJson(home, ['list', '--all'])).summary.snapshots.map((s: any) => s.id);
    t.equal(new Set(listed).size, listed.length, `${what}: each snapshot once in list --all`);
    t.equal(listed.length, v4.snapshots.length, `${what}: every snapshot`);
  };
  await check('rows in both places');
  const again = await qrv(home, ['set', live, '--label', 'y']);
  t.equal(again.exitCode, 0, again.stderr);
  await check('moved again after the retry');
});
