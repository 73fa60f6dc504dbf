// `qrv demo`: the whole cycle on the embedded default, as a first thing to try and as proof that
// it works: make a small ext4 image with files (no root needed), snapshot and copy it, change
// files, snapshot and copy again into the same QRV, then recover the first point in time and
// check, byte for byte and file by file, that it came back. Exits 0 only if everything matches.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Catalog } from '../catalog/store.ts';
import { checksumImage } from '../copy/block-copy.ts';
import { QrvError } from '../core/errors.ts';
import type { Reporter } from '../core/events.ts';
import type { Context } from '../engine/context.ts';
import { DEFAULT_HOOK_TIMEOUT_MS } from '../policy/hooks.ts';
import type { Summary } from '../output/printer.ts';
import {
  fsckClean,
  makeExt4FromFolder,
  readFileFromImage,
  removeFileFromImage,
  writeFileIntoImage,
} from '../system/e2fs.ts';
import { copy } from './copy.ts';
import { recover } from './recover.ts';
import { run } from './run.ts';
import { snap } from './snap.ts';
import { addVolume } from './volumes.ts';

const VOLUME = 'demo';
const IMAGE_MIB = 64;

function check(ok: boolean, what: string): void {
  if (!ok)
    throw new QrvError(
      'verify',
      'demo-mismatch',
      `demo failed: ${what}`,
      'this is a bug in qrv; run `qrv demo --keep --debug` and report the output',
    );
}

async function makeVolume(dir: string): Promise<{ image: string; hello: string }> {
  const tree = path.join(dir, 'tree');
  await fs.mkdir(path.join(tree, 'etc'), { recursive: true });
  await fs.mkdir(path.join(tree, 'data'), { recursive: true });
  const hello = `hello from qrv, made ${new Date().toISOString()}\n`;
  await fs.writeFile(path.join(tree, 'hello.txt'), hello);
  await fs.writeFile(path.join(tree, 'etc', 'app.conf'), 'retention = 7d\nreplicas = 1\n');
  await fs.writeFile(path.join(tree, 'data', 'blob.bin'), randomBytes(4 * 1024 * 1024));
  const image = path.join(dir, 'volume.img');
  await makeExt4FromFolder(image, tree, IMAGE_MIB, 'qrv-demo');
  return { image, hello };
}

/** What every step works on: the demo's context, its folder, the volume's image and the voice. */
interface DemoRun {
  ctx: Context;
  dir: string;
  image: string;
  say: (text: string) => void;
}

interface FirstCopy {
  snapshotId: string;
  qrv: { id: string; destination: string; checksum: string };
}

/** The demo passes no hooks. */
const NO_HOOKS = { hooks: {}, hookTimeoutMs: DEFAULT_HOOK_TIMEOUT_MS };

/** Steps 2 and 3: snapshot and copy the volume with `qrv run`, and check the QRV with e2fsck. */
async function copyFirst({ ctx, dir, say }: DemoRun): Promise<FirstCopy> {
  const qrvDir = path.join(dir, 'qrvs');
  await fs.mkdir(qrvDir);
  const first = await run(ctx, {
    target: VOLUME,
    to: qrvDir,
    label: 'before-change',
    keepSnapshot: true,
    force: false,
    ...NO_HOOKS,
  });
  const snap1 = first.data.snapshot as { id: string };
  const qrv = first.data.qrv as FirstCopy['qrv'];
  say(`2. qrv run: snapshot ${snap1.id} and QRV ${qrv.id} (${qrv.checksum})`);
  const fsck = await fsckClean(qrv.destination);
  check(fsck.clean, `e2fsck -fn found the QRV unclean:\n${fsck.output}`);
  say('3. e2fsck -fn: the QRV is a clean ext4 filesystem');
  return { snapshotId: snap1.id, qrv };
}

/** Step 4: remove one file and rewrite another in the volume. */
async function changeVolume({ dir, image, say }: DemoRun): Promise<void> {
  const changed = path.join(dir, 'changed.txt');
  await fs.writeFile(changed, 'this file was written after the first snapshot\n');
  await removeFileFromImage(image, '/hello.txt');
  await writeFileIntoImage(image, changed, '/etc/app.conf');
  say('4. changed the volume: removed /hello.txt, rewrote /etc/app.conf');
}

/** Step 5: snapshot again and copy into the same QRV, writing only the changed blocks; returns the snapshot's id. */
async function copyChanges({ ctx, say }: DemoRun, { qrv }: FirstCopy): Promise<string> {
  const second = await snap(ctx, { volumes: [VOLUME], persistMs: null, label: 'after-change', ...NO_HOOKS });
  const snap2 = second.data.snapshot as { id: string };
  const updated = await copy(ctx, { snapshotId: snap2.id, to: qrv.destination, force: false, ...NO_HOOKS });
  const qrv2 = updated.data.qrv as { id: string; checksum: string };
  const delta = updated.data.copy as { method: string; changedBlocks: number; bytesWritten: number };
  check(
    qrv2.id === qrv.id && qrv2.checksum !== qrv.checksum,
    'the second copy should update the same QRV with new contents',
  );
  check(
    delta.method !== 'full' && delta.bytesWritten < (IMAGE_MIB * 1024 * 1024) / 4,
    `the second copy should write only the changed blocks (it was ${delta.method}, ${delta.bytesWritten} bytes)`,
  );
  say(
    `5. snapshot ${snap2.id} copied into the same QRV ${qrv2.id} incrementally (method ${delta.method}): ${delta.changedBlocks} changed blocks written (${qrv2.checksum})`,
  );
  return snap2.id;
}

/** Step 6: recover the first snapshot into the volume and check it is the first copy again; returns its checksum. */
async function recoverFirst({ ctx, image, say }: DemoRun, first: FirstCopy, hello: string): Promise<string> {
  await recover(ctx, { volume: VOLUME, from: first.snapshotId, force: true });
  const recovered = await checksumImage(image, (await fs.stat(image)).size);
  check(
    recovered === first.qrv.checksum,
    `the recovered volume (${recovered}) should equal the first copy (${first.qrv.checksum})`,
  );
  const back = await readFileFromImage(image, '/hello.txt');
  check(back === hello, '/hello.txt should be back with its first contents');
  say(`6. recovered the volume from ${first.snapshotId}: checksum ${recovered} matches, /hello.txt is back`);
  return recovered;
}

export async function demo(reporter: Reporter, options: { keep: boolean }): Promise<Summary> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'qrv-demo-'));
  const say = (text: string) => reporter.info(text);
  try {
    const ctx: Context = { catalog: await Catalog.open(path.join(dir, 'home')), reporter, now: () => new Date() };
    say(`demo home: ${dir}`);

    const { image, hello } = await makeVolume(dir);
    say(`1. made a ${IMAGE_MIB} MiB ext4 image with files (mkfs.ext4 -d, no root): ${image}`);
    await addVolume(ctx, { name: VOLUME, provider: 'file', path: image });
    const steps: DemoRun = { ctx, dir, image, say };
    const first = await copyFirst(steps);
    await changeVolume(steps);
    const secondId = await copyChanges(steps, first);
    const recovered = await recoverFirst(steps, first, hello);

    return {
      data: {
        ok: true,
        home: options.keep ? dir : null,
        snapshots: [first.snapshotId, secondId],
        qrv: first.qrv.id,
        checksum: recovered,
      },
      lines: [
        `demo passed: the volume was recovered to its first point in time, byte for byte${options.keep ? ` (kept in ${dir})` : ''}`,
      ],
    };
  } finally {
    if (!options.keep) await fs.rm(dir, { recursive: true, force: true });
  }
}
