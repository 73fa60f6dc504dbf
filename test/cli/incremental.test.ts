// End to end through bin/qrv: incremental QRV updates (hash ledger, provider ranges on XFS,
// full compare), `qrv verify`, resuming SIGKILLed copies, and `qrv doctor`, on real image files.
// Positions and kill delays come from a seeded generator: QRV_SEED=<n> replays a run.
import t, { type Test } from 'tap';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { BIN, qrv, qrvJson } from '../helpers/cli.ts';
import { BLOCK, MiB, bytesOf, change, differingBlocks, grow, holds, randomImage } from '../helpers/block-images.ts';
import { jobRow } from '../helpers/check-rows.ts';
import { lane } from '../helpers/lanes.ts';
import { mountLoopFs } from '../helpers/loop-fs.ts';
import { tmpDir } from '../helpers/tmp.ts';

const seed = Number(process.env.QRV_SEED ?? Date.now() % 1_000_000);
t.comment(`seed ${seed} (QRV_SEED=${seed} replays it)`);
let state = seed;
/** A whole number in [0, n), from the seeded generator. */
function next(n: number): number {
  state = (Math.imul(state, 1103515245) + 12345) >>> 0;
  return Math.floor((state / 4294967296) * n);
}

/** The single-byte, straddling, last-partial-block and growth changes of the incremental tests. */
async function mutate(t: Test, file: string, content: Buffer): Promise<Buffer> {
  const size = content.length;
  await change(file, content, next(size), 1);
  const boundary = (1 + next(Math.floor(size / BLOCK) - 1)) * BLOCK;
  await change(file, content, boundary - 8, 16); // straddles a 64 KiB boundary
  const lastStart = Math.floor(size / BLOCK) * BLOCK;
  t.ok(lastStart < size, 'the image ends in a partial block');
  await change(file, content, lastStart + next(size - lastStart), 1);
  return grow(file, content, 70_000 + next(1000));
}

/** The catalog, with each running job's steps as its step journal has them (docs/catalog.md, "Step journal"). */
async function readCatalog(home: string): Promise<Record<string, any>> {
  const file = path.join(home, 'catalog.json');
  for (let tries = 0; ; tries++) {
    try {
      const data = JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, any>;
      for (const job of data.jobs) {
        if (job.state !== 'running') continue;
        const lines = (await fs.readFile(path.join(home, 'jobs', `${job.id}.steps`), 'utf8').catch(() => ''))
          .split('\n')
          .slice(0, -1);
        const steps = lines.length ? JSON.parse(lines.at(-1) as string) : null;
        if (steps && steps.length >= job.steps.length) job.steps = steps;
      }
      return data;
    } catch (error) {
      if (tries > 200) throw error;
      await sleep(5); // not yet written
    }
  }
}

/** The warnings of a --json run (plain output prints them on stderr). */
const warningsOf = (lines: Record<string, any>[]): string =>
  lines
    .filter((l) => l.message_type === 'warning')
    .map((l) => l.message as string)
    .join('\n');

/** A volume "vol" of `size` random bytes at `dir/vol.img` (or `volumeDir`), in a new home. */
async function setup(t: Test, size: number, volumeDir?: string) {
  const dir = await tmpDir(t, 'qrv-incr-');
  const home = path.join(dir, 'home');
  const image = path.join(volumeDir ?? dir, 'vol.img');
  const content = await randomImage(image, size);
  const added = await qrv(home, ['volume', 'add', 'vol', '--provider', 'file', '--path', image]);
  t.equal(added.exitCode, 0, added.stderr);
  return { dir, home, image, content };
}

async function snap(t: Test, home: string): Promise<Record<string, any>> {
  const made = await qrvJson(home, ['snap', 'vol']);
  t.equal(made.run.exitCode, 0, made.run.stderr);
  return made.summary.snapshot;
}

async function copy(t: Test, home: string, args: string[]) {
  const result = await qrvJson(home, ['copy', ...args]);
  t.equal(result.run.exitCode, 0, `copy ${args.join(' ')}: ${result.run.stderr}`);
  return result;
}

async function shownQrv(home: string, id: string): Promise<Record<string, any>> {
  return (await qrvJson(home, ['show', id])).summary.qrv;
}

