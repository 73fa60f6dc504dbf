// flock(2) on a descriptor of ours through util-linux flock: held against other descriptors and
// other processes while ours is open, waited for up to the limit, free once ours closes.
import t from 'tap';
import { constants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { flockExclusive } from '../../src/system/flock.ts';
import { tmpDir } from '../helpers/tmp.ts';

const open = (file: string) => fs.open(file, constants.O_RDWR | constants.O_CREAT, 0o600);

t.test('a lock on one descriptor keeps out another descriptor and another process until it closes', async (t) => {
  const file = path.join(await tmpDir(t), 'lock');
  const ours = await open(file);
  t.equal(await flockExclusive(ours, 0), true, 'taken');
  const other = await open(file);
  t.equal(await flockExclusive(other, 0), false, 'another descriptor: refused at once');
  const started = performance.now();
  t.equal(await flockExclusive(other, 300), false, 'refused after waiting');
  const waited = performance.now() - started;
  t.ok(waited >= 250, `waited its 300 ms (${waited.toFixed(0)} ms)`);
  const outside = await execa('flock', ['-n', file, 'true'], { reject: false });
  t.equal(outside.exitCode, 1, 'another process cannot take it');
  await ours.close();
  t.equal(await flockExclusive(other, 0), true, 'free once ours closed');
  await other.close();
});

t.test('a waiter gets the lock as soon as it is let go, within its wait', async (t) => {
  const file = path.join(await tmpDir(t), 'lock');
  const ours = await open(file);
  t.equal(await flockExclusive(ours, 0), true);
  const other = await open(file);
  const waiting = flockExclusive(other, 10_000);
  setTimeout(() => void ours.close(), 200);
  const started = performance.now();
  t.equal(await waiting, true, 'taken');
  t.ok(performance.now() - started < 8000, 'before its wait ran out');
  await other.close();
});
