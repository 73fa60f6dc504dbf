// Short ids an admin can type: a letter for the kind (s snapshot, q QRV, j job, g group, a archive generation) and
// twelve hex digits (48 random bits). The kind letter lets `qrv show ID` know what to look up.
// A new id is checked against the live catalog only, not against the history store (years of
// cron: a million ids), so it must be wide enough never to meet one there: with 48 bits and a
// million ids in history, a new id meets one about once in 280 million. Ids of eight hex digits
// (32 bits), which qrv made before 2026-12, stay valid wherever an id is read.
import { randomBytes } from 'node:crypto';

export type IdKind = 's' | 'q' | 'j' | 'g' | 'a';

export function newId(kind: IdKind, taken: (id: string) => boolean = () => false): string {
  for (;;) {
    const id = `${kind}-${randomBytes(6).toString('hex')}`;
    if (!taken(id)) return id;
  }
}

export function idKind(id: string): IdKind | undefined {
  const match = /^([sqjga])-(?:[0-9a-f]{8}|[0-9a-f]{12})$/.exec(id);
  return match ? (match[1] as IdKind) : undefined;
}