t.test('an update through the hash ledger writes exactly the blocks that differ', async (t) => {
  const size = 40 * MiB + 12_345;
  const { dir, home, image, content } = await setup(t, size);
  const dest = path.join(dir, 'vol.qrv.img');
  const s1 = await snap(t, home);
  const first = await copy(t, home, [s1.id, '--to', dest]);
  t.match(
    first.summary.copy,
    {
      method: 'full',
      bytesRead: size,
      changedBlocks: Math.ceil(size / BLOCK),
      checksum: /^xxh64-blocks:[0-9a-f]{16}$/,
    },
    'a new QRV is a full copy',
  );
  await holds(t, dest, content, 'the first copy is the volume');

  const before = Buffer.from(content);
  const after = await mutate(t, image, content);
  const differ = differingBlocks(before, after);
  t.comment(`${differ.length} blocks differ: ${differ.join(', ')}`);
  t.ok(differ.length >= 4, 'the changes touch several blocks');
  const s2 = await snap(t, home);
  t.equal(s2.sizeBytes, after.length, 'the snapshot has the grown size');
  const second = await copy(t, home, [s2.id, '--to', dest]);
  const c = second.summary.copy;
  t.equal(second.summary.qrv.id, first.summary.qrv.id, 'the same QRV is updated');
  t.equal(c.method, 'ledger', 'updated through the hash ledger');
  t.equal(c.changedBlocks, differ.length, 'writes exactly the blocks that differ');
  t.equal(c.bytesWritten, bytesOf(after, differ), 'and only their bytes');
  t.equal(c.bytesRead, after.length, 'the ledger method reads the whole snapshot');
  t.match(c.checksum, /^xxh64-blocks:[0-9a-f]{16}$/);
  t.not(c.checksum, first.summary.copy.checksum, 'a new checksum for new content');
  t.ok(c.seconds > 0, 'the time is recorded');
  t.equal(warningsOf(second.lines), '', 'no warning');
  await holds(t, dest, after, 'the updated QRV is the volume, byte for byte');

  const row = await shownQrv(home, first.summary.qrv.id);
  t.equal(row.history.length, 2, 'history has both copies');
  t.match(row.history, [
    { snapshotId: s1.id, method: 'full', changedBlocks: Math.ceil(size / BLOCK), resumed: false },
    {
      snapshotId: s2.id,
      method: 'ledger',
      changedBlocks: differ.length,
      bytesWritten: c.bytesWritten,
      bytesRead: after.length,
      resumed: false,
    },
  ]);
  t.match(row, {
    snapshotId: s2.id,
    sizeBytes: after.length,
    checksum: c.checksum,
    state: 'ready',
    ledger: `${dest}.qrvledger`,
  });
  t.ok((await fs.stat(`${dest}.qrvledger`)).isFile(), 'the ledger is beside the QRV');
  await t.rejects(fs.stat(`${dest}.qrvledger.partial`), 'no partial ledger is left');

  // Nothing changed: nothing is written, and the checksum stays.
  const s3 = await snap(t, home);
  const third = await copy(t, home, [s3.id, '--to', dest]);
  t.match(
    third.summary.copy,
    { method: 'ledger', changedBlocks: 0, bytesWritten: 0, checksum: c.checksum },
    'an unchanged volume writes nothing',
  );
  await holds(t, dest, after, 'still the volume');
});

