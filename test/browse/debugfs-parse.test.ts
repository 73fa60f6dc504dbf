// The debugfs parsers against output captured from a real image (fixtures/debugfs/, made by
// capture.py from a folder whose every entry's truth is in expected.json).
import t from 'tap';
import { Buffer } from 'node:buffer';
import fs from 'node:fs';
import path from 'node:path';
import {
  debugfsComplaint,
  inodeFacts,
  parseInodeDump,
  parseLsLong,
  splitBatch,
  unescapeName,
} from '../../src/browse/debugfs-parse.ts';
import { displayName, modeString } from '../../src/browse/names.ts';
import { ROOT } from '../helpers/cli.ts';

const dir = path.join(ROOT, 'fixtures', 'debugfs');
const read = (name: string) => fs.readFileSync(path.join(dir, name), 'latin1');
interface Truth {
  nameHex: string;
  mode: number;
  uid: number;
  gid: number;
  size: number | null;
  mtime: number;
  nlink: number;
  targetHex?: string;
  major?: number;
  minor?: number;
}
const expected = JSON.parse(read('expected.json')) as { root: Truth[] };
const truth = new Map(expected.root.map((e) => [e.nameHex, e]));

t.test('ls -l: every entry, with its name byte for byte, mode, owner and size', async (t) => {
  const entries = parseLsLong(read('ls-l-root.txt')).filter((e) => e.name.toString() !== 'lost+found');
  t.same(
    entries.map((e) => e.name.toString('hex')).sort(),
    [...truth.keys()].sort(),
    'the same names as the folder mkfs copied (spaces, \\n, \\t, \\xff, UTF-8, 255 bytes)',
  );
  for (const entry of entries) {
    const want = truth.get(entry.name.toString('hex')) as Truth;
    const label = JSON.stringify(entry.name.toString('latin1'));
    t.equal(entry.mode, want.mode, `${label} mode`);
    t.equal(entry.uid, 0, `${label} uid (root dir entries are root's)`);
    if (want.size !== null && want.major === undefined) t.equal(entry.size, want.size, `${label} size`);
  }
  t.ok(
    entries.some((e) => e.size === 5 * 2 ** 30),
    'a size above 4 GiB',
  );
  t.same(unescapeName('quote"and\\x5cback'), Buffer.from('quote"and\\back'));
  t.same(unescapeName('\\xc3\\xbcn'), Buffer.from('ün'));
  t.same(unescapeName('a\\xZZ'), Buffer.from('a\\xZZ'), 'a backslash not followed by two hex digits is itself');
  t.same(
    parseLsLong('garbage\n\n   2   40755 (2)      0      0    1024  1-Dec-2026 03:09 .\n'),
    [],
    'no entries in lines that are not entries, nor . and ..',
  );
});

