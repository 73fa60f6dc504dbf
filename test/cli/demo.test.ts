// `qrv demo` as a first-time user runs it: its six numbered steps in order, each naming what it
// made, the summary, and its temporary folder removed (or kept with --keep). Real bin/qrv, with
// $TMPDIR pointed at a folder of the test so that the demo's own folder can be found.
import t from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { qrv, qrvJson } from '../helpers/cli.ts';
import { tmpDir } from '../helpers/tmp.ts';

const ID = '[0-9a-f]{12}';
const SUM = 'xxh64-blocks:[0-9a-f]{16}';

t.test('the demo says each step, sums up what it made, and leaves nothing behind', async (t) => {
  const tmp = await fs.realpath(await tmpDir(t));
  const { run, lines, summary } = await qrvJson(path.join(tmp, 'unused-home'), ['demo'], { TMPDIR: tmp });
  t.equal(run.exitCode, 0, run.stderr);
  const said = lines.filter((line) => line.message_type === 'info').map((line) => line.message as string);
  const home = new RegExp(`^demo home: (${tmp}/qrv-demo-\\w{6})$`).exec(said[0] ?? '')?.[1];
  t.ok(home, `the demo's folder is in $TMPDIR: ${said[0]}`);
  /** Step n's line matches `pattern`; returns what it captured. */
  const step = (n: number, pattern: string) => {
    const expected = new RegExp(`^${n}\\. ${pattern}$`);
    t.match(said[n], expected, `step ${n}`);
    return expected.exec(said[n] ?? '');
  };
  step(1, `made a 64 MiB ext4 image with files \\(mkfs\\.ext4 -d, no root\\): ${home}/volume\\.img`);
  const ran = step(2, `qrv run: snapshot (s-${ID}) and QRV (q-${ID}) \\((${SUM})\\)`);
  t.equal(said[3], '3. e2fsck -fn: the QRV is a clean ext4 filesystem');
  t.equal(said[4], '4. changed the volume: removed /hello.txt, rewrote /etc/app.conf');
  const copied = step(
    5,
    `snapshot (s-${ID}) copied into the same QRV ${ran?.[2]} incrementally \\(method (?!full)\\w+\\): \\d+ changed blocks written \\((${SUM})\\)`,
  );
  t.not(copied?.[2], ran?.[3], 'the QRV changed');
  step(6, `recovered the volume from ${ran?.[1]}: checksum ${ran?.[3]} matches, /hello.txt is back`);
  t.equal(said.length, 7, 'nothing else said');
  t.same(summary, {
    message_type: 'summary',
    ok: true,
    home: null,
    snapshots: [ran?.[1], copied?.[1]],
    qrv: ran?.[2],
    checksum: ran?.[3],
  });
  t.same(await fs.readdir(tmp), [], 'its folder is gone');
});

t.test('demo --keep keeps its folder and says where', async (t) => {
  const tmp = await fs.realpath(await tmpDir(t));
  const run = await qrv(path.join(tmp, 'unused-home'), ['demo', '--keep'], { TMPDIR: tmp });
  t.equal(run.exitCode, 0, run.stderr);
  const [kept] = await fs.readdir(tmp);
  const dir = path.join(tmp, kept as string);
  t.equal(
    run.stdout.split('\n').at(-1),
    `demo passed: the volume was recovered to its first point in time, byte for byte (kept in ${dir})`,
  );
  t.same((await fs.readdir(dir)).sort(), ['.qrv-snapshots', 'changed.txt', 'home', 'qrvs', 'tree', 'volume.img']);
  t.same((await fs.readdir(path.join(dir, 'qrvs'))).sort(), ['demo.qrv.img', 'demo.qrv.img.qrvledger']);
  t.ok((await fs.stat(path.join(dir, 'home', 'catalog.json'))).isFile(), 'with its home');
});
