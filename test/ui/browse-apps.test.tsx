// `qrv browse`'s applications level (Ink, ink-testing-library) over real snapshots of real ext4
// images whose rows record application objects as a writer's job would (planted: no PostgreSQL
// or SQLite runs here): host → applications → instances → objects → copies, a copy opened at the
// object's data folder (or with its database file selected), and t at an object.
import t, { type Test } from 'tap';
import path from 'node:path';
import { Catalog } from '../../src/catalog/store.ts';
import '../helpers/browse-tree.ts';
import { fits80x24, KEY, openBrowser, rightPane } from '../helpers/browse-ui.tsx';
import { qrv, qrvJson } from '../helpers/cli.ts';
import { ext4Image } from '../helpers/images.ts';
import { pgObject, sqliteObject } from '../helpers/object-rows.ts';
import { tmpDir } from '../helpers/tmp.ts';

/** Volumes pgdata (a data folder at /16/main), pgwal and app (app.db at its root), one snapshot each. */
async function appScene(t: Test) {
  const dir = await tmpDir(t, 'qba-');
  const home = path.join(dir, 'home');
  const images = {
    pgdata: await ext4Image(dir, 'pgdata', 16, { '16/main/PG_VERSION': '16\n', '16/main/base/1/1259': 'x' }),
    pgwal: await ext4Image(dir, 'pgwal', 16, { 'pg_wal/000000010000000000000003': 'w' }),
    app: await ext4Image(dir, 'app', 16, { 'app.db': 'SQLite format 3\0', 'notes.txt': 'n\n' }),
  };
  const ids: Record<string, string> = {};
  for (const [name, image] of Object.entries(images)) {
    const added = await qrv(home, ['volume', 'add', name, '--path', image]);
    if (added.exitCode !== 0) throw new Error(added.stderr);
    const snap = await qrvJson(home, ['snap', name]);
    if (snap.run.exitCode !== 0) throw new Error(snap.run.stderr);
    ids[name] = snap.summary.snapshot.id as string;
  }
  const catalog = await Catalog.open(home);
  await catalog.update((data) => {
    const group = data.snapshots.find((s) => s.id === ids.pgdata)?.groupId as string;
    for (const s of data.snapshots) {
      if (s.volume === 'app') s.objects = [sqliteObject()];
      else Object.assign(s, { groupId: group, objects: [pgObject('billing'), pgObject('shop')] });
    }
  });
  return { dir, home, ids: ids as { pgdata: string; pgwal: string; app: string } };
}

t.test('host → applications → instances → objects → copies, opened at the object', async (t) => {
  const scene = await appScene(t);
  const b = await openBrowser(t, scene.home, { via: 'debugfs' });
  let screen = await b.waitFor('›default');
  t.match(screen, /│ +applications +│/, 'the host lists its applications after the sub-clients');
  await b.press(KEY.down);
  screen = await b.waitFor('›applications');
  t.match(screen, /postgresql:main {2}2 objects/);
  t.match(screen, /sqlite:\/srv\/app {2}1 object/);
  await b.press(KEY.enter);
  screen = await b.waitFor('›postgresql:main');
  t.match(screen, /sqlite:\/srv\/app/);
  t.match(screen, /instance postgresql:main[\s\S]*billing {2}1 copies/);
  await b.press(KEY.enter);
  screen = await b.waitFor('›billing');
  t.match(screen, /shop/);
  t.match(screen, /postgresql:main\/billing[\s\S]*position\s+0\/3000028[\s\S]*kept\s+backup_label, tablespace_map/);
  await b.press(KEY.enter);
  screen = await b.waitFor(`›${scene.ids.pgdata}`);
  t.match(screen, new RegExp(`│ {3}›${scene.ids.pgdata} \\d\\d-\\d\\d \\d\\d:\\d\\d│`), 'its id and time fit');
  t.notMatch(screen, new RegExp(`│ .${scene.ids.pgwal}`), "the copies of the data folder's volume only");
  t.match(screen, /object\s+postgresql:main\/billing/);
  t.match(
    rightPane(screen),
    new RegExp(`whole object\\s+pgdata from ${scene.ids.pgdata}, pgwal from ${scene.ids.pgwal}`),
    'its group holds the whole object',
  );
  t.match(screen, /⏎ browse files at pgdata:\/16\/main/);
  t.ok(fits80x24(screen), screen);
  t.equal(b.session.openCopy, null, 'selecting opens nothing');

  await b.press(KEY.enter);
  screen = await b.waitFor('▾ /16/main');
  t.match(screen, /›PG_VERSION/);
  t.match(screen, /base\//);
  t.match(screen, new RegExp(`postgresql:main/billing in ${scene.ids.pgdata}: /16/main`), 'the status says where');
  t.equal(b.session.openCopy, scene.ids.pgdata);
  t.ok(fits80x24(screen), screen);
  await b.press(KEY.backspace);
  await b.waitFor('›main/');
  await b.press(KEY.backspace);
  await b.waitFor('›16/');
  await b.press(KEY.backspace);
  await b.waitFor(`›${scene.ids.pgdata}`);
  for (let i = 0; i < 100 && b.session.openCopy !== null; i += 1) await new Promise((r) => setTimeout(r, 20));
  t.equal(b.session.openCopy, null, 'leaving the copy closes its reader');

  // SQLite: the database file is selected in its folder.
  await b.press(KEY.backspace, KEY.backspace, KEY.down, KEY.enter);
  screen = await b.waitFor('›app.db');
  await b.press(KEY.enter);
  await b.waitFor(`›${scene.ids.app}`);
  await b.press(KEY.enter);
  screen = await b.waitFor((s) => s.includes('›app.db') && /\/app\.db +│[\s\S]*type\s+file/.test(s), 'app.db selected');
  t.match(screen, new RegExp(`sqlite:/srv/app/app.db in ${scene.ids.app}: /app.db`));
  t.match(screen, /notes\.txt/);
  t.equal(b.session.openCopy, scene.ids.app);
  await b.press('q');
  t.equal(b.quits(), 1);
});

t.test('t at an object: the copy of the group that holds it then', async (t) => {
  const scene = await appScene(t);
  const b = await openBrowser(t, scene.home, { via: 'debugfs' });
  await b.waitFor('›default');
  await b.press(KEY.down, KEY.enter);
  await b.waitFor('›postgresql:main');
  await b.press(KEY.enter);
  await b.waitFor('›billing');
  await b.press('t', ...'2001-01-01', KEY.enter);
  let screen = await b.waitFor('no copy holds postgresql:main/billing as of 2001-01-01');
  t.ok(fits80x24(screen), 'an error is one line in the status bar');
  await b.press('t', ...'now', KEY.enter);
  screen = await b.waitFor(new RegExp(`as of [^:]+:\\d\\d:\\d\\dZ: ${scene.ids.pgdata} of group g-`));
  t.match(screen, new RegExp(`›${scene.ids.pgdata}`), 'its copies listed, the chosen one selected');
  t.match(screen, /▾ billing/);
});
