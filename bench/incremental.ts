// Incremental-copy benchmark: after 1 % of a volume's 64 KiB blocks changed, how long does
// bringing a QRV from snapshot A to snapshot B take with provider ranges and with the hash
// ledger, against a full copy of B and one plain sequential read of B?
//
// The volume lives on a real XFS (reflink) filesystem on a loop device, so snapshots are FICLONE
// clones as the file provider makes them; the QRVs live on the host filesystem (bench/work).
// Every measured run is a separate process, preceded by `sync` and (as root) a page-cache drop;
// the incremental contenders first get the A-state QRV and its ledger restored from a pristine
// copy (plain cp, untimed). Contenders rotate their order every round; every QRV a run leaves is
// checked against B (checksum of the image and of the new ledger) and the bench fails otherwise.
// Medians go to docs/PERFORMANCE.md between the bench:incremental markers.
//
//   node --import tsx bench/incremental.ts          (root: loop devices, mount, drop_caches)
//   env: BENCH_RUNS (default 5, ≥ 3), BENCH_SIZE_MIB (default 2048), BENCH_CHANGE_PERCENT (default 1),
//        BENCH_KEEP=1 (keep the images, unmounted), BENCH_NO_DOCS=1 (print only)
import { constants, copyFileSync, chmodSync, mkdirSync } from 'node:fs';
import { rm, rmdir, stat } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { checksumImage, DEFAULT_BLOCK_SIZE } from '../src/copy/block-copy.ts';
import { LedgerReader, ledgerChecksum } from '../src/ledger/ledger.ts';
import type { OnceResult } from './incremental-once.ts';
import { benchPaths, wholeNumberEnv } from './lib/env.ts';
import { bundleChild } from './lib/bundle.ts';
import { incrementalReport, type Measured } from './lib/incremental-report.ts';
import { mountLoopXfs, type LoopXfs } from './lib/loop-xfs.ts';
import { describeMachine } from './lib/machine.ts';
import { PageCache } from './lib/page-cache.ts';
import { writeSection } from './lib/report-section.ts';
import { lastJson, spawnTimed } from './lib/spawn.ts';
import { changeBlocks, makeFullVolume } from './lib/volumes.ts';

const MiB = 1024 * 1024;
const { here, root, work } = benchPaths();
const runs = wholeNumberEnv('BENCH_RUNS', 5, 3);
const sizeMiB = wholeNumberEnv('BENCH_SIZE_MIB', 2048, 1);
const changePercent = Number(process.env.BENCH_CHANGE_PERCENT ?? 1);
const sizeBytes = sizeMiB * MiB;
if (!(changePercent > 0 && changePercent <= 100)) throw new Error('BENCH_CHANGE_PERCENT must be in (0, 100]');
if (process.getuid?.() !== 0)
  throw new Error('bench/incremental.ts needs root: it makes an XFS loop filesystem and drops the page cache');

const bundle = join(work, 'incremental-once.mjs');
const fsImage = join(work, 'incremental-xfs.img');
const mountpoint = join(work, 'incremental-xfs.mnt');
const qrv = join(work, 'inc-qrv.img');
const pristine = join(work, 'inc-qrv-a.img');
const fresh = join(work, 'inc-full.img');
const ledgerOf = (image: string): string => `${image}.qrvledger`;
const cache = new PageCache();
// Ctrl-C stops at the next step and still unmounts and detaches (the finally in main).
let interrupted = false;
process.on('SIGINT', () => {
  interrupted = true;
});
const stopIfInterrupted = (): void => {
  if (interrupted) throw new Error('interrupted');
};

type Kind = 'full' | 'provider' | 'ledger' | 'read' | 'startup';
interface Contender {
  name: string;
  kind: Kind;
  command(snapA: string, snapB: string): [string, string[]];
}

