// `qrv doctor`'s snapshot findings (src/services/doctor-snapshots.ts), in-process on file volumes:
// every kind, its text and its place in the order, what --fix removes (in that order) and marks.
// The file provider has no snapshot health and no activation (dm and lvm do, in the VM lane): the
// test lends it both, so that an invalid snapshot and an inactive volume are seen on any host.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { Catalog } from '../../src/catalog/store.ts';
import type { Snapshot } from '../../src/catalog/schema.ts';
import { QrvError } from '../../src/core/errors.ts';
import { Reporter } from '../../src/core/events.ts';
import type { Context } from '../../src/engine/context.ts';
import { fileProvider } from '../../src/providers/file/file-provider.ts';
import type { Provider } from '../../src/providers/provider.ts';
import { doctor } from '../../src/services/doctor.ts';
import { jobRow, snapshotRow, volumeRow } from '../helpers/check-rows.ts';
import { sparseFile, tmpDir, useTmpdir } from '../helpers/tmp.ts';

const AT = '2026-11-30T12:00:00.000Z';
const id = (n: number) => `s-${n.toString(16).padStart(8, '0')}`;

/** Lends the file provider snapshot health and activation, and logs what it removes. */
function lend(t: { teardown: (fn: () => unknown) => void }, invalid: string, unhealthy: string): string[] {
  const removed: string[] = [];
  const own = { ...fileProvider };
  const lent: Partial<Provider> = {
    snapshotHealth: async (_volume, snapshot) => {
      if (snapshot.handle === unhealthy) throw new Error('cannot tell');
      return { invalid: snapshot.handle === invalid, usedPercent: null };
    },
    activate: async () => ({}) as never,
    inspect: async (volume) => {
      if (volume.name === 'asleep') throw new QrvError('io', 'volume-inactive', 'asleep is not active');
      return own.inspect(volume);
    },
    listSnapshots: async (volume) => {
      if (volume.name === 'unlisted') throw new Error('cannot list');
      return own.listSnapshots(volume);
    },
    removeSnapshot: async (volume, handle) => {
      removed.push(path.basename(handle));
      return own.removeSnapshot(volume, handle);
    },
  };
  Object.assign(fileProvider, lent);
  t.teardown(() => {
    delete (fileProvider as Partial<Provider>).snapshotHealth;
    delete (fileProvider as Partial<Provider>).activate;
    Object.assign(fileProvider, own);
  });
  return removed;
}

async function setup(t: Parameters<typeof tmpDir>[0]) {
  const dir = await tmpDir(t, 'qrv-doctor-');
  await fs.mkdir(path.join(dir, 'tmp'));
  useTmpdir(t, path.join(dir, 'tmp')); // no work folder of a killed recovery here
  const store = path.join(dir, '.qrv-snapshots');
  await fs.mkdir(store, { mode: 0o700 });
  const volumes = ['vol', 'busy', 'asleep', 'unlisted'].map((name) =>
    volumeRow(name, { path: path.join(dir, `${name}.img`) }),
  );
  for (const volume of volumes) await sparseFile(volume.path, 1 << 20);
  volumes.push(volumeRow('lost', { path: path.join(dir, 'lost.img') })); // its image is gone
  const file = (volume: string, n: number) => path.join(store, `${volume}@${id(n)}.img`);
  const row = (volume: string, n: number, state: Snapshot['state'], held: boolean) => ({
    held,
    row: snapshotRow(volume, AT, { id: id(n), handle: file(volume, n), path: file(volume, n), state, jobId: `j-${n}` }),
  });
  const made = [
    row('vol', 1, 'ready', true),
    row('vol', 2, 'ready', true), // invalid, says its health
    row('vol', 3, 'ready', true), // its health cannot be told
    row('vol', 4, 'creating', true),
    row('vol', 5, 'removing', true),
    row('vol', 6, 'removed', true),
    row('vol', 7, 'failed', true),
    row('vol', 8, 'creating', false),
    row('vol', 9, 'ready', false),
    row('vol', 10, 'removed', false),
    row('busy', 11, 'removed', true), // a live job's volume: left alone
    row('busy', 12, 'ready', false),
    row('asleep', 13, 'ready', false), // inactive: not missing
    row('unlisted', 14, 'ready', false), // its provider cannot list: nothing said
    row('lost', 15, 'ready', false),
  ];
  for (const { held, row } of made) if (held) await fs.writeFile(row.path, 'x');
  await fs.writeFile(file('vol', 0xffff), 'x'); // another home's
  const live = jobRow('snap', 'busy', 'running', AT, null, { pid: process.pid, host: os.hostname() });
  const catalog = await Catalog.open(path.join(dir, 'home'));
  await catalog.update((data) => {
    data.volumes.push(...volumes);
    data.snapshots.push(...made.map((m) => m.row));
    data.jobs.push(live);
  });
  const ctx: Context = { catalog, reporter: new Reporter(), now: () => new Date(AT) };
  return { ctx, catalog, store, file, removed: lend(t, file('vol', 2), file('vol', 3)) };
}

