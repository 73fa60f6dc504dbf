// The one contract every provider passes, written once and run against each provider on every
// machine that can run it (as restic's backends share internal/backend/test/suite.go).
import fs from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import type { Provider, VolumeRef } from '../../src/providers/provider.ts';
import { isQrvError } from '../../src/core/errors.ts';

export interface ContractSubject {
  provider: Provider;
  /** A fresh volume of at least 8 MiB, with data in it. */
  makeVolume: () => Promise<VolumeRef>;
  /** Writes to the live volume (as its user would). */
  write: (volume: VolumeRef, offset: number, data: Buffer) => Promise<void>;
  /** The provider must answer changedRanges for two snapshots of these volumes (not null). */
  expectRanges?: boolean;
}

interface T {
  test: (name: string, fn: (t: T) => Promise<void>) => unknown;
  equal: (a: unknown, b: unknown, message?: string) => void;
  ok: (value: unknown, message?: string) => void;
  same: (a: unknown, b: unknown, message?: string) => void;
  rejects: (p: Promise<unknown>, expected?: unknown, message?: string) => Promise<void>;
  fail: (message?: string) => void;
  comment: (message: string) => void;
}

async function readAt(path: string, offset: number, length: number): Promise<Buffer> {
  const handle = await fs.open(path, 'r');
  try {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, offset);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

export function providerContract(t: T, subject: ContractSubject): void {
  const { provider } = subject;
  /** What leftovers() would have doctor remove for this volume. */
  const leftoverSubjects = async (volume: VolumeRef, keep: string[]): Promise<string[]> =>
    ((await provider.leftovers?.([{ volume, keep }])) ?? []).map((piece) => piece.subject);

  t.test(`${provider.name}: inspect reports the volume's size`, async (t) => {
    const volume = await subject.makeVolume();
    const facts = await provider.inspect(volume);
    t.ok(facts.sizeBytes >= 8 * 1024 * 1024, 'size is at least 8 MiB');
  });

  t.test(`${provider.name}: a snapshot keeps its point in time while the volume changes`, async (t) => {
    const volume = await subject.makeVolume();
    const before = randomBytes(65536);
    const after = randomBytes(65536);
    await subject.write(volume, 1024 * 1024, before);
    const made = await provider.createSnapshot(volume, 's-00000001');
    await subject.write(volume, 1024 * 1024, after);
    t.same(await readAt(made.path, 1024 * 1024, 65536), before, 'the snapshot still reads the old data');
    const { sizeBytes } = await provider.inspect(volume);
    t.equal(made.sizeBytes, sizeBytes, 'snapshot size is the volume size');
    t.ok(made.method.length > 0, `method recorded (${made.method})`);
    t.ok(made.suspendedMs >= 0, 'suspension time recorded');
    await provider.removeSnapshot(volume, made.handle);
  });

  t.test(`${provider.name}: snapshots are listed with their ids and go away when removed`, async (t) => {
    const volume = await subject.makeVolume();
    const a = await provider.createSnapshot(volume, 's-0000000a');
    const b = await provider.createSnapshot(volume, 's-0000000b');
    const held = await provider.listSnapshots(volume);
    t.same(held.map((h) => h.snapshotId).sort(), ['s-0000000a', 's-0000000b'], 'both are held');
    await provider.removeSnapshot(volume, a.handle);
    t.same(
      (await provider.listSnapshots(volume)).map((h) => h.snapshotId),
      ['s-0000000b'],
      'only b is left',
    );
    await provider.removeSnapshot(volume, a.handle);
    t.ok(true, 'removing a removed snapshot again is not an error');
    await provider.removeSnapshot(volume, b.handle);
    t.same(await provider.listSnapshots(volume), [], 'nothing is left');
  });

  t.test(`${provider.name}: two snapshots are independent of each other`, async (t) => {
    const volume = await subject.makeVolume();
    const one = randomBytes(4096);
    const two = randomBytes(4096);
    await subject.write(volume, 0, one);
    const first = await provider.createSnapshot(volume, 's-00000011');
    await subject.write(volume, 0, two);
    const second = await provider.createSnapshot(volume, 's-00000012');
    t.same(await readAt(first.path, 0, 4096), one);
    t.same(await readAt(second.path, 0, 4096), two);
    await provider.removeSnapshot(volume, first.handle);
    t.same(await readAt(second.path, 0, 4096), two, 'removing one leaves the other intact');
    await provider.removeSnapshot(volume, second.handle);
  });

  t.test(`${provider.name}: a volume that is gone is a clear error`, async (t) => {
    const volume = await subject.makeVolume();
    const gone = { ...volume, path: `${volume.path}.missing`, name: 'gone' };
    await t.rejects(provider.inspect(gone), { name: 'QrvError' });
    const error = await provider.createSnapshot(gone, 's-00000021').catch((e: unknown) => e);
    t.ok(isQrvError(error) && error.exit === 'io', 'snapshotting it fails with an io error');
    t.same(await provider.listSnapshots(gone), [], 'and leaves nothing behind');
  });

  t.test(`${provider.name}: changed ranges cover every byte that differs between two snapshots`, async (t) => {
    const changedRanges = provider.changedRanges?.bind(provider);
    if (!changedRanges) {
      t.ok(!subject.expectRanges, 'the provider has no changedRanges: the engine uses its ledger');
      return;
    }
    const volume = await subject.makeVolume();
    const { sizeBytes } = await provider.inspect(volume);
    const a = await provider.createSnapshot(volume, 's-00000031');
    // Unaligned and aligned writes, one at the very end, one spanning a chunk boundary.
    const writes: Array<[number, number]> = [
      [1024 * 1024 + 512, 1000],
      [3 * 1024 * 1024 - 2048, 8192],
      [5 * 1024 * 1024, 131072],
      [sizeBytes - 4096, 4096],
    ];
    for (const [offset, length] of writes) await subject.write(volume, offset, randomBytes(length));
    const b = await provider.createSnapshot(volume, 's-00000032');
    await subject.write(volume, 7 * 1024 * 1024, randomBytes(65536)); // after b: may or may not be listed
    const ranges = await changedRanges(volume, a, b);
    if (ranges === null) {
      t.ok(!subject.expectRanges, 'the provider cannot tell for these snapshots');
    } else {
      t.ok(
        ranges.every(
          (r, i) =>
            r.start < r.end &&
            r.start >= 0 &&
            r.end <= b.sizeBytes &&
            (i === 0 || (ranges[i - 1] as { end: number }).end < r.start),
        ),
        'sorted, merged, inside the volume',
      );
      const uncovered: number[] = [];
      const piece = 65536;
      for (let offset = 0; offset < sizeBytes; offset += piece) {
        const [x, y] = await Promise.all([readAt(a.path, offset, piece), readAt(b.path, offset, piece)]);
        for (let i = 0; i < x.length; i++) {
          if (x[i] === y[i]) continue;
          const at = offset + i;
          if (!ranges.some((r) => r.start <= at && at < r.end)) uncovered.push(at);
        }
      }
      t.same(uncovered.slice(0, 5), [], 'no differing byte is left out');
      const listed = ranges.reduce((sum, r) => sum + r.end - r.start, 0);
      t.ok(listed <= sizeBytes / 4, `the ranges are a small part of the volume (${listed} of ${sizeBytes} bytes)`);
      const same = await changedRanges(volume, b, b);
      t.ok(
        same === null || same.reduce((sum, r) => sum + r.end - r.start, 0) <= listed,
        'a snapshot against itself lists no more',
      );
    }
    await provider.removeSnapshot(volume, a.handle);
    await provider.removeSnapshot(volume, b.handle);
  });

  t.test(`${provider.name}: snapshot health`, async (t) => {
    if (!provider.snapshotHealth) {
      t.comment(`${provider.name} snapshots have no COW store that can overflow`);
      return;
    }
    const volume = await subject.makeVolume();
    const made = await provider.createSnapshot(volume, 's-00000041');
    const health = await provider.snapshotHealth(volume, made);
    t.equal(health.invalid, false, 'a fresh snapshot is valid');
    t.ok(
      health.usedPercent === null || (health.usedPercent >= 0 && health.usedPercent < 50),
      `its COW store is nearly empty (${health.usedPercent} %)`,
    );
    await provider.removeSnapshot(volume, made.handle);
  });

  t.test(`${provider.name}: a prepared snapshot is taken, or discarded without a trace`, async (t) => {
    if (!provider.prepareSnapshot) {
      t.comment(`${provider.name} makes nothing before the freeze`);
      return;
    }
    const volume = await subject.makeVolume();
    const before = await provider.listSnapshots(volume);
    const discarded = await provider.prepareSnapshot(volume, 's-00000051');
    await discarded.discard();
    t.same(await provider.listSnapshots(volume), before, 'a discarded one is not listed');
    if (provider.leftovers)
      t.same(await leftoverSubjects(volume, []), [], 'and nothing of it is left for doctor to find');
    const original = await readAt(volume.path, 0, 4096);
    const prepared = await provider.prepareSnapshot(volume, 's-00000052');
    const made = await provider.createSnapshot(volume, 's-00000052', { frozen: false, prepared });
    await subject.write(volume, 0, randomBytes(4096));
    t.same(await readAt(made.path, 0, 4096), original, 'the snapshot made from one holds its point in time');
    await provider.removeSnapshot(volume, made.handle);
  });

  t.test(
    `${provider.name}: leftovers are never pieces of a snapshot it holds, and none follow a removal`,
    async (t) => {
      if (!provider.leftovers) {
        t.comment(`${provider.name} leaves nothing for doctor to find`);
        return;
      }
      const volume = await subject.makeVolume();
      const made = await provider.createSnapshot(volume, 's-00000061');
      t.same(await leftoverSubjects(volume, ['s-00000061']), [], 'none while the catalog keeps the snapshot');
      t.same(await leftoverSubjects(volume, []), [], 'none while the provider holds it (doctor removes it whole)');
      await provider.removeSnapshot(volume, made.handle);
      t.same(await leftoverSubjects(volume, []), [], 'none after it was removed');
    },
  );

  t.test(`${provider.name}: activating a volume that is active changes nothing`, async (t) => {
    if (!provider.activate) {
      t.comment(`${provider.name} volumes need no activation`);
      return;
    }
    const volume = await subject.makeVolume();
    const made = await provider.createSnapshot(volume, 's-00000071');
    const result = await provider.activate(volume, ['s-00000071']);
    t.same(result, { originCreated: false, attached: [], active: ['s-00000071'], failed: [] });
    t.ok(
      (await provider.listSnapshots(volume)).some((held) => held.handle === made.handle),
      'the snapshot is still held',
    );
    await provider.removeSnapshot(volume, made.handle);
  });
}
