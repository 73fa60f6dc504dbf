// When a copy keeps an undo journal (../copy/undo-journal.ts): an update of a QRV that holds a
// point in time (its row is ready), or a copy that goes on after an interrupted update whose
// journal is still there (it keeps the point in time of before that update). A journal left
// beside a ready QRV is from an update that was committed and killed before it removed it.
import { plainCopy } from '../catalog/tracked.ts';
import { existsSync } from 'node:fs';
import type { Qrv } from '../catalog/schema.ts';
import { UndoJournal, undoPathFor } from '../copy/undo-journal.ts';

export interface Undo {
  journal: UndoJournal;
  /** the update did not begin: a journal started for it goes (one continued is kept) */
  abandon(): Promise<void>;
  /** the new point in time is committed: the journal and the old ledger go */
  committed(): Promise<void>;
}

export async function startUndo(existing: Qrv | null, ledgerPath: string, newSize: number): Promise<Undo | null> {
  const path = undoPathFor(ledgerPath);
  const left = existsSync(path);
  if (left && (!existing || existing.state === 'ready')) await UndoJournal.discard(path);
  if (!existing || (existing.state !== 'ready' && !left)) return null;
  const fresh = existing.state === 'ready';
  const header = {
    qrvId: existing.id,
    destination: existing.destination,
    destinationKind: existing.destinationKind,
    oldSize: existing.sizeBytes,
    ledger: ledgerPath,
    ledgerBackup: null,
    row: plainCopy(existing) as unknown as Record<string, unknown>,
  };
  const journal = await UndoJournal.start(path, header, newSize);
  return {
    journal,
    abandon: async () => {
      await journal.close();
      if (fresh) await UndoJournal.discard(path);
    },
    committed: async () => {
      await journal.close();
      await UndoJournal.discard(path);
    },
  };
}
