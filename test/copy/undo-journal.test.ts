// The undo journal on real files: what a batch overwrites is saved first; a roll-back (run once
// or twice) restores the bytes, the size and the ledger exactly; a torn last record is ignored;
// a journal that is a symlink or belongs to another QRV is refused.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { GuardedWriter, BATCH_BYTES } from '../../src/copy/guarded-writer.ts';
import { UndoJournal, readJournal, rollBack, undoPathFor, type UndoHeader } from '../../src/copy/undo-journal.ts';
import { tmpDir } from '../helpers/tmp.ts';

async function fixture(t: Parameters<typeof tmpDir>[0], size: number) {
  const dir = await tmpDir(t, 'qrv-undo-');
  const dest = path.join(dir, 'q.img');
  const old = randomBytes(size);
  await fs.writeFile(dest, old, { mode: 0o600 });
  const ledger = `${dest}.qrvledger`;
  await fs.writeFile(ledger, 'old ledger', { mode: 0o600 });
  const header: UndoHeader = {
    qrvId: 'q-1',
    destination: dest,
    destinationKind: 'file',
    oldSize: size,
    ledger,
    ledgerBackup: null,
    row: { id: 'q-1', state: 'ready' },
  };
  return { dir, dest, old, ledger, header, journal: undoPathFor(ledger) };
}

t.test('batches are journaled before they are written; a roll-back restores bytes, size and ledger', async (t) => {
  const size = 3 * BATCH_BYTES + 12345;
  const f = await fixture(t, size);
  const journal = await UndoJournal.start(f.journal, f.header, size + 100_000);
  const handle = await open(f.dest, 'r+');
  const writer = new GuardedWriter(handle, f.dest, journal);
  for (let at = 0; at < size; at += 1 << 20) await writer.write(randomBytes(65536), at); // several batches
  await writer.flush();
  await handle.truncate(size + 100_000); // grown
  await handle.close();
  await journal.close();
  await fs.writeFile(`${f.ledger}.partial`, 'new');
  await fs.rename(`${f.ledger}.partial`, f.ledger); // the new ledger is in place
  t.not((await fs.readFile(f.dest)).subarray(0, size).equals(f.old), 'the file was changed');
  t.equal((await fs.stat(f.journal)).mode & 0o777, 0o600, 'the journal is 0600');
  const { records } = await readJournal(f.journal);
  t.equal(
    records.reduce((sum, r) => sum + r.length, 0),
    Math.ceil(size / (1 << 20)) * 65536,
    'bounded by the changed blocks',
  );

  const header = await rollBack(f.journal, { qrvId: 'q-1', destination: f.dest });
  t.same(header.row, { id: 'q-1', state: 'ready' });
  t.ok((await fs.readFile(f.dest)).equals(f.old), 'the old bytes and size are back');
  t.equal(await fs.readFile(f.ledger, 'utf8'), 'old ledger', 'and the old ledger');
  await rollBack(f.journal, { qrvId: 'q-1', destination: f.dest });
  t.ok((await fs.readFile(f.dest)).equals(f.old), 'a second roll-back (killed during the first) gives the same');
  await UndoJournal.discard(f.journal);
  await t.rejects(fs.stat(f.journal), 'discard removes the journal');
});

t.test('a shrinking update saves the tail it cuts; a torn last record is ignored', async (t) => {
  const size = 2 * 1024 * 1024 + 999;
  const f = await fixture(t, size);
  const journal = await UndoJournal.start(f.journal, f.header, 1024 * 1024);
  await journal.close();
  await fs.truncate(f.dest, 1024 * 1024);
  // A record being appended when qrv was killed: its batch was not written.
  await fs.appendFile(f.journal, Buffer.alloc(30, 7));
  const again = await UndoJournal.start(f.journal, f.header, 1024 * 1024); // goes on, cuts the torn record
  await again.close();
  await rollBack(f.journal, { qrvId: 'q-1', destination: f.dest });
  t.ok((await fs.readFile(f.dest)).equals(f.old), 'the cut tail is back');
});

t.test('a journal that is a symlink, or of another QRV, is refused', async (t) => {
  const f = await fixture(t, 4096);
  const elsewhere = path.join(f.dir, 'victim');
  await fs.writeFile(elsewhere, 'do not touch');
  await fs.symlink(elsewhere, f.journal);
  await t.rejects(UndoJournal.start(f.journal, f.header, 4096), { code: 'open-failed' }, 'O_NOFOLLOW');
  t.equal(await fs.readFile(elsewhere, 'utf8'), 'do not touch');
  await fs.rm(f.journal);
  const journal = await UndoJournal.start(f.journal, f.header, 4096);
  await journal.close();
  await t.rejects(rollBack(f.journal, { qrvId: 'q-2', destination: f.dest }), { code: 'undo-journal-mismatch' });
});
