// The history store: appends land in one file per kind and month (0600 in a 0700 folder), are
// found by id (newest first) and streamed with each id once, whole months fall out of retention,
// and a folder or file that is not safely ours is refused.
import fs from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { History, type HistoryRecord } from '../../src/catalog/history.ts';
import { tmpDir } from '../helpers/tmp.ts';

const job = (id: string, at: string, volume = 'v', extra: Record<string, unknown> = {}): HistoryRecord => ({
  id,
  at,
  kind: 'job',
  volume,
  row: { id, kind: 'snap', state: 'succeeded', endedAt: at, ...extra },
});

t.test('append writes one line per record into its kind and month, 0600 files in a 0700 folder', async (t) => {
  const home = await tmpDir(t);
  const history = new History(home);
  await history.append([
    job('j-00000001', '2026-01-31T23:59:00.000Z'),
    job('j-00000002', '2026-02-01T00:00:00.000Z'),
    { id: 's-00000001', at: '2026-02-03T00:00:00.000Z', kind: 'snapshot', volume: 'v', row: { id: 's-00000001' } },
  ]);
  const dir = path.join(home, 'history');
  t.same((await fs.readdir(dir)).sort(), ['jobs-2026-01.ndjson', 'jobs-2026-02.ndjson', 'snapshots-2026-02.ndjson']);
  t.equal((await fs.stat(dir)).mode & 0o777, 0o700);
  t.equal((await fs.stat(path.join(dir, 'jobs-2026-01.ndjson'))).mode & 0o777, 0o600);
  await history.append([job('j-00000003', '2026-02-02T00:00:00.000Z')]);
  const text = await fs.readFile(path.join(dir, 'jobs-2026-02.ndjson'), 'utf8');
  t.same(
    text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line).id),
    ['j-00000002', 'j-00000003'],
    'appended, not rewritten',
  );
  t.ok(text.startsWith('{"id":"j-00000002","at":"2026-02-01T00:00:00.000Z","kind":"job"'), 'the envelope comes first');
});

t.test('find returns the newest record with the id, across months, and null for an unknown id', async (t) => {
  const home = await tmpDir(t);
  const history = new History(home);
  t.equal(await history.find('j-00000001'), null, 'no history folder yet: nothing found, nothing made');
  await t.rejects(fs.stat(path.join(home, 'history')), { code: 'ENOENT' });
  const many: HistoryRecord[] = [];
  for (let i = 0; i < 5000; i += 1)
    many.push(
      job(`j-${i.toString(16).padStart(8, '0')}`, `2026-0${1 + (i % 6)}-10T00:00:00.000Z`, 'v', {
        pad: 'x'.repeat(300),
      }),
    );
  await history.append(many);
  const found = await history.find('j-00000fa0');
  t.equal(found?.id, 'j-00000fa0');
  t.equal(found?.at.slice(0, 7), `2026-0${1 + (0xfa0 % 6)}`);
  // the same id appended again (a retried move) with newer contents: the newest wins
  await history.append([job('j-00000fa0', '2026-06-20T00:00:00.000Z', 'v', { again: true })]);
  t.equal(((await history.find('j-00000fa0'))?.row as { again?: boolean }).again, true);
  t.equal(await history.find('j-ffffffff'), null);
  t.equal(await history.find('s-00000fa0'), null, 'a snapshot id is not a job id');
});

t.test(
  'scan streams newest month first, each id once, skipping given ids, older lines and other volumes',
  async (t) => {
    const home = await tmpDir(t);
    const history = new History(home);
    await history.append([
      job('j-00000001', '2026-01-05T00:00:00.000Z'),
      job('j-00000002', '2026-03-05T00:00:00.000Z', 'w'),
      job('j-00000003', '2026-03-06T00:00:00.000Z'),
    ]);
    await history.append([
      job('j-00000003', '2026-03-06T00:00:00.000Z'),
      job('j-00000004', '2026-03-07T00:00:00.000Z'),
    ]);
    const ids: string[] = [];
    await history.scan({}, (r) => void ids.push(r.id));
    t.same(ids, ['j-00000002', 'j-00000003', 'j-00000004', 'j-00000001'], 'newest month first, a duplicate once');
    const some: string[] = [];
    await history.scan(
      { since: '2026-03-06T00:00:00.000Z', skip: new Set(['j-00000004']) },
      (r) => void some.push(r.id),
    );
    t.same(some, ['j-00000003']);
    const ofW: string[] = [];
    await history.scan({ volume: 'w' }, (r) => void ofW.push(r.id));
    t.same(ofW, ['j-00000002']);
    const first: string[] = [];
    await history.scan({}, (r) => (first.push(r.id), false));
    t.same(first, ['j-00000002'], 'false stops the scan');
  },
);