t.test('a corrupt or missing ledger falls back to a full compare, with a warning; --full rewrites', async (t) => {
  const size = 8 * MiB + 777;
  const { dir, home, image, content } = await setup(t, size);
  const dest = path.join(dir, 'q.img');
  const ledger = `${dest}.qrvledger`;
  const s1 = await snap(t, home);
  await copy(t, home, [s1.id, '--to', dest]);

  // A flipped byte in the ledger's hashes: its body checksum no longer matches.
  let before = Buffer.from(content);
  for (let i = 0; i < 3; i++) await change(image, content, next(size), 1);
  let differ = differingBlocks(before, content);
  const bytes = await fs.readFile(ledger);
  const at = 128 + next(bytes.length - 128);
  bytes[at] = (bytes[at] as number) ^ 0x40;
  await fs.writeFile(ledger, bytes);
  const s2 = await snap(t, home);
  const corrupt = await copy(t, home, [s2.id, '--to', dest]);
  t.match(
    warningsOf(corrupt.lines),
    /the ledger of QRV q-[0-9a-f]{12} cannot be used: .*q\.img\.qrvledger.*comparing every block/,
    'warns that it compares every block',
  );
  t.equal(warningsOf(corrupt.lines).split(ledger).length - 1, 1, 'and names the ledger once');
  t.match(
    corrupt.summary.job.warnings.join('\n'),
    /cannot be used: .*comparing every block/,
    'and records the warning on the job',
  );
  t.equal(corrupt.summary.copy.method, 'full', 'method full (a full compare)');
  t.equal(corrupt.summary.copy.changedBlocks, differ.length, 'the compare writes only the blocks that differ');
  t.equal(corrupt.summary.copy.bytesRead, size, 'and reads all of the snapshot');
  await holds(t, dest, content, 'the QRV is the volume');
  t.equal(corrupt.summary.qrv.history.at(-1).method, 'full', 'history says full');

  // A missing ledger.
  before = Buffer.from(content);
  await change(image, content, next(size), 1);
  differ = differingBlocks(before, content);
  await fs.rm(ledger);
  const s3 = await snap(t, home);
  const missing = await qrv(home, ['copy', s3.id, '--to', dest]);
  t.equal(missing.exitCode, 0, missing.stderr);
  t.match(missing.stderr, /cannot be used: .*does not exist; comparing every block/, 'plain output warns on stderr');
  t.match((await shownQrv(home, corrupt.summary.qrv.id)).history.at(-1), {
    snapshotId: s3.id,
    method: 'full',
    changedBlocks: differ.length,
  });
  await holds(t, dest, content, 'the QRV is the volume');

  // --full trusts nothing it recorded: it reads and compares every block (writing what differs,
  // here nothing: the QRV was not damaged) and rebuilds the ledger; it needs no warning. It does
  // not cut the QRV to holes first, so its previous point in time stays whole until it commits.
  const full = await copy(t, home, [s3.id, '--to', dest, '--full']);
  t.match(full.summary.copy, { method: 'full', bytesRead: size, changedBlocks: 0, bytesWritten: 0 });
  t.equal(warningsOf(full.lines), '', 'no warning for --full');
  t.equal(full.summary.qrv.id, corrupt.summary.qrv.id, 'still the same QRV');
  t.same(
    full.summary.qrv.history.map((h: { method: string }) => h.method),
    ['full', 'full', 'full', 'full'],
  );
  await holds(t, dest, content, 'the QRV is the volume');
  const after = await copy(t, home, [s3.id, '--to', dest]);
  t.match(after.summary.copy, { method: 'ledger', changedBlocks: 0 }, 'the rewritten ledger serves the next update');

  // Another QRV's ledger of the same snapshot and size in its place (say, restored from the other
  // replica's folder): it names that QRV, so it is not trusted for this one.
  const dest2 = path.join(dir, 'q2.img');
  const other = await copy(t, home, [s3.id, '--to', dest2]);
  t.not(other.summary.qrv.id, full.summary.qrv.id, 'a second QRV of the same snapshot');
  await fs.copyFile(`${dest2}.qrvledger`, ledger);
  before = Buffer.from(content);
  await change(image, content, next(size), 1);
  differ = differingBlocks(before, content);
  const s4 = await snap(t, home);
  const foreign = await copy(t, home, [s4.id, '--to', dest]);
  t.match(
    warningsOf(foreign.lines),
    new RegExp(
      `cannot be used: .*qrvId "${other.summary.qrv.id}", expected "${full.summary.qrv.id}".*comparing every block`,
    ),
    'the ledger of another QRV is refused, naming both',
  );
  t.match(foreign.summary.copy, { method: 'full', changedBlocks: differ.length });
  await holds(t, dest, content, 'the QRV is the volume');
});

