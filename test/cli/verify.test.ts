// `qrv verify` as the admin reads it: the bad blocks listed up to a limit and the rest counted,
// where a --deep snapshot differs, the last line for a clean and a bad QRV, the warning when the
// snapshot is gone, what the summary holds, and the refusals of a QRV that is not ready or whose
// ledger is gone. Real bin/qrv on a sparse image file.
import t, { type Test } from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { qrv, qrvJson } from '../helpers/cli.ts';
import { sparseFile, tmpDir } from '../helpers/tmp.ts';

const BLOCK = 64 * 1024;
const BLOCKS = 1056; // 66 MiB: more than the 1000 bad blocks verify lists

async function catalogOf(home: string) {
  return JSON.parse(await fs.readFile(path.join(home, 'catalog.json'), 'utf8'));
}

/** Changes one byte in each of `blocks` of `file`. */
async function spoil(file: string, blocks: number[]): Promise<void> {
  const handle = await fs.open(file, 'r+');
  try {
    for (const block of blocks) await handle.write(Buffer.from([0x5a]), 0, 1, block * BLOCK + 7);
  } finally {
    await handle.close();
  }
}

const range = (block: number) => `block ${block} (bytes ${block * BLOCK}–${(block + 1) * BLOCK - 1})`;

async function setup(t: Test) {
  const dir = await fs.realpath(await tmpDir(t));
  const home = path.join(dir, 'home');
  const dest = path.join(dir, 'q.img');
  await sparseFile(path.join(dir, 'v.img'), BLOCKS * BLOCK);
  t.equal((await qrv(home, ['volume', 'add', 'v', '--path', path.join(dir, 'v.img')])).exitCode, 0);
  const made = await qrvJson(home, ['run', 'v', '--to', dest, '--keep-snapshot']);
  t.equal(made.run.exitCode, 0, made.run.stderr);
  const snapshot = made.summary.snapshot as { id: string; path: string };
  return { dir, home, dest, qrvId: made.summary.qrv.id as string, snapshot };
}

t.test('verify lists the first bad blocks and counts the rest; --deep names where the snapshot differs', async (t) => {
  const { home, dest, qrvId, snapshot } = await setup(t);
  const clean = await qrv(home, ['verify', '--deep', qrvId]);
  t.equal(clean.exitCode, 0, clean.stderr);
  t.equal(
    clean.stdout.trim().split('\n').at(-1),
    `QRV ${qrvId} is clean: 66.0 MiB in ${BLOCKS} blocks match its ledger and snapshot ${snapshot.id}`,
  );

  await spoil(
    dest,
    Array.from({ length: 1002 }, (_, i) => i),
  );
  await spoil(snapshot.path, [1050]);
  const bad = await qrv(home, ['verify', '--deep', qrvId]);
  t.equal(bad.exitCode, 9, 'exit 9: bad blocks');
  const lines = bad.stdout.split('\n').filter((line) => line !== '' && !line.startsWith('verify: '));
  t.equal(lines.length, 1003);
  t.same(lines.slice(0, 2), [`bad: ${range(0)} of ${dest}`, `bad: ${range(1)} of ${dest}`]);
  t.same(lines.slice(999), [
    `bad: ${range(999)} of ${dest}`,
    '… and 3 more bad blocks (only the first 1000 are listed)',
    `snapshot differs from the ledger: ${range(1050)} of snapshot ${snapshot.id}`,
    `QRV ${qrvId} has 1003 bad blocks of ${BLOCKS} against its ledger and snapshot ${snapshot.id}; its next update compares every block (or recover from another QRV)`,
  ]);
  t.match((await catalogOf(home)).qrvs[0].lastVerify, { ok: false, badBlocks: 1003, deep: true });

  const json = await qrvJson(home, ['verify', '--deep', qrvId]);
  t.equal(json.run.exitCode, 9);
  t.same(json.summary, {
    message_type: 'summary',
    qrv: qrvId,
    ok: false,
    deep: true,
    blockSize: BLOCK,
    badBlocks: Array.from({ length: 1000 }, (_, i) => i),
    badCount: 1003,
    snapshotDiffers: [1050],
    bytesChecked: BLOCKS * BLOCK,
  });
});

t.test('--deep of a QRV whose snapshot is gone checks the ledger only, and says so', async (t) => {
  const { home, dest, qrvId, snapshot } = await setup(t);
  t.equal((await qrv(home, ['unsnap', snapshot.id])).exitCode, 0);
  await spoil(dest, [5]);
  const removed = await qrv(home, ['verify', '--deep', qrvId]);
  t.equal(removed.exitCode, 9);
  t.equal(
    removed.stderr,
    `warning: snapshot ${snapshot.id}, which QRV ${qrvId} reflects, is removed: checked against the ledger only`,
  );
  t.same(
    removed.stdout.split('\n').filter((line) => line !== '' && !line.startsWith('verify: ')),
    [
      `bad: ${range(5)} of ${dest}`,
      `QRV ${qrvId} has 1 bad block of ${BLOCKS} against its ledger; its next update compares every block (or recover from another QRV)`,
    ],
  );
  t.match((await catalogOf(home)).qrvs[0].lastVerify, { ok: false, badBlocks: 1, deep: false });

  const data = await catalogOf(home);
  data.snapshots = [];
  await fs.writeFile(path.join(home, 'catalog.json'), JSON.stringify(data, null, 2));
  const gone = await qrvJson(home, ['verify', '--deep', qrvId]);
  t.equal(gone.run.exitCode, 9);
  t.match(gone.lines, [
    {
      message_type: 'warning',
      message: `snapshot ${snapshot.id}, which QRV ${qrvId} reflects, is not in the catalog: checked against the ledger only`,
    },
  ]);
  t.match(gone.summary, { ok: false, deep: false, badBlocks: [5], badCount: 1, snapshotDiffers: [] });
});

t.test('a QRV that is not ready, or whose ledger is gone, is refused with what to do', async (t) => {
  const { dir, home, dest, qrvId } = await setup(t);
  const catalog = path.join(home, 'catalog.json');
  const ready = await fs.readFile(catalog, 'utf8');
  const notReady = `only a ready QRV has content to verify`;
  for (const [state, hint] of [
    ['removed', 'nothing to do'],
    ['failed', 'finish or redo its copy first (`qrv doctor` lists unfinished copies)'],
    ['copying', 'finish or redo its copy first (`qrv doctor` lists unfinished copies)'],
  ] as const) {
    const data = JSON.parse(ready);
    data.qrvs[0].state = state;
    await fs.writeFile(catalog, JSON.stringify(data, null, 2));
    const run = await qrv(home, ['verify', qrvId]);
    t.equal(run.exitCode, 4, `${state}: refused`);
    t.equal(run.stderr, `qrv: QRV ${qrvId} is ${state}; ${notReady} (${hint})`);
  }
  await fs.writeFile(catalog, ready);

  await fs.rename(`${dest}.qrvledger`, path.join(dir, 'elsewhere'));
  const run = await qrv(home, ['verify', qrvId]);
  t.equal(run.exitCode, 9);
  t.equal(
    run.stderr,
    `qrv: QRV ${qrvId} cannot be verified: ${dest}.qrvledger does not exist (update the QRV with \`qrv copy SNAPSHOT --to ${dest}\` (it compares every block and writes a new ledger))`,
  );
  t.equal((await catalogOf(home)).qrvs[0].lastVerify, null, 'nothing recorded');
});