const child = (...args: string[]): [string, string[]] => [process.execPath, [bundle, ...args]];
const contenders: Contender[] = [
  {
    name: 'full copy of B (fresh QRV + ledger)',
    kind: 'full',
    command: (_a, b) => child('full', b, fresh, String(sizeBytes)),
  },
  {
    name: 'provider incremental A→B',
    kind: 'provider',
    command: (a, b) => child('provider', a, b, qrv, String(sizeBytes)),
  },
  { name: 'ledger incremental A→B', kind: 'ledger', command: (_a, b) => child('ledger', b, qrv, String(sizeBytes)) },
  {
    name: 'dd if=B of=/dev/null bs=1M',
    kind: 'read',
    command: (_a, b) => ['dd', [`if=${b}`, 'of=/dev/null', 'bs=1M', 'status=none']],
  },
  { name: 'cat B > /dev/null', kind: 'read', command: (_a, b) => ['sh', ['-c', 'cat "$1" > /dev/null', 'sh', b]] },
  { name: 'node start-up (bundle, no work)', kind: 'startup', command: () => child('idle') },
];

function cpFile(from: string, to: string): void {
  const run = spawnTimed('cp', [from, to]);
  if (!run.ok) throw new Error(`restoring ${to}: ${run.detail}`);
}

/** The destination as each contender must find it, then a cold cache. Untimed. */
async function prepare(kind: Kind): Promise<void> {
  if (kind === 'provider' || kind === 'ledger') {
    await rm(`${ledgerOf(qrv)}.partial`, { force: true });
    cpFile(pristine, qrv);
    cpFile(ledgerOf(pristine), ledgerOf(qrv));
  }
  if (kind === 'full') {
    for (const file of [fresh, ledgerOf(fresh), `${ledgerOf(fresh)}.partial`]) await rm(file, { force: true });
  }
  cache.flushAndDrop();
}

/** Fails loudly unless `image` and its ledger hold exactly the snapshot whose checksum is `expected`. */
async function checkQrv(
  label: string,
  image: string,
  result: OnceResult,
  expected: string,
  snapshotId: string,
): Promise<void> {
  if (result.checksum !== expected)
    throw new Error(`${label}: the copy computed ${result.checksum}, the snapshot is ${expected}`);
  const size = (await stat(image)).size;
  if (size !== sizeBytes) throw new Error(`${label}: ${image} has ${size} bytes, expected ${sizeBytes}`);
  const got = await checksumImage(image, sizeBytes);
  if (got !== expected)
    throw new Error(`${label}: ${image} holds ${got}, the snapshot is ${expected} — the copy produced wrong data`);
  const ledger = await LedgerReader.open(ledgerOf(image), { snapshotId, sizeBytes, blockSize: DEFAULT_BLOCK_SIZE });
  const recorded = ledgerChecksum(ledger.header.bodyChecksum);
  await ledger.close();
  if (recorded !== expected)
    throw new Error(`${label}: the new ledger records ${recorded}, the snapshot is ${expected}`);
}

function clone(from: string, to: string): void {
  copyFileSync(from, to, constants.COPYFILE_FICLONE_FORCE);
  chmodSync(to, 0o444);
}

async function measure(snapA: string, snapB: string, expectedB: string, changed: number): Promise<Measured[]> {
  const measured: Measured[] = contenders.map((c) => ({ name: c.name, kind: c.kind, wall: [], results: [] }));
  for (let round = 0; round < runs; round++) {
    for (let i = 0; i < contenders.length; i++) {
      const index = (i + round) % contenders.length;
      const contender = contenders[index] as Contender;
      const slot = measured[index] as Measured;
      await prepare(contender.kind);
      stopIfInterrupted();
      const [command, args] = contender.command(snapA, snapB);
      const run = spawnTimed(command, args);
      if (!run.ok) throw new Error(`${contender.name} failed: ${run.detail}`);
      slot.wall.push(run.seconds);
      let note = '';
      if (contender.kind === 'full' || contender.kind === 'provider' || contender.kind === 'ledger') {
        const result = lastJson<OnceResult>(run.stdout);
        slot.results.push(result);
        await checkQrv(contender.name, contender.kind === 'full' ? fresh : qrv, result, expectedB, 'B');
        if (contender.kind !== 'full' && result.changedBlocks !== changed) {
          throw new Error(`${contender.name} wrote ${result.changedBlocks} blocks; ${changed} changed`);
        }
        note = `(operation ${result.seconds.toFixed(3)} s, read ${((result.bytesRead ?? 0) / MiB).toFixed(1)} MiB, wrote ${result.changedBlocks} blocks; checked)`;
      }
      console.log(`round ${round + 1}/${runs}  ${contender.name.padEnd(36)} ${run.seconds.toFixed(3)} s ${note}`);
    }
  }
  return measured;
}