const brief = (findings: { kind: string; subject: string; what: string; action: string }[]) =>
  findings.map((f) => [f.kind, f.subject, f.what, f.action]);

t.test(
  'snapshot findings: each kind, its words and its order; --fix removes and marks them in that order',
  async (t) => {
    const { ctx, catalog, store, file, removed } = await setup(t);
    const holds = (n: number) => `the file provider holds snapshot ${file('vol', n)} of vol, which the catalog says is`;
    const expected = [
      [
        'invalid-snapshot',
        id(2),
        `snapshot ${id(2)} of vol overflowed its copy-on-write store: it is invalid and can never be copied from`,
        'remove it and mark it failed',
      ],
      [
        'unfinished-snapshot',
        id(4),
        `snapshot ${id(4)} of vol was left creating by job j-4`,
        'remove it and mark it failed',
      ],
      [
        'unfinished-snapshot',
        id(5),
        `snapshot ${id(5)} of vol was left removing by job j-5`,
        'remove it and mark it removed',
      ],
      ['orphan-snapshot', file('vol', 6), `${holds(6)} removed`, 'remove it'],
      ['orphan-snapshot', file('vol', 7), `${holds(7)} failed`, 'remove it'],
      [
        'missing-snapshot',
        id(8),
        `snapshot ${id(8)} of vol is creating in the catalog but the file provider does not hold it`,
        'mark it failed',
      ],
      [
        'missing-snapshot',
        id(9),
        `snapshot ${id(9)} of vol is ready in the catalog but the file provider does not hold it`,
        'mark it removed',
      ],
      [
        'missing-snapshot',
        id(15),
        `snapshot ${id(15)} of lost is ready in the catalog but the file provider does not hold it`,
        'mark it removed',
      ],
    ];
    const foreign = [`${file('vol', 0xffff)} of vol`];

    const before = await fs.readFile(path.join(catalog.home, 'catalog.json'));
    const found = await doctor(ctx, { fix: false });
    t.same(brief(found.data.findings as never), expected);
    t.same(found.data.foreign, foreign);
    t.same(found.lines, [
      ...expected.map(([, , what, action]) => `${what}: would ${action}`),
      `left alone: snapshot ${file('vol', 0xffff)} of vol is not in this home's catalog (another qrv home's, or not qrv's); only its maker removes it`,
      '8 findings; run `qrv doctor --fix` to do the above',
    ]);
    t.equal(found.exit, 'partial');
    t.same(removed, [], 'nothing removed without --fix');
    t.same(await fs.readFile(path.join(catalog.home, 'catalog.json')), before, 'nor the catalog changed');

    const fixed = await doctor(ctx, { fix: true });
    t.same(brief(fixed.data.findings as never), expected, 'the same findings');
    t.same(fixed.lines.at(-1), 'fixed 8 findings');
    t.equal(fixed.exit, undefined);
    t.same(
      removed,
      [2, 4, 5, 6, 7].map((n) => `vol@${id(n)}.img`),
      'removed in the order found',
    );
    t.same(
      (await fs.readdir(store)).sort(),
      [`busy@${id(11)}.img`, ...[1, 3, 0xffff].map((n) => `vol@${id(n)}.img`)],
      "the healthy, the one whose health is unknown, another home's and the busy volume's are kept",
    );
    // (a removed row may have gone on to the history store)
    const rows = new Map<string, Snapshot>();
    await catalog.history.scan({ kinds: ['snapshot'] }, (r) => void rows.set(r.id, r.row as Snapshot));
    for (const s of (await catalog.read()).snapshots) rows.set(s.id, s);
    const states = [...rows.values()].map((s) => [s.id, s.state, s.removedAt]).sort();
    t.same(states, [
      [id(1), 'ready', null],
      [id(2), 'failed', null],
      [id(3), 'ready', null],
      [id(4), 'failed', null],
      [id(5), 'removed', AT],
      [id(6), 'removed', null],
      [id(7), 'failed', null],
      [id(8), 'failed', null],
      [id(9), 'removed', AT],
      [id(10), 'removed', null],
      [id(11), 'removed', null],
      [id(12), 'ready', null],
      [id(13), 'ready', null],
      [id(14), 'ready', null],
      [id(15), 'removed', AT],
    ]);
    const again = await doctor(ctx, { fix: false });
    t.same(again.data.findings, [], 'nothing open after the fix');
  },
);
