// `qrv browse` (Ink, ink-testing-library) over a real catalog and real ext4 images: the tree
// host → sub-client → volume → copies → folders, the details pane, moving, the filter, the time
// jump, and that a copy's reader is opened when the copy is entered and closed when it is left.
import t from 'tap';
import { browseMounts } from '../helpers/browse-tree.ts';
import { browseScene } from '../helpers/browse-scene.ts';
import { fits80x24, KEY, openBrowser } from '../helpers/browse-ui.tsx';

const root = process.getuid?.() === 0;

t.test('the tree, details, moving in and out, in 80×24', async (t) => {
  const scene = await browseScene(t);
  const { s1, s2, q1 } = scene;
  for (const via of ['auto', 'debugfs'] as const) {
    await t.test(`read by ${via}`, async (t) => {
      const b = await openBrowser(t, scene.home, { via });
      let screen = await b.waitFor('default');
      t.match(screen, /^qrv browse /, 'a title line');
      t.match(screen, /▾ \S+/, 'the host is the open level');
      t.match(screen, /›default/, 'its sub-clients, the first selected');
      t.match(screen, /sub-client default/, 'details of the selection on the right');
      t.ok(fits80x24(screen), `fits 80×24:\n${screen}`);

      await b.press(KEY.enter);
      screen = await b.waitFor('›web');
      t.match(screen, /volume web/);
      t.match(screen, /ID\s+HOLDS\s+UNTIL\s+SIZE\s+METHOD/, 'the volume shows its copies as a table');
      await b.press(KEY.right);
      screen = await b.waitFor(`›${s2.id}`);
      t.match(screen, new RegExp(`${s1.id} \\d\\d-\\d\\d \\d\\d:\\d\\d`), 'copies with their time');
      t.match(screen, new RegExp(q1.id));
      t.ok(screen.indexOf(s2.id) < screen.indexOf(s1.id), 'newest first');
      t.match(screen, /created\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ/);
      t.match(screen, /persists until forever/);
      t.match(screen, /size\s+32\.0 MiB/);
      t.match(screen, /method\s+sparse-copy|method\s+reflink/);

      await b.press(KEY.down);
      screen = await b.waitFor(`›${s1.id}`);
      t.match(screen, /label\s+one/, 'details follow the selection');
      t.equal(b.session.openCopy, null, 'selecting a copy opens nothing');
      await b.press(KEY.enter);
      screen = await b.waitFor('hello.txt');
      t.equal(b.session.openCopy, s1.id, 'entering a copy opens its reader');
      t.equal(b.session.method, via === 'debugfs' || !root ? 'debugfs' : 'mount');
      if (b.session.method === 'mount') t.equal((await browseMounts()).length, 1, 'one read-only mount');
      t.match(screen, new RegExp(`▾ ${s1.id}`));
      t.match(screen, /›data\//, 'folders end in /');

      await b.press(KEY.down);
      screen = await b.waitFor(/›etc\/[\s\S]*app\.conf/, 'the contents of etc on the right');
      t.match(screen, /mode\s+drwxr-xr-x \(0755\)/);
      t.match(screen, /owner\s+\S+:\S+ \(\d+:\d+\)/);
      await b.press(KEY.enter);
      screen = await b.waitFor('▾ /etc');
      t.match(screen, /›app\.conf/);
      t.match(
        screen,
        /\/etc\/app\.conf[\s\S]*type\s+file[\s\S]*size\s+6 B[\s\S]*-rw-r--r-- \(0644\)[\s\S]*modified\s+\d{4}-/,
      );
      t.ok(fits80x24(screen), screen);

      await b.press(KEY.backspace);
      screen = await b.waitFor('›etc/');
      t.equal(b.session.openCopy, s1.id, 'still inside the copy');
      await b.press(KEY.left);
      await b.waitFor(`›${s1.id}`);
      for (let i = 0; i < 100 && b.session.openCopy !== null; i += 1) await new Promise((r) => setTimeout(r, 20));
      t.equal(b.session.openCopy, null, 'leaving the copy closes its reader');
      // (the reader is let go of before its unmount ends; the session's next step waits for it)
      await b.session.leave();
      t.same(await browseMounts(), [], 'and unmounts it');
      await b.press('q');
      t.equal(b.quits(), 1, 'q quits');
    });
  }
});

t.test('/ filters the current list; t jumps to the copy resolveAt chooses, also inside a copy', async (t) => {
  const scene = await browseScene(t);
  const { s1, s2, q1 } = scene;
  const b = await openBrowser(t, scene.home, { volume: 'web' });
  let screen = await b.waitFor(`›${s2.id}`);
  await b.press('/', ...q1.id.slice(0, 5));
  screen = await b.waitFor(`/${q1.id.slice(0, 5)}█`);
  t.notMatch(screen, new RegExp(`│\\s+${s1.id}`), 'other copies are hidden as the filter is typed');
  t.match(screen, new RegExp(`›${q1.id}`));
  await b.press(KEY.enter);
  screen = await b.waitFor(`filter "${q1.id.slice(0, 5)}": 1 of 3 (esc clears)`);
  t.match(screen, /QRV of web/);
  await b.press(KEY.escape);
  screen = await b.waitFor(s1.id);
  t.match(screen, new RegExp(s2.id), 'esc clears the filter');
  await b.press('/', 'n', 'o', 'p', 'e', KEY.enter);
  screen = await b.waitFor('(nothing matches "nope")');
  await b.press(KEY.escape);

  // t at the volume: the copy of that time is selected.
  await b.press('t', ...scene.between, KEY.enter);
  screen = await b.waitFor(
    `web as of ${scene.between.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}: ${s1.id}, a snapshot taken`,
  );
  t.match(screen, new RegExp(`›${s1.id}`));
  // Inside the newest copy, in /etc: t goes to the same folder in the older copy.
  await b.press(KEY.up, KEY.enter);
  await b.waitFor(/›data\//);
  t.equal(b.session.openCopy, s2.id);
  screen = b.frame();
  t.notMatch(screen, /hello\.txt/, 'deleted in the newest copy');
  await b.press(KEY.down, KEY.enter);
  await b.waitFor('▾ /etc');
  await b.press('t', ...scene.between, KEY.enter);
  screen = await b.waitFor(new RegExp(`▾ ${s1.id}[\\s\\S]*▾ /etc`), 'the same folder in the older copy');
  t.equal(b.session.openCopy, s1.id, 'the older copy is open, the newer one closed');
  await b.press(KEY.backspace);
  screen = await b.waitFor('hello.txt');
  t.match(screen, /hello\.txt/, 'the deleted file is there');

  await b.press('t', ...'2001-01-01', KEY.enter);
  screen = await b.waitFor('no snapshot or QRV holds web as of 2001-01-01');
  t.ok(fits80x24(screen), 'an error is one line in the status bar');
  await b.press('t', ...'soon', KEY.enter);
  screen = await b.waitFor('the time "soon" is not a time');
  t.equal(b.session.openCopy, s1.id, 'the browser goes on');
  await b.press('q');
  t.equal(b.quits(), 1);
});

t.test('a bigger terminal gets a bigger screen, drawn again when the terminal is resized', async (t) => {
  const scene = await browseScene(t);
  const b = await openBrowser(t, scene.home, { via: 'debugfs', terminalSize: true });
  const size = (screen: string) => ({
    rows: screen.split('\n').length,
    widest: Math.max(...screen.split('\n').map((l) => [...l].length)),
  });
  let screen = await b.waitFor('default');
  // ink-testing-library's terminal: 100 columns, no rows (so 24)
  t.same(size(screen), { rows: 23, widest: 100 }, '100 columns, 23 rows', { screen });
  const stdout = b.view.stdout as unknown as NodeJS.EventEmitter;
  Object.defineProperty(stdout, 'columns', { value: 132, configurable: true });
  Object.defineProperty(stdout, 'rows', { value: 40, configurable: true });
  stdout.emit('resize');
  screen = await b.waitFor((s: string) => size(s).widest === 132, 'the screen 132 columns wide');
  t.same(size(screen), { rows: 39, widest: 132 }, 'after the resize, 132 columns and 39 rows', { screen });
  t.match(screen.split('\n').at(-1) ?? '', /^↑↓ move/, 'the key line is still the last');
  Object.defineProperty(stdout, 'columns', { value: 60, configurable: true });
  Object.defineProperty(stdout, 'rows', { value: 10, configurable: true });
  stdout.emit('resize');
  screen = await b.waitFor((s: string) => size(s).widest === 80, 'the screen back at 80 columns');
  t.same(
    size(screen),
    { rows: 23, widest: 80 },
    'a terminal smaller than 80×24 still gets 80×24 (the least the screen needs)',
  );
});
