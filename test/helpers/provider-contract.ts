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
}

interface T {
  test: (name: string, fn: (t: T) => Promise<void>) => unknown;
  equal: (a: unknown, b: unknown, message?: string) => void;
  ok: (value: unknown, message?: string) => void;
  same: (a: unknown, b: unknown, message?: string) => void;
  rejects: (p: Promise<unknown>, expected?: unknown, message?: string) => Promise<void>;
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
    t.same((await provider.listSnapshots(volume)).map((h) => h.snapshotId), ['s-0000000b'], 'only b is left');
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
}
