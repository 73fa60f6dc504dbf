// A large catalog changes through its journal: one fsynced line per change, read back by every
// reader, folded into a new base when it is full; torn, foreign and hand-edited files are handled
// as the journal's rules say (src/catalog/journal.ts).
import t from 'tap';
import { SCHEMA_VERSION } from '../../src/catalog/schema.ts';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Catalog, readCatalogOnly } from '../../src/catalog/store.ts';
import { BASE_JOURNALED, fitsJournal, JOURNAL_COMPACT, JOURNAL_LINE_WHOLE, sealed } from '../../src/catalog/journal.ts';
import type { Snapshot, Volume } from '../../src/catalog/schema.ts';
import { tmpDir } from '../helpers/tmp.ts';

const AT = '2026-01-02T03:04:05.000Z';

function volume(name: string): Volume {
  return {
    name,
    provider: 'file',
    path: `/srv/${name}.img`,
    options: { mode: 'image' },
    sizeBytes: 1024,
    addedAt: AT,
    policy: null,
    discovered: false,
  };
}

function snapshot(i: number): Snapshot {
  const id = `s-${i.toString(16).padStart(8, '0')}`;
  return {
    id,
    volume: 'v',
    subclient: 'default',
    provider: 'file',
    handle: `/srv/snaps/v@${id}.img`,
    path: `/srv/snaps/v@${id}.img`,
    createdAt: AT,
    persistUntil: null,
    label: null,
    pinned: false,
    state: 'ready',
    sizeBytes: 1024,
    groupId: `g-${id}`,
    method: 'reflink',
    quiesce: 'none',
    suspendedMs: 0,
    objects: [],
    jobId: 'j-00000001',
    removedAt: null,
    policy: null,
    copiedTo: null,
    consistency: 'atomic',
    copyRate: null,
  };
}

/** A home whose catalog is past BASE_JOURNALED: `count` snapshots of volume v. */
async function bigHome(count = 600): Promise<{ home: string; catalog: Catalog; file: string; journal: string }> {
  const home = path.join(await tmpDir(t), 'home');
  const catalog = await Catalog.open(home);
  await catalog.update((data) => {
    data.volumes.push(volume('v'));
    for (let i = 0; i < count; i += 1) data.snapshots.push(snapshot(i));
  });
  return { home, catalog, file: path.join(home, 'catalog.json'), journal: path.join(home, 'catalog.journal') };
}

const labels = async (home: string) =>
  (await (await Catalog.open(home)).read()).snapshots.filter((s) => s.label).map((s) => `${s.id}=${s.label}`);

t.test('a change to a large catalog is one journal line; every reader sees it', async (t) => {
  const { home, catalog, file, journal } = await bigHome();
  const base = await fs.readFile(file, 'utf8');
  t.ok(base.length >= BASE_JOURNALED, 'the base is large');
  t.match(base, new RegExp(`^\\{"schemaVersion":${SCHEMA_VERSION},"volumes":\\[\\{`), 'it is compact');
  t.match(
    base,
    /,"journal":"[0-9a-f]{16}","digest":"xxh64:[0-9a-f]{16}"\}\n$/,
    'it names its journal and ends in its digest',
  );
  await t.rejects(fs.stat(journal), { code: 'ENOENT' }, 'no journal until the first change');

  await catalog.update((data) => void ((data.snapshots[5] as Snapshot).label = 'five'));
  await catalog.update((data) => {
    data.snapshots = data.snapshots.filter((s) => s.id !== 's-00000007');
    data.snapshots.push(snapshot(10_000));
  });
  t.equal(await fs.readFile(file, 'utf8'), base, 'catalog.json was not written again');
  const lines = (await fs.readFile(journal, 'utf8')).trimEnd().split('\n');
  t.equal(lines.length, 3, 'a header and one line per change');
  t.same(
    JSON.parse(lines[1] as string).put.snapshots.map((s: Snapshot) => s.id),
    ['s-00000005'],
    'the first line holds only the row it changed',
  );
  t.same(JSON.parse(lines[2] as string).drop, { snapshots: ['s-00000007'] });
  t.equal((await fs.stat(journal)).mode & 0o777, 0o600, 'the journal is 0600');
  t.match(lines[1], /,"digest":"xxh64:[0-9a-f]{16}"\}$/, 'each line is sealed with its digest');

  const other = await (await Catalog.open(home)).read();
  t.equal(other.snapshots.length, 600, 'another process reads base and journal: one dropped, one added');
  t.equal(other.snapshots.at(-1)?.id, 's-00002710', 'a new row is last, as the change made it');
  t.notOk(other.snapshots.some((s) => s.id === 's-00000007'));
  t.same(await labels(home), ['s-00000005=five']);
  const checked = await readCatalogOnly(home);
  t.equal(checked.data?.snapshots.find((s) => s.id === 's-00000005')?.label, 'five', 'qrv check reads the journal too');

  // Another process's change is seen by this one, and this one's next change is based on it.
  const second = await Catalog.open(home);
  await second.update((data) => void ((data.snapshots[6] as Snapshot).label = 'six'));
  t.same(
    (await catalog.read()).snapshots.filter((s) => s.label).map((s) => s.label),
    ['five', 'six'],
    'a line another process appended is read',
  );
  await catalog.update((data) => void ((data.snapshots[8] as Snapshot).pinned = true));
  t.same(await labels(home), ['s-00000005=five', 's-00000006=six']);
  t.equal((await (await Catalog.open(home)).read()).snapshots[8]?.pinned, true);
});