async function main(): Promise<void> {
  mkdirSync(work, { recursive: true });
  let loop: LoopXfs | null = null;
  try {
    console.log(`bundling bench/incremental-once.ts → ${bundle}`);
    await bundleChild(join(here, 'incremental-once.ts'), bundle);
    loop = mountLoopXfs(fsImage, mountpoint, 2 * sizeBytes + 512 * MiB);
    console.log(`XFS (reflink) on ${loop.device} at ${mountpoint}, loop direct I/O ${loop.directIo ? 'on' : 'off'}`);
    const volume = join(mountpoint, 'vol.img');
    const store = join(mountpoint, '.qrv-snapshots');
    mkdirSync(store);
    const snapA = join(store, 'vol@A.img');
    const snapB = join(store, 'vol@B.img');

    console.log(`writing a ${sizeMiB} MiB volume of random data; snapshot A; full copy A → ${qrv} (setup)`);
    await makeFullVolume(volume, sizeBytes);
    clone(volume, snapA);
    stopIfInterrupted();
    cache.flushAndDrop();
    const setup = spawnTimed(...child('full', snapA, qrv, String(sizeBytes), 'A'));
    if (!setup.ok) throw new Error(`setup copy failed: ${setup.detail}`);
    const expectedA = await checksumImage(snapA, sizeBytes);
    await checkQrv('setup copy of A', qrv, lastJson<OnceResult>(setup.stdout), expectedA, 'A');
    cpFile(qrv, pristine);
    cpFile(ledgerOf(qrv), ledgerOf(pristine));

    stopIfInterrupted();
    const changed = await changeBlocks(volume, sizeBytes, DEFAULT_BLOCK_SIZE, changePercent / 100);
    cache.flushAndDrop();
    clone(volume, snapB);
    const expectedB = await checksumImage(snapB, sizeBytes);
    if (expectedB === expectedA) throw new Error('snapshot B equals A: the change did not happen');
    console.log(
      `changed ${changed.length} of ${Math.ceil(sizeBytes / DEFAULT_BLOCK_SIZE)} blocks; snapshot B; setup copy took ${setup.seconds.toFixed(2)} s`,
    );

    const machine = describeMachine(work);
    const measured = await measure(snapA, snapB, expectedB, changed.length);
    const body = incrementalReport({
      machine,
      loadAtEnd: (loadavg()[0] ?? 0).toFixed(2),
      runs,
      sizeMiB,
      changePercent,
      changedBlocks: changed.length,
      blockCount: Math.ceil(sizeBytes / DEFAULT_BLOCK_SIZE),
      cachesDropped: cache.dropped,
      loopDirectIo: loop.directIo,
      measured,
    });
    console.log(`\n${body}`);
    if (process.env.BENCH_NO_DOCS !== '1') {
      await writeSection(join(root, 'docs', 'PERFORMANCE.md'), 'incremental', body);
      console.log('wrote docs/PERFORMANCE.md (section bench:incremental)');
    }
  } finally {
    loop?.release();
    if (process.env.BENCH_KEEP !== '1') {
      for (const file of [fsImage, qrv, pristine, fresh, bundle]) {
        for (const path of [file, ledgerOf(file), `${ledgerOf(file)}.partial`]) await rm(path, { force: true });
      }
      await rmdir(mountpoint).catch(() => undefined); // empty once unmounted; never recursive
    }
  }
}

await main();
