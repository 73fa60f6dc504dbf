// The browser's actions over a real catalog and real ext4 images: `r` asks where and restores a
// real file (progress, then the summary), `d` asks and deletes only after "y", `p` changes the
// persistence as `qrv set --persist` does; errors are one line in the status bar.
import t from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { browseMounts } from '../helpers/browse-tree.ts';
import { browseScene } from '../helpers/browse-scene.ts';
import { fits80x24, KEY, openBrowser, rightPane } from '../helpers/browse-ui.tsx';

t.test('r: find the deleted file by time, see it, get it back', async (t) => {
  const scene = await browseScene(t);
  const { s1, s2 } = scene;
  for (const via of ['auto', 'debugfs'] as const) {
    await t.test(`read by ${via}`, async (t) => {
      const b = await openBrowser(t, scene.home, { volume: 'web', via });
      await b.waitFor(`›${s2.id}`);
      await b.press('t', ...scene.between, KEY.enter);
      await b.waitFor(`›${s1.id}`);
      await b.press(KEY.enter);
      await b.waitFor('hello.txt');
      await b.press(KEY.down, KEY.down);
      let screen = await b.waitFor('›hello.txt', 'the deleted file');
      t.match(screen, /\/hello\.txt[\s\S]*size\s+6 B/, 'and its details');
      t.match(screen, /r recovers it/);

      // Not mounted and no folder given: the service's refusal, one line, the browser goes on.
      await b.press('r');
      screen = await b.waitFor('into folder (empty: back in place): █');
      await b.press(KEY.enter);
      screen = await b.waitFor(/web \(.*web\.img\) is not mounted, and files/);
      t.ok(fits80x24(screen), screen);
      await b.press('x');
      await b.waitFor('›hello.txt');
      t.equal(b.session.openCopy, s1.id, 'the copy is open again after the recovery attempt');

      const to = path.join(scene.dir, `back-${via}`);
      await b.press('r', ...to, KEY.enter);
      screen = await b.waitFor('any key: back');
      const pane = rightPane(screen);
      t.match(pane, new RegExp(`recover /hello.txt from ${s1.id} into ${to}`));
      t.match(pane, /✓ recover: restore files from s-\w+: 1 restored/, 'the step, as the progress view shows it');
      // (the pane wraps a long path where it must: compared without the spaces wrapping adds)
      const joined = (text: string) => text.replace(/\s+/g, '');
      t.ok(joined(pane).includes(joined(`restored /hello.txt -> ${to}/hello.txt (6 bytes)`)), pane);
      t.match(pane, /1 restored \(6 bytes\), 0 skipped/, 'the summary');
      t.equal(await fs.readFile(path.join(to, 'hello.txt'), 'utf8'), 'hello\n', 'the bytes are back');
      t.ok(fits80x24(screen), screen);

      // Again: it exists now, so it is skipped, and the summary says why.
      await b.press(KEY.escape);
      await b.waitFor('›hello.txt');
      await b.press('r', ...to, KEY.enter);
      screen = await b.waitFor('any key: back');
      t.match(rightPane(screen), /0 restored \(0 bytes\), 1 skipped/);
      t.match(rightPane(screen), /skipped\s+\/hello\.txt: exists in the target as a file/);
      await b.press('x');
      await b.waitFor('›hello.txt');

      // A folder, with what is under it.
      await b.press(KEY.up);
      await b.waitFor('›etc/');
      await b.press('r', ...to, KEY.enter);
      await b.waitFor(/2 restored/);
      await b.waitFor('any key: back');
      t.equal(await fs.readFile(path.join(to, 'etc/app.conf'), 'utf8'), 'x = 1\n');
      await b.press('x', 'q');
      t.equal(b.quits(), 1);
      await b.session.close();
      t.same(await browseMounts(), [], 'nothing left mounted');
    });
  }
});

t.test('d asks and deletes only after y; p changes the persistence', async (t) => {
  const scene = await browseScene(t);
  const { s1, s2, q1 } = scene;
  const b = await openBrowser(t, scene.home, { volume: 'web' });
  const row = async (id: string) => (await b.catalog.read()).snapshots.find((s) => s.id === id);
  await b.waitFor(`›${s2.id}`);

  await b.press('d');
  let screen = await b.waitFor(`delete snapshot ${s2.id}? this cannot be undone [y/N]`);
  t.equal((await row(s2.id))?.state, 'ready', 'asking changes nothing');
  await b.press('n');
  screen = await b.waitFor(`${s2.id} not deleted`);
  t.equal((await row(s2.id))?.state, 'ready', 'no: nothing deleted');
  await b.press('d');
  await b.waitFor('[y/N]');
  await b.press(KEY.escape);
  await b.waitFor('›');
  t.equal((await row(s2.id))?.state, 'ready', 'esc: nothing deleted');
  await b.press('d', 'y');
  screen = await b.waitFor(`removed snapshot ${s2.id}`);
  t.equal((await row(s2.id))?.state, 'removed', 'y: deleted through the unsnap service');
  t.notMatch(screen, new RegExp(`│\\s+›?${s2.id}`), 'and gone from the list');
  t.match(screen, new RegExp(`›${s1.id}`), 'the next copy is selected');

  await b.press('p', ...'30d', KEY.enter);
  screen = await b.waitFor(`${s1.id} persists until`);
  const until = (await row(s1.id))?.persistUntil;
  t.ok(
    until && Math.abs(Date.parse(until) - Date.now() - 30 * 86_400_000) < 60_000,
    `about 30 days from now: ${until}`,
  );
  t.match(screen, new RegExp(`persists until ${until?.slice(0, 10)}`), 'the details show it');
  await b.press('p', ...'forever', KEY.enter);
  await b.waitFor(`${s1.id} persists forever`);
  t.equal((await row(s1.id))?.persistUntil, null);
  await b.press('p', ...'soon', KEY.enter);
  screen = await b.waitFor('--persist "soon" is not a duration');
  t.ok(fits80x24(screen), 'a bad value is one line in the status bar');

  await b.press(KEY.down);
  await b.waitFor(`›${q1.id}`);
  await b.press('d');
  await b.waitFor(`${q1.id} is a QRV; remove it with \`qrv remove ${q1.id}\``);
  await b.press('p');
  await b.waitFor(`${q1.id} is a QRV: it stays until`);
  await b.press(KEY.up, KEY.enter);
  await b.waitFor('hello.txt');
  await b.press('d');
  await b.waitFor("select a snapshot in a volume's list to delete it");
  t.equal((await row(s1.id))?.state, 'ready');
  await b.press('q');
});