t.test('a torn last line (a kill mid-append) is not a record, and the next append still reads', async (t) => {
  const home = await tmpDir(t);
  const history = new History(home);
  await history.append([job('j-00000001', '2026-01-05T00:00:00.000Z')]);
  await fs.appendFile(path.join(home, 'history', 'jobs-2026-01.ndjson'), '{"id":"j-00000002","at":"2026-01');
  const ids: string[] = [];
  await history.scan({}, (r) => void ids.push(r.id));
  t.same(ids, ['j-00000001']);
});

t.test('dropBefore removes whole months older than the cutoff month only', async (t) => {
  const home = await tmpDir(t);
  const history = new History(home);
  await history.append([
    job('j-00000001', '2025-10-31T00:00:00.000Z'),
    job('j-00000002', '2025-11-01T00:00:00.000Z'),
    { id: 's-00000001', at: '2025-09-01T00:00:00.000Z', kind: 'snapshot', volume: 'v', row: {} },
  ]);
  t.same((await history.dropBefore('2025-11-15T00:00:00.000Z')).sort(), [
    'jobs-2025-10.ndjson',
    'snapshots-2025-09.ndjson',
  ]);
  t.same(await fs.readdir(path.join(home, 'history')), ['jobs-2025-11.ndjson']);
  t.equal((await history.find('j-00000002'))?.id, 'j-00000002');
});

t.test('an unsafe history folder or file is refused', async (t) => {
  t.test('writable by others', async (t) => {
    const home = await tmpDir(t);
    await fs.mkdir(path.join(home, 'history'), { mode: 0o700 });
    await fs.chmod(path.join(home, 'history'), 0o777);
    await t.rejects(new History(home).append([job('j-00000001', '2026-01-01T00:00:00.000Z')]), {
      code: 'history-unsafe',
      exit: 'catalog',
    });
    await t.rejects(new History(home).find('j-00000001'), { code: 'history-unsafe' });
  });
  t.test('owned by another user', { skip: process.getuid?.() !== 0 && 'needs root to chown' }, async (t) => {
    const home = await tmpDir(t);
    await fs.mkdir(path.join(home, 'history'), { mode: 0o700 });
    await fs.chown(path.join(home, 'history'), 65534, 65534);
    await t.rejects(new History(home).append([job('j-00000001', '2026-01-01T00:00:00.000Z')]), {
      code: 'history-unsafe',
      message: /owned by uid 65534/,
    });
  });
  t.test('a link in place of the folder or of a month file', async (t) => {
    const home = await tmpDir(t);
    const elsewhere = await tmpDir(t);
    await fs.symlink(elsewhere, path.join(home, 'history'));
    await t.rejects(new History(home).append([job('j-00000001', '2026-01-01T00:00:00.000Z')]), {
      code: 'history-unsafe',
    });
    await fs.rm(path.join(home, 'history'));
    await fs.mkdir(path.join(home, 'history'), { mode: 0o700 });
    const target = path.join(elsewhere, 'target');
    await fs.writeFile(target, '');
    await fs.symlink(target, path.join(home, 'history', 'jobs-2026-01.ndjson'));
    await t.rejects(new History(home).append([job('j-00000001', '2026-01-01T00:00:00.000Z')]), {
      code: 'history-unsafe',
    });
    t.equal(await fs.readFile(target, 'utf8'), '', 'nothing written through the link');
  });
});