t.test('verify names exactly the bad block; the next copy compares every block and repairs it', async (t) => {
  const size = 8 * MiB + 4321;
  const { dir, home, content } = await setup(t, size);
  const dest = path.join(dir, 'q.img');
  const s1 = await snap(t, home);
  const id = (await copy(t, home, [s1.id, '--to', dest])).summary.qrv.id as string;
  const blocks = Math.ceil(size / BLOCK);

  const clean = await qrv(home, ['verify', id]);
  t.equal(clean.exitCode, 0, clean.stderr);
  t.match(clean.stdout, new RegExp(`QRV ${id} is clean: .* in ${blocks} blocks`));
  t.notMatch(clean.stdout, /^bad:/m);
  t.match((await shownQrv(home, id)).lastVerify, { ok: true, badBlocks: 0, deep: false }, 'recorded on the QRV');

  const flip = async (offset: number): Promise<number> => {
    const handle = await fs.open(dest, 'r+');
    const one = Buffer.from([(content[offset] as number) ^ 0x01]);
    await handle.write(one, 0, 1, offset);
    await handle.close();
    return Math.floor(offset / BLOCK);
  };
  const badLines = (stdout: string) => stdout.split('\n').filter((line) => line.startsWith('bad:'));
  const expectLine = (block: number) =>
    `bad: block ${block} (bytes ${block * BLOCK}–${Math.min((block + 1) * BLOCK, size) - 1}) of ${dest}`;

  for (const offset of [next(size - 4321), size - 1 - next(4321)]) {
    const block = await flip(offset);
    t.comment(`flipped byte ${offset} (block ${block})`);
    const shallow = await qrv(home, ['verify', id]);
    t.equal(shallow.exitCode, 9, 'exit 9 on a bad block');
    t.same(badLines(shallow.stdout), [expectLine(block)], 'one line naming exactly that block');
    if (offset < size - 4321) {
      const deep = await qrv(home, ['verify', '--deep', id]);
      t.equal(deep.exitCode, 9, '--deep: exit 9 too');
      t.same(badLines(deep.stdout), [expectLine(block)], '--deep names the same block');
      t.notMatch(deep.stdout, /snapshot differs/, 'the snapshot agrees with the ledger');
      t.match(
        (await shownQrv(home, id)).lastVerify,
        { ok: false, badBlocks: 1, deep: true },
        'the failure is recorded on the QRV',
      );
    }

    const repair = await copy(t, home, [s1.id, '--to', dest]);
    t.match(
      warningsOf(repair.lines),
      /failed its last verify \(1 bad blocks\); comparing every block/,
      'says why it compares',
    );
    t.match(
      repair.summary.copy,
      { method: 'full', changedBlocks: 1, bytesWritten: Math.min(BLOCK, size - block * BLOCK) },
      'rewrites just the bad block',
    );
    await holds(t, dest, content, 'repaired');
    const again = await qrv(home, ['verify', id]);
    t.equal(again.exitCode, 0, `clean again: ${again.stdout}`);
  }
  t.match((await shownQrv(home, id)).lastVerify, { ok: true, badBlocks: 0 }, 'the clean result is recorded');
  // --throttle: the whole QRV read at 4 MiB a second at most (its first 1 MiB piece comes at once)
  const started = performance.now();
  const slow = await qrv(home, ['verify', id, '--throttle', '4M']);
  const ms = performance.now() - started;
  t.equal(slow.exitCode, 0, slow.stderr);
  t.ok(ms >= ((size - MiB) / (4 * MiB)) * 1000, `verify --throttle 4M read ${size} bytes in ${ms.toFixed(0)} ms`);
  const archive = await qrv(home, ['verify', 'a-00000000', '--throttle', '4M']);
  t.match(archive, { exitCode: 2, stderr: /--throttle is for a QRV/ }, 'not for an archive generation');
  const empty = await qrv(home, ['verify', id, '--throttle', '']);
  t.match(empty, { exitCode: 2, stderr: /--throttle : give a rate/ }, 'an empty rate is refused, not taken for none');
});

const pastBlockZero = (job: Record<string, any>): boolean => (job.progress?.blocksDone ?? 0) > 0;

/**
 * The killed copies run at --throttle THROTTLE: slow enough that a kill lands mid-copy on any
 * machine, on an image small enough to be cheap; the resumes keep the rate.
 */
const THROTTLE = 24 * MiB;

/**
 * Starts `qrv copy ARGS` as a child, waits until its job row passes `until` (by default: saved
 * progress past block 0), then SIGKILLs it after a random delay of up to maxDelayMs.
 */
async function killMidCopy(
  t: Test,
  home: string,
  args: string[],
  maxDelayMs: number,
  until = pastBlockZero,
  checkpointMs = 50,
) {
  const child = execa('node', [BIN, '--home', home, '--json', 'copy', ...args, '--throttle', `${THROTTLE / MiB}M`], {
    reject: false,
    env: { CI: '', QRV_CHECKPOINT_MS: String(checkpointMs) },
    stdin: 'ignore',
  });
  let exited = false;
  void child.then(() => (exited = true));
  let seen: Record<string, any> | undefined;
  const deadline = Date.now() + 60_000;
  while (!exited && Date.now() < deadline) {
    seen = (await readCatalog(home)).jobs.find((j: { pid: number }) => j.pid === child.pid);
    if (seen && until(seen)) break;
    await sleep(2);
  }
  const delay = next(maxDelayMs + 1);
  await sleep(delay);
  child.kill('SIGKILL');
  const ended = await child;
  const job = (await readCatalog(home)).jobs.find((j: { pid: number }) => j.pid === child.pid);
  t.ok(job, 'the copy wrote its job row');
  return { ended, job, delay, progressSeen: seen?.progress };
}

/**
 * After a kill that landed mid-copy: doctor names the job, `qrv copy --resume` (or `qrv doctor
 * --fix`) finishes it, and all is clean. Returns the resumed copy's result.
 */
