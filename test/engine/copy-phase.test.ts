// The copy phase in-process with the file provider on real images: a new QRV (the volume byte
// for byte, recorded ready with its checksum), an update of that QRV with the changed blocks only
// (through its ledger), a full rewrite when incremental is off, and a pre-copy hook that fails
// (the job aborted before anything is written: no QRV, no destination). The CLI tests run the
// same phase through bin/qrv; the VM lane with lvm and dm.
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import t, { type Test } from 'tap';
import { Catalog } from '../../src/catalog/store.ts';
import type { Snapshot, Volume } from '../../src/catalog/schema.ts';
import { Reporter } from '../../src/core/events.ts';
import type { Context } from '../../src/engine/context.ts';
import { copyPhase } from '../../src/engine/copy-phase.ts';
import { withJob } from '../../src/engine/job-recorder.ts';
import { snapshotPhase } from '../../src/engine/snapshot-phase.ts';
import { addVolume } from '../../src/services/volumes.ts';
import { randomImage } from '../helpers/block-images.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { writeAt } from '../helpers/images.ts';

const SIZE = 4 * 1024 * 1024;

async function setup(t: Test) {
  const dir = await tmpDir(t);
  const catalog = await Catalog.open(path.join(dir, 'home'));
  const ctx: Context = { catalog, reporter: new Reporter(), now: () => new Date() };
  const image = path.join(dir, 'vol.img');
  await randomImage(image, SIZE);
  await addVolume(ctx, { name: 'v', provider: 'file', path: image });
  const volume = (await catalog.read()).volumes[0] as Volume;
  const snap = async (): Promise<Snapshot> =>
    (
      await withJob(ctx, 'snap', 'v', (job) =>
        snapshotPhase(ctx, job, volume, { persistMs: null, label: null, hooks: {}, hookTimeoutMs: 10_000 }),
      )
    ).result;
  const dest = path.join(dir, 'v.qrv.img');
  const copy = (snapshot: Snapshot, over: { incremental?: boolean; hooks?: Record<string, string> } = {}) =>
    withJob(ctx, 'copy', 'v', (job) =>
      copyPhase(ctx, job, volume, snapshot, {
        to: dest,
        force: false,
        hooks: over.hooks ?? {},
        hookTimeoutMs: 10_000,
        incremental: over.incremental ?? true,
      }),
    );
  return { dir, catalog, image, dest, snap, copy };
}

t.test('a new QRV, then an update with the changed blocks only, then a full rewrite', async (t) => {
  const { catalog, image, dest, snap, copy } = await setup(t);
  const first = await snap();
  const { result: made, job } = await copy(first);
  t.match(made.qrv, { state: 'ready', volume: 'v', snapshotId: first.id, checksum: made.copy.checksum });
  t.equal(made.previousSnapshotId, null, 'a new QRV');
  t.ok((await readFile(dest)).equals(await readFile(first.path)), 'the QRV is the snapshot, byte for byte');
  t.ok(
    job.steps.some((s) => s.name === 'check destination' && /new QRV/.test(s.detail ?? '')),
    'the destination step says it is new',
  );

  await writeAt(image, 1024 * 1024, Buffer.alloc(4096, 0x42));
  const second = await snap();
  const { result: updated } = await copy(second);
  t.equal(updated.qrv.id, made.qrv.id, 'the same QRV');
  t.equal(updated.previousSnapshotId, first.id);
  t.ok(updated.copy.bytesWritten < SIZE / 4, `only the changed blocks: ${updated.copy.bytesWritten} bytes written`);
  t.ok(updated.copy.changedBlocks >= 1);
  t.ok((await readFile(dest)).equals(await readFile(second.path)), 'and the QRV is the new snapshot');

  const { result: full } = await copy(second, { incremental: false });
  t.equal(full.qrv.id, made.qrv.id);
  t.equal(full.copy.checksum, updated.copy.checksum, 'the same data, the same checksum');
  const rows = (await catalog.read()).qrvs;
  t.equal(rows.length, 1, 'one QRV row throughout');
  t.match(rows[0], { state: 'ready', snapshotId: second.id });
});

t.test('a pre-copy hook that fails: aborted before anything is written, the catalog as it was', async (t) => {
  const { catalog, dest, snap, copy } = await setup(t);
  const snapshot = await snap();
  const catalogFile = path.join(catalog.home, 'catalog.json');
  const before = await readFile(catalogFile, 'utf8');
  const error = await copy(snapshot, { hooks: { 'pre-copy': 'exit 3' } }).catch((e: unknown) => e);
  t.match(error, { exit: 'hook', code: 'hook-failed' });
  t.equal(await readFile(catalogFile, 'utf8'), before, 'the catalog byte for byte (no QRV, no job row)');
  t.equal(await stat(dest).catch(() => null), null, 'no destination file');
});