t.test('a -f batch is cut per command, with a cat of exactly the bytes asked for', async (t) => {
  const commands = read('batch.cmds').trim().split('\n');
  const stdout = read('batch.txt');
  const cat = commands.findIndex((c) => c.startsWith('cat '));
  const longTarget = Buffer.from(truth.get(Buffer.from('longlink').toString('hex'))?.targetHex as string, 'hex');
  const fixed = commands.map((_c, i) => (i === cat ? longTarget.length : undefined));
  const outputs = splitBatch(stdout, commands, fixed);
  t.equal(outputs.length, commands.length);
  t.equal(
    Buffer.from(outputs[cat] as string, 'latin1').toString('hex'),
    longTarget.toString('hex'),
    "a slow symlink's target, though debugfs prints no newline after it",
  );
  t.equal(outputs[cat + 1], '\n', 'ls -l of a file prints nothing on stdout (the complaint is on stderr)');
  t.match(read('batch.stderr'), /Ext2 inode is not a directory/);
  t.equal(parseLsLong(outputs[0] as string).length, parseLsLong(read('ls-l-root.txt')).length, 'ls -l <2> is ls -l /');
  t.same(parseLsLong(outputs[2] as string), [], 'the empty folder');
  t.same(splitBatch('debugfs: a\nx\n', ['a', 'b']), ['x\n', null], 'a command whose echo is missing gets null');

  // inode_dump of every root entry: the inode's facts match the truth
  const inodes = new Map(parseLsLong(read('ls-l-root.txt')).map((e) => [e.inode, e.name]));
  let checked = 0;
  commands.forEach((command, i) => {
    const match = /^inode_dump <(\d+)>$/.exec(command);
    if (!match) return;
    const name = inodes.get(Number(match[1]));
    const want = name && truth.get(name.toString('hex'));
    if (!want) return; // the root folder and lost+found
    const facts = inodeFacts(parseInodeDump(outputs[i] as string));
    const label = JSON.stringify((name as Buffer).toString('latin1'));
    t.equal(facts.mode, want.mode, `${label} mode`);
    t.equal(facts.uid, want.uid, `${label} uid`);
    t.equal(facts.gid, want.gid, `${label} gid`);
    t.equal(facts.links, want.nlink, `${label} links`);
    // mkfs.ext4 -d (1.47.0) stores a time after 2038 without the epoch bits: the kernel then reads
    // 1903 (checked by mounting), and qrv reads what the kernel reads.
    t.equal(
      Math.floor(facts.mtimeMs / 1000),
      want.mtime >= 2 ** 31 ? want.mtime - 2 ** 32 : want.mtime,
      `${label} mtime`,
    );
    if (want.size !== null && want.major === undefined) t.equal(facts.size, want.size, `${label} size`);
    if (want.major !== undefined)
      t.same(facts.rdev, { major: want.major, minor: want.minor }, `${label} device numbers`);
    if (want.targetHex !== undefined) {
      if (Buffer.from(want.targetHex, 'hex').length < 60)
        t.equal(facts.inlineTarget?.toString('hex'), want.targetHex, `${label} fast symlink target`);
      else t.equal(facts.inlineTarget, null, `${label}: a slow symlink's target is not in the inode`);
    }
    checked += 1;
  });
  const names = parseLsLong(read('ls-l-root.txt')).filter((e) => truth.has(e.name.toString('hex')));
  t.equal(checked, new Set(names.map((e) => e.inode)).size, 'every inode checked (two names share one)');
  const devices = expected.root.filter((e) => e.major !== undefined).length;
  if (!devices) t.comment('fixtures captured without root: no device nodes to check');
  else t.ok(devices >= 3, 'char, block and a device number that needs the 32-bit encoding');
});

t.test('inode_dump: octal offsets, "*" repeats, a 2040 time needs the epoch bits', async (t) => {
  const dump = [
    '0000  ed41 0000 0004 0000 0000 0000 0000 0000  ................',
    '0020  0000 0000 0000 0000 0000 0200 0000 0000  ................',
    '*',
    '0200  2000 0000 0000 0000 0000 0000 0000 0000   ...............',
    '0220  0000 0000 0000 0000 0000 0000 0000 0000  ................',
    '*',
    '',
  ].join('\n');
  const raw = parseInodeDump(dump);
  t.equal(raw.length, 256);
  t.equal(raw.readUInt16LE(26), 2, 'links from the line at octal 0020 (16)');
  t.equal(raw.readUInt16LE(128), 32, 'extra size at octal 0200 (128)');
  const when = Buffer.from(raw);
  when.writeInt32LE(2208988800 - 2 ** 32, 16); // 2040-01-01 as a wrapped 32-bit value
  when.writeUInt32LE(1 | (5_000_000 << 2), 136); // epoch 1, 5 ms
  t.equal(new Date(inodeFacts(when).mtimeMs).toISOString(), '2040-01-01T00:00:00.005Z');
  t.throws(() => parseInodeDump('nothing here'));
});

t.test('names and modes as people read them', async (t) => {
  t.equal(displayName(Buffer.from('ünïcødé')), 'ünïcødé');
  t.equal(displayName(Buffer.from([0x62, 0xff, 0x5c])), 'b\\xff\\x5c', 'not UTF-8: escaped as debugfs does');
  t.equal(displayName(Buffer.from('new\nline')), 'new\\x0aline', 'a control character too');
  t.equal(modeString(0o104755), '-rwsr-xr-x');
  t.equal(modeString(0o41777), 'drwxrwxrwt');
  t.equal(modeString(0o120777), 'lrwxrwxrwx');
  t.equal(modeString(0o60600), 'brw-------');
  t.equal(modeString(0o102644), '-rw-r-Sr--');
});

t.test('what debugfs says when it cannot open a filesystem', async (t) => {
  t.match(debugfsComplaint(read('bad-magic.stderr')), /^debugfs: Bad magic number in super-block while trying to open/);
  t.match(debugfsComplaint(read('not-found.stderr')), /File not found by ext2_lookup/);
  t.equal(debugfsComplaint('debugfs 1.47.0 (5-Feb-2023)\n'), '');
});