async function resumeKilled(
  t: Test,
  home: string,
  job: Record<string, any>,
  dest: string,
  expected: Buffer,
  via: 'resume' | 'doctor' = 'resume',
) {
  const found = await qrv(home, ['doctor']);
  t.equal(found.exitCode, 11, 'doctor: exit 11');
  t.match(found.stdout, `would resume it: qrv copy --resume ${job.id}`, 'doctor names the job');
  let copied: Record<string, any>;
  let resumer: string;
  if (via === 'resume') {
    const resumed = await qrvJson(home, ['copy', '--resume', job.id]);
    t.equal(resumed.run.exitCode, 0, `resume: ${resumed.run.stderr}`);
    t.equal(resumed.summary.resumed, job.id);
    t.equal(resumed.summary.job.resumes, job.id, 'the new job names the one it resumes');
    const { bytesRead, seconds } = resumed.summary.copy;
    // the limit counts from the first read: that one piece (1 MiB) comes at once
    t.ok(
      seconds >= Math.max(0, bytesRead - MiB) / THROTTLE,
      `the resume keeps the killed copy's --throttle: ${bytesRead} bytes in ${seconds} s`,
    );
    t.ok(
      resumed.summary.job.steps.some((s: { detail: string | null }) => s.detail?.endsWith('(--throttle 24 MiB/s)')),
      'its copy step says the rate it was held to',
    );
    t.ok(
      resumed.summary.job.steps.some(
        (s: { name: string; state: string }) => s.name === 'read back every block' && s.state === 'done',
      ),
      'the whole QRV was read back',
    );
    copied = resumed.summary.copy;
    resumer = resumed.summary.job.id;
  } else {
    const fixed = await qrvJson(home, ['doctor', '--fix']);
    t.equal(fixed.run.exitCode, 0, `doctor --fix: ${fixed.run.stderr}`);
    t.match(
      fixed.summary.findings,
      [{ kind: 'resumable-copy', subject: job.id, fixed: true, error: null }],
      'doctor --fix resumed it',
    );
    const by = (await readCatalog(home)).jobs.find((j: { resumes: string | null }) => j.resumes === job.id);
    t.match(by, { state: 'succeeded', kind: 'copy' }, 'a new job resumed it');
    resumer = by?.id;
    copied = {};
  }
  const row = await shownQrv(home, job.qrvId);
  t.equal(row.state, 'ready');
  t.equal(row.history.at(-1).resumed, true, 'history says resumed');
  t.equal(row.history.at(-1).jobId, resumer);
  await holds(t, dest, expected, 'the resumed QRV is the snapshot, byte for byte');
  // a finished job may have moved to the history store: `show` finds it in either place
  const old = (await qrvJson(home, ['show', job.id])).summary.job;
  t.match(old, { state: 'failed', error: { code: 'abandoned' } }, 'the killed job is marked failed');
  t.match(old.warnings.join('\n'), `resumed by job ${resumer}`);
  const verify = await qrv(home, ['verify', job.qrvId]);
  t.equal(verify.exitCode, 0, `verify is clean: ${verify.stdout}`);
  const after = await qrv(home, ['doctor']);
  t.equal(after.exitCode, 0, `doctor finds nothing left: ${after.stdout}`);
  return { copy: copied, history: row.history };
}