t.test('a change with nothing changed writes nothing; a change that reorders is written whole', async (t) => {
  const { catalog, file, journal } = await bigHome();
  await catalog.update((data) => void ((data.snapshots[1] as Snapshot).label = 'one'));
  const before = await fs.readFile(journal, 'utf8');
  await catalog.update((data) => data.snapshots.length);
  t.equal(await fs.readFile(journal, 'utf8'), before, 'a read-only change appends nothing');
  const base = await fs.readFile(file, 'utf8');
  await catalog.update((data) => void data.snapshots.reverse());
  t.not(await fs.readFile(file, 'utf8'), base, 'a reordered collection is not a delta: a new base');
  const again = await (await Catalog.open(path.dirname(file))).read();
  t.equal(again.snapshots[0]?.id, 's-00000257', 'in the new order');
  t.equal(again.snapshots.find((s) => s.id === 's-00000001')?.label, 'one', "with the journal's change in it");
});

t.test('a torn last line is ignored and cut off by the next writer', async (t) => {
  const { home, catalog, journal } = await bigHome();
  await catalog.update((data) => void ((data.snapshots[1] as Snapshot).label = 'one'));
  await fs.appendFile(journal, '{"put":{"snapshots":[{"id":"s-000');
  t.same(await labels(home), ['s-00000001=one'], 'the torn line is not read');
  await (await Catalog.open(home)).update((data) => void ((data.snapshots[2] as Snapshot).label = 'two'));
  const text = await fs.readFile(journal, 'utf8');
  t.notMatch(text, /s-000\{/, 'the torn tail was cut off');
  t.equal(text.trimEnd().split('\n').length, 3);
  t.same(await labels(home), ['s-00000001=one', 's-00000002=two']);
});

t.test("a journal that is not the base's, or a base edited by hand", async (t) => {
  const { home, catalog, file, journal } = await bigHome();
  await catalog.update((data) => void ((data.snapshots[1] as Snapshot).label = 'one'));
  const oldJournal = await fs.readFile(journal);
  // A compaction (a reorder is written whole) killed before it replaced the journal leaves the
  // old one beside the new base: the base is the whole catalog.
  await catalog.update((data) => void data.snapshots.reverse());
  await fs.writeFile(journal, oldJournal);
  const labelsNow = await labels(home);
  t.same(labelsNow, ['s-00000001=one'], 'the old journal is ignored, the change is in the base');
  await catalog.update((data) => void ((data.snapshots[0] as Snapshot).label = 'first'));
  t.match(
    (await fs.readFile(journal, 'utf8')).split('\n')[0],
    JSON.parse(await fs.readFile(file, 'utf8')).journal,
    "the next change starts the base's own journal",
  );
  t.same((await labels(home)).sort(), ['s-00000001=one', 's-00000257=first']);

  // An edit by hand breaks the digest: the base is checked in full, and a wrong row is refused.
  const text = await fs.readFile(file, 'utf8');
  await fs.writeFile(file, text.replace('"sizeBytes":1024', '"sizeBytes":"big"'));
  await t.rejects(Catalog.open(home), { code: 'catalog-corrupt', message: /sizeBytes/ });
  // The digest is what spares the check: the same wrong row, sealed again as qrv seals, is read unchecked.
  const unsealed = text
    .replace(/,"digest":"xxh64:[0-9a-f]{16}"\}\n$/, '}')
    .replace('"sizeBytes":1024', '"sizeBytes":"big"');
  await fs.writeFile(file, `${sealed(unsealed)}\n`);
  t.equal(
    ((await (await Catalog.open(home)).read()).volumes[0] as unknown as { sizeBytes: unknown }).sizeBytes,
    'big',
    'a sealed base is not checked again',
  );
  await fs.writeFile(file, text.replace(/"label":null(?![^]*"label":null)/, '"label":"by hand"'));
  t.same(
    (await labels(home)).sort(),
    ['s-00000000=by hand', 's-00000001=one', 's-00000257=first'],
    'a valid edit is read, with the journal applied on top',
  );
});

