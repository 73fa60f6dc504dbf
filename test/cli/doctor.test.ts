// `qrv doctor` through bin/qrv: snapshots a killed `run` leaked are finished (copied, removed),
// and `qrv check` warns until then; another home's snapshots of the same volume are left alone.
// (doctor-converges.test.ts: after random kills, one --fix leaves nothing open.)
import t, { type Test } from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { qrv, qrvJson } from '../helpers/cli.ts';
import { MiB, randomImage } from '../helpers/block-images.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { fileVolumeHome } from '../helpers/file-volume.ts';

async function setup(t: Test, size: number) {
  return fileVolumeHome(t, size, 'qrv-doctor-');
}

const readCatalog = async (home: string) =>
  JSON.parse(await fs.readFile(path.join(home, 'catalog.json'), 'utf8')) as Record<string, any>;
const kinds = (summary: Record<string, any>) => summary.findings.map((f: { kind: string }) => f.kind).sort();

t.test(
  'a run killed after its snapshot (by its pre-copy hook) leaks no snapshot: doctor finishes the copy and removes it',
  async (t) => {
    const { home, dest } = await setup(t, 3 * MiB + 17);
    const killed = await qrv(home, ['run', 'vol', '--to', dest, '--hook', 'pre-copy=kill -9 $PPID']);
    t.equal(killed.exitCode, -1, `killed by its hook (a signal: no exit status): ${killed.stderr}`);
    const left = (await readCatalog(home)).snapshots[0];
    t.match(left, { state: 'ready', persistUntil: null, copiedTo: null }, 'a ready snapshot with no expiry is left');

    const found = await qrvJson(home, ['doctor']);
    t.equal(found.run.exitCode, 11, 'doctor has findings');
    t.same(kinds(found.summary), ['dead-job', 'leaked-snapshot']);
    t.match(found.summary.findings[1], {
      subject: left.id,
      what: /was left by run job j-.*, which was killed before it copied and removed it/,
      action: `finish the copy to ${dest}, then remove it`,
    });
    const check = await qrv(home, ['check']);
    t.equal(check.exitCode, 1, `qrv check warns: ${check.stdout}`);
    t.match(
      check.stdout,
      /^QRV WARNING - 2 warnings: job j-\S+ \(run of vol\) is marked running but process \d+ is gone \(run `qrv doctor`\)/,
    );
    t.match(
      check.stdout,
      new RegExp(`^WARNING: snapshot ${left.id} of vol was left by run job .*\\(run \`qrv doctor\`\\)$`, 'm'),
    );

    const fixed = await qrvJson(home, ['doctor', '--fix']);
    t.equal(fixed.run.exitCode, 0, fixed.run.stderr);
    const after = await readCatalog(home);
    t.match(
      after.snapshots.find((s: { id: string }) => s.id === left.id),
      { state: 'removed', copiedTo: /^q-/ },
      'copied, then removed as its rules say',
    );
    await t.rejects(fs.stat(left.path), 'the snapshot file is gone');
    t.match(after.qrvs[0], { state: 'ready', snapshotId: left.id, destination: dest });
    t.equal((await qrv(home, ['doctor'])).exitCode, 0, 'nothing open');
    const checked = await qrv(home, ['check']);
    t.equal(checked.exitCode, 0, `check is OK again: the run was finished by a run job: ${checked.stdout}`);
  },
);

t.test('a run SIGKILLed before its copy commits: doctor resumes the copy and removes the snapshot', async (t) => {
  const { home, dest } = await setup(t, 5 * MiB + 3);
  // (mid-copy would fire in the snapshot's own sparse copy on ext4)
  const killed = await qrv(home, ['run', 'vol', '--to', dest], {
    QRV_FAILPOINTS: 'before-commit=kill',
    QRV_CHECKPOINT_MS: '0',
  });
  t.equal(killed.exitCode, -1, 'SIGKILLed');
  const found = await qrvJson(home, ['doctor']);
  t.same(kinds(found.summary), ['leaked-snapshot', 'resumable-copy']);
  const fixed = await qrv(home, ['doctor', '--fix']);
  t.equal(fixed.exitCode, 0, fixed.stdout + fixed.stderr);
  const after = await readCatalog(home);
  t.match(after.snapshots[0], { state: 'removed' });
  t.match(after.qrvs[0], { state: 'ready', snapshotId: after.snapshots[0].id });
  t.equal((await qrv(home, ['doctor'])).exitCode, 0, 'nothing open');
});

t.test("two homes protecting one image leave each other's snapshots alone", async (t) => {
  const { dir, home, image } = await setup(t, 2 * MiB);
  const other = path.join(dir, 'home2');
  t.equal((await qrv(other, ['volume', 'add', 'vol', '--provider', 'file', '--path', image])).exitCode, 0);
  const mine = (await qrvJson(home, ['snap', 'vol'])).summary.snapshot;
  const theirs = (await qrvJson(other, ['snap', 'vol'])).summary.snapshot;
  t.equal(path.dirname(mine.path), path.dirname(theirs.path), 'one snapshot store');
  for (const [h, foreign] of [
    [home, theirs],
    [other, mine],
  ] as const) {
    const looked = await qrvJson(h, ['doctor', '--fix']);
    t.equal(looked.run.exitCode, 0, 'no findings: the other home snapshot is not one');
    t.same(looked.summary.findings, []);
    t.match(looked.summary.foreign, [new RegExp(`${foreign.id}`)], 'reported as foreign');
    t.ok(await fs.stat(foreign.path), 'and left alone');
  }
  // What this home made and forgot (its row says removed) is still removed.
  await fs.copyFile(mine.path, `${mine.path}.keep`);
  t.equal((await qrv(home, ['unsnap', mine.id])).exitCode, 0);
  await fs.rename(`${mine.path}.keep`, mine.path);
  const fixed = await qrvJson(home, ['doctor', '--fix']);
  t.same(kinds(fixed.summary), ['orphan-snapshot']);
  await t.rejects(fs.stat(mine.path));
  t.ok(await fs.stat(theirs.path), "the other home's snapshot is still there");
});

t.test(
  'a partial ledger beside a ready QRV (an update killed before it recorded anything) is found and removed',
  async (t) => {
    const { home, dest } = await setup(t, 2 * MiB);
    t.equal((await qrv(home, ['run', 'vol', '--to', dest])).exitCode, 0);
    const made = (await readCatalog(home)).qrvs[0];
    const partial = `${made.ledger}.partial`;
    await fs.writeFile(partial, 'hashes of an update that never began');
    const found = await qrvJson(home, ['doctor']);
    t.equal(found.run.exitCode, 11, 'doctor has a finding');
    t.same(kinds(found.summary), ['stale-journal']);
    t.match(found.summary.findings[0].what, partial);
    const fixed = await qrvJson(home, ['doctor', '--fix']);
    t.equal(fixed.run.exitCode, 0, fixed.run.stderr);
    await t.rejects(fs.stat(partial), 'removed');
    await fs.stat(made.ledger);
    t.pass('the ledger itself is kept');
    t.equal((await qrv(home, ['doctor'])).exitCode, 0, 'nothing open');
  },
);