t.test('a SIGKILLed copy resumes from its last checkpoint (full and incremental)', async (t) => {
  const size = 40 * MiB + 12_345;
  const blocks = Math.ceil(size / BLOCK);
  const { dir, home, image, content } = await setup(t, size);
  const s1 = await snap(t, home);
  let real = 0;
  let lastDest: string | null = null;
  for (let round = 0; real < 3 && round < 8; round++) {
    const dest = path.join(dir, `r${round}.img`);
    const { ended, job, delay, progressSeen } = await killMidCopy(t, home, [s1.id, '--to', dest], 300);
    if (!job) return;
    t.comment(
      `round ${round}: killed ${delay} ms after block ${progressSeen?.blocksDone} of ${blocks}; the row says ${job.state} at block ${job.progress?.blocksDone}`,
    );
    if (ended.exitCode === 0 || job.state === 'succeeded' || !job.progress) {
      // The kill came after the copy had finished (or had saved its last progress).
      if (!job.progress && job.state === 'running')
        t.equal((await qrv(home, ['doctor', '--fix'])).exitCode, 0, 'doctor --fix ends the dead job');
      t.equal((await qrv(home, ['doctor'])).exitCode, 0, 'nothing is left to do');
      continue;
    }
    t.equal(ended.signal, 'SIGKILL', 'killed mid-copy');
    t.equal(job.state, 'running', 'a killed job still reads running');
    t.equal(job.progress.base, 'fresh');
    t.equal(job.progress.throttle, THROTTLE, 'its progress keeps the --throttle for a resume');
    // The second resume is done by `qrv doctor --fix`, the others by `qrv copy --resume`.
    const { history } = await resumeKilled(t, home, job, dest, content, real === 1 ? 'doctor' : 'resume');
    t.equal(history.length, 1, "one copy in the new QRV's history");
    if (job.progress.blocksDone < blocks) real++;
    if (lastDest) await fs.rm(lastDest, { force: true });
    lastDest = dest;
  }
  t.comment(`${real} copies really resumed mid-way`);
  t.ok(real >= 1, 'at least one kill landed mid-copy and was resumed');
  if (!lastDest) return;

  // Killed after the last block was copied and the new ledger put in place, while the QRV is
  // read back: the job row still offers a resume, and the resume finishes with the read-back.
  await t.test('a copy killed while it reads the QRV back can be resumed', async (t) => {
    const readingBack = (job: Record<string, any>): boolean =>
      job.steps.some(
        (s: { name: string; state: string }) => s.name === 'read back every block' && s.state === 'started',
      );
    for (let round = 0; round < 6; round++) {
      const dest = path.join(dir, `late${round}.img`);
      const { job } = await killMidCopy(t, home, [s1.id, '--to', dest], 0, readingBack, 50);
      if (!job || job.state !== 'running' || !readingBack(job) || !job.progress) {
        if (job?.state === 'running') await qrv(home, ['doctor', '--fix']);
        await fs.rm(dest, { force: true });
        continue; // missed the window
      }
      t.comment(`killed while reading back; the row says block ${job.progress?.blocksDone} of ${blocks}`);
      const found = await qrv(home, ['doctor']);
      t.equal(found.exitCode, 11, 'doctor: exit 11');
      t.match(found.stdout, `would resume it: qrv copy --resume ${job.id}`, 'doctor offers a resume');
      const resumed = await qrvJson(home, ['copy', '--resume', job.id]);
      t.equal(resumed.run.exitCode, 0, `the offered resume succeeds: ${resumed.run.stderr}`);
      t.match(resumed.summary, { copy: { bytesWritten: 0 } }, 'nothing is copied again: only the read-back was left');
      const row = await shownQrv(home, job.qrvId);
      t.match(row, { state: 'ready', history: [{ resumed: true }] });
      await holds(t, dest, content, 'the resumed QRV is the snapshot');
      const after = await qrv(home, ['doctor']);
      t.equal(after.exitCode, 0, `doctor finds nothing left: ${after.stdout}`);
      return;
    }
    t.fail('no kill landed while the QRV was read back');
  });

  // The incremental variant: kill an update through the ledger, and resume it.
  let current = content;
  let resumedIncremental = false;
  for (let round = 0; !resumedIncremental && round < 3; round++) {
    const before = Buffer.from(current);
    for (let block = next(4); block * BLOCK < size; block += 4)
      await change(image, current, block * BLOCK + next(Math.min(BLOCK, size - block * BLOCK)), 1);
    const s = await snap(t, home);
    const { ended, job, delay } = await killMidCopy(t, home, [s.id, '--to', lastDest], 100);
    if (!job) return;
    t.comment(
      `incremental round ${round}: ${differingBlocks(before, current).length} blocks differ; killed ${delay} ms after the first checkpoint; the row says ${job.state} at block ${job.progress?.blocksDone}`,
    );
    if (ended.exitCode === 0 || job.state === 'succeeded' || !job.progress) {
      if (!job.progress && job.state === 'running') await qrv(home, ['doctor', '--fix']);
      continue;
    }
    t.equal(job.progress.base, 'ledger', 'the killed copy was an update through the ledger');
    const resumed = await resumeKilled(t, home, job, lastDest, current);
    t.equal(resumed.copy.method, 'ledger', 'the resumed copy goes on through the ledger');
    t.ok(resumed.copy.changedBlocks <= differingBlocks(before, current).length, 'and writes no more than what differs');
    t.equal(resumed.history.at(-1).snapshotId, s.id, 'the QRV now reflects the new snapshot');
    resumedIncremental = job.progress.blocksDone < blocks;
  }
  t.ok(resumedIncremental, 'an incremental copy was killed mid-way and resumed');
});