t.test(
  'a journal line edited by hand is checked in full; one that does not match the schema is refused, naming the journal',
  async (t) => {
    const { home, catalog, journal } = await bigHome();
    await catalog.update((data) => void ((data.snapshots[1] as Snapshot).label = 'one'));
    const text = await fs.readFile(journal, 'utf8');
    await fs.writeFile(journal, text.replace('"label":"one"', '"label":"uno"'));
    t.same(
      await labels(home),
      ['s-00000001=uno'],
      'a valid edit is read (its digest no longer matches: checked in full)',
    );
    await fs.writeFile(journal, text.replace('"label":"one"', '"label":1'));
    await t.rejects(Catalog.open(home), {
      code: 'catalog-corrupt',
      message: new RegExp(`catalog ${journal} is corrupt: line 2: snapshots row s-00000001: label: `),
    });
    await fs.writeFile(journal, text);
    await fs.appendFile(
      journal,
      `${JSON.stringify({ put: { snapshots: [{ id: 's-1', state: 'lost' }] }, drop: {} })}\n`,
    );
    await t.rejects(Catalog.open(home), {
      code: 'catalog-corrupt',
      message: new RegExp(`catalog ${journal} is corrupt: line 3: snapshots row s-1: `),
    });
  },
);

t.test('a full journal is folded into a new base; a small catalog is rewritten whole', async (t) => {
  const { home, catalog, file, journal } = await bigHome();
  const firstId = JSON.parse(await fs.readFile(file, 'utf8')).journal;
  const long = 'x'.repeat(4000);
  let i = 0;
  while (
    (await fs.stat(journal).then(
      (s) => s.size,
      () => 0,
    )) +
      9000 <=
    JOURNAL_COMPACT
  ) {
    const at = i++ % 600;
    await catalog.update((data) => void ((data.snapshots[at] as Snapshot).label = `${long}${at}`));
  }
  t.equal(JSON.parse(await fs.readFile(file, 'utf8')).journal, firstId, 'still the first base');
  await catalog.update((data) => void ((data.snapshots[0] as Snapshot).label = `last${'z'.repeat(10_000)}`));
  t.not(JSON.parse(await fs.readFile(file, 'utf8')).journal, firstId, 'a new base once the journal is full');
  const data = await (await Catalog.open(home)).read();
  t.equal(data.snapshots[0]?.label, `last${'z'.repeat(10_000)}`);
  t.equal(data.snapshots[1]?.label, `${long}1`, 'nothing of the journal was lost');

  // Pruned down below the size, the catalog is one plain file again once it is written whole
  // (here: reordered), and the journal goes.
  await catalog.update((d) => {
    d.snapshots = d.snapshots.slice(0, 3).reverse();
  });
  t.notMatch(await fs.readFile(file, 'utf8'), /"journal"/, 'a small base names no journal');
  await t.rejects(fs.stat(journal), { code: 'ENOENT' }, 'and the journal is removed');
  t.equal((await (await Catalog.open(home)).read()).snapshots.length, 3);
});

t.test('which changes go to the journal', async (t) => {
  const MiB = 1024 * 1024;
  t.ok(fitsJournal(1000, 300 * 1024, 0), 'a small change');
  t.notOk(
    fitsJournal(JOURNAL_LINE_WHOLE + 1, 256 * 1024, 0),
    'a change larger than 64 KiB and a quarter of the base is written whole',
  );
  t.ok(fitsJournal(1 * MiB, 8 * MiB, 0), 'a change of 1 MiB to an 8 MiB base is not (a prune batch)');
  t.notOk(fitsJournal(3 * MiB, 8 * MiB, 0), 'a change of 3 MiB to it is');
  t.notOk(fitsJournal(1000, 300 * 1024, JOURNAL_COMPACT), 'a full journal (1 MiB) is folded');
  t.ok(fitsJournal(1000, 8 * MiB, 7 * MiB), 'a journal may grow as large as its base');
  t.notOk(fitsJournal(1000, 8 * MiB, 8 * MiB), 'and no larger');
});