t.test('doctor finds an orphan snapshot file, a vanished snapshot and a dead job, and --fix mends them', async (t) => {
  const { dir, home } = await setup(t, 4 * MiB + 99);
  const store = path.join(dir, '.qrv-snapshots');
  const clean = await qrv(home, ['doctor']);
  t.equal(clean.exitCode, 0, clean.stdout);
  t.match(clean.stdout, /agree/);

  const kept = await snap(t, home);
  // Not this home's (no catalog row): another home's snapshot of the same image, left alone.
  const foreign = path.join(store, 'vol@s-deadbeef.img');
  await fs.copyFile(kept.path, foreign);
  // This home's, removed in the catalog, but the file is back: an orphan.
  const gone = await snap(t, home);
  const orphan = gone.path as string;
  await fs.copyFile(orphan, `${orphan}.keep`);
  t.equal((await qrv(home, ['unsnap', gone.id])).exitCode, 0);
  await fs.rename(`${orphan}.keep`, orphan);
  const vanished = await snap(t, home);
  await fs.rm(vanished.path);
  const exited = execa('true');
  const deadPid = exited.pid as number;
  await exited;
  const catalogFile = path.join(home, 'catalog.json');
  const catalog = await readCatalog(home);
  const dead = jobRow('copy', 'vol', 'running', new Date().toISOString(), null, {
    id: 'j-0dead0ff',
    pid: deadPid,
    host: os.hostname(),
    error: null,
  });
  catalog.jobs.push(dead);
  await fs.writeFile(catalogFile, JSON.stringify(catalog, null, 2));

  const before = await fs.readFile(catalogFile);
  const found = await qrvJson(home, ['doctor']);
  t.equal(found.run.exitCode, 11, 'exit 11: there are findings');
  t.same(found.summary.findings.map((f: { kind: string; subject: string }) => `${f.kind} ${f.subject}`).sort(), [
    `dead-job j-0dead0ff`,
    `missing-snapshot ${vanished.id}`,
    `orphan-snapshot ${orphan}`,
  ]);
  const plain = await qrv(home, ['doctor']);
  t.equal(plain.exitCode, 11);
  t.match(
    plain.stdout,
    new RegExp(`holds snapshot .*vol@${gone.id}\\.img of vol, which the catalog says is removed: would remove it`),
  );
  t.match(plain.stdout, /left alone: snapshot .*vol@s-deadbeef\.img of vol is not in this home's catalog/);
  t.match(
    plain.stdout,
    new RegExp(
      `snapshot ${vanished.id} of vol is ready in the catalog but the file provider does not hold it: would mark it removed`,
    ),
  );
  t.match(
    plain.stdout,
    new RegExp(
      `job j-0dead0ff \\(copy of vol\\) is marked running but process ${deadPid} is gone: would mark it failed`,
    ),
  );
  t.same(await fs.readFile(catalogFile), before, 'without --fix the catalog is untouched');
  t.ok(await fs.stat(orphan), 'and the orphan is still there');

  const fixed = await qrvJson(home, ['doctor', '--fix']);
  t.equal(fixed.run.exitCode, 0, `--fix: ${fixed.run.stderr}`);
  t.ok(
    fixed.summary.findings.every((f: { fixed: boolean }) => f.fixed),
    'every finding fixed',
  );
  await t.rejects(fs.stat(orphan), 'the orphan file is removed');
  t.ok(await fs.stat(foreign), "the other home's snapshot is left alone");
  t.ok(await fs.stat(kept.path), 'the catalog snapshot file is kept');
  const after = await readCatalog(home);
  t.match(
    after.snapshots.find((s: { id: string }) => s.id === vanished.id),
    { state: 'removed', removedAt: /^\d{4}-/ },
  );
  t.match(
    after.snapshots.find((s: { id: string }) => s.id === kept.id),
    { state: 'ready' },
  );
  t.match(
    after.jobs.find((j: { id: string }) => j.id === 'j-0dead0ff'),
    { state: 'failed', endedAt: /^\d{4}-/, error: { code: 'abandoned' } },
  );
  const again = await qrv(home, ['doctor']);
  t.equal(again.exitCode, 0, `nothing left: ${again.stdout}`);
});

t.test(
  'a policy with --incremental keeps the newest snapshot as the QRV base and updates through the ledger',
  async (t) => {
    const size = 6 * MiB + 5;
    const { dir, home, image, content } = await setup(t, size);
    const dest = path.join(dir, 'replicas');
    await fs.mkdir(dest);
    const refused = await qrv(home, ['policy', 'add', 'inc', '--dest', dest, '--throttle', '5']);
    t.match(refused, { exitCode: 2, stderr: /--throttle 5: give a rate of at least 64K/ }, 'a rate without a unit');
    const added = await qrv(home, ['policy', 'add', 'inc', '--dest', dest, '--incremental', '--throttle', '4M']);
    t.equal(added.exitCode, 0, added.stderr);
    const set = await qrv(home, ['volume', 'set', 'vol', '--policy', 'inc']);
    t.equal(set.exitCode, 0, set.stderr);

    const first = await qrvJson(home, ['run', 'vol']);
    t.equal(first.run.exitCode, 0, first.run.stderr);
    t.equal(first.summary.copy.method, 'full');
    const { bytesRead, seconds } = first.summary.copy;
    // the limit counts from the first read: that one piece (1 MiB) comes at once
    t.ok(seconds >= (bytesRead - MiB) / (4 * MiB), `the policy's --throttle 4M: ${bytesRead} bytes in ${seconds} s`);
    t.equal((await qrv(home, ['policy', 'set', 'inc', '--throttle', 'none'])).exitCode, 0);
    t.equal(first.summary.snapshot.state, 'ready', 'the snapshot is kept as the base');
    await holds(t, first.summary.qrv.destination, content, 'the QRV is the volume');

    const before = Buffer.from(content);
    await change(image, content, next(size), 1);
    await change(image, content, next(size), 3);
    const differ = differingBlocks(before, content);
    const second = await qrvJson(home, ['run', 'vol']);
    t.equal(second.run.exitCode, 0, second.run.stderr);
    t.equal(second.summary.qrv.id, first.summary.qrv.id);
    t.match(second.summary.copy, { method: 'ledger', changedBlocks: differ.length });
    t.equal(second.summary.snapshot.state, 'ready', 'the new snapshot is kept as the base');
    t.equal(second.summary.qrv.snapshotId, second.summary.snapshot.id);
    await holds(t, second.summary.qrv.destination, content, 'the QRV is the volume');
    const catalog = await readCatalog(home);
    t.match(
      catalog.snapshots.find((s: { id: string }) => s.id === first.summary.snapshot.id),
      { state: 'removed' },
      'the previous base is removed',
    );
    await t.rejects(fs.stat(first.summary.snapshot.path), 'and its file');

    t.equal((await qrv(home, ['policy', 'set', 'inc', '--no-incremental'])).exitCode, 0);
    const third = await qrvJson(home, ['run', 'vol']);
    t.equal(third.run.exitCode, 0, third.run.stderr);
    // A full copy over a QRV compares every block and writes what differs: it never cuts the QRV
    // (the previous point in time) to holes first (stop 12, the undo journal).
    t.match(third.summary.copy, { method: 'full' }, '--no-incremental copies in full, comparing every block');
    t.equal(third.summary.snapshot.state, 'removed', 'and removes the snapshot after the copy');
    await holds(t, third.summary.qrv.destination, content, 'the QRV is the volume');
  },
);

t.test('xfs reflink lane: an update reads only the ranges whose extents changed (method provider)', async (t) => {
  if (!lane(t, 'xfs reflink', { root: true, tools: ['mkfs.xfs', 'filefrag', 'losetup', 'mount'] })) return;
  const outside = await tmpDir(t, 'qrv-incr-xfs-');
  const { mountpoint } = await mountLoopFs(t, outside, 'xfs', 512);
  const size = 40 * MiB + 12_345;
  const { dir, home, image, content } = await setup(t, size, mountpoint);
  const dest = path.join(dir, 'vol.qrv.img');
  const s1 = await snap(t, home);
  t.equal(s1.method, 'reflink', 'the snapshot is a reflink clone');
  t.equal(path.dirname(s1.path), path.join(mountpoint, '.qrv-snapshots'), 'in the store on XFS');
  await copy(t, home, [s1.id, '--to', dest]);

  const before = Buffer.from(content);
  const after = await mutate(t, image, content);
  const differ = differingBlocks(before, after);
  const s2 = await snap(t, home);
  t.equal(s2.method, 'reflink');
  const second = await copy(t, home, [s2.id, '--to', dest]);
  const c = second.summary.copy;
  t.comment(`${differ.length} blocks differ; read ${c.bytesRead} bytes, wrote ${c.changedBlocks} blocks`);
  t.equal(c.method, 'provider', 'the provider said what changed');
  t.equal(c.changedBlocks, differ.length, 'writes exactly the blocks that differ');
  t.ok(c.bytesRead >= bytesOf(after, differ), 'reads at least the changed blocks');
  t.ok(
    c.bytesRead <= differ.length * BLOCK + 4 * BLOCK,
    `reads little more than them (${c.bytesRead} bytes for ${differ.length} blocks)`,
  );
  t.ok(c.bytesRead < size / 20, 'far less than the volume');
  await holds(t, dest, after, 'the QRV is the volume, byte for byte');
  t.match((await shownQrv(home, second.summary.qrv.id)).history.at(-1), {
    method: 'provider',
    changedBlocks: differ.length,
    resumed: false,
  });
  const verify = await qrv(home, ['verify', second.summary.qrv.id, '--deep']);
  t.equal(verify.exitCode, 0, verify.stdout);
});
