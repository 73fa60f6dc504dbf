// Short ids an admin can type: a letter for the kind (s snapshot, q QRV, j job, g group) and
// eight hex digits. The kind letter lets `qrv show ID` know what to look up.
import { randomBytes } from 'node:crypto';

export type IdKind = 's' | 'q' | 'j' | 'g';

export function newId(kind: IdKind, taken: (id: string) => boolean = () => false): string {
  for (;;) {
    const id = `${kind}-${randomBytes(4).toString('hex')}`;
    if (!taken(id)) return id;
  }
}

export function idKind(id: string): IdKind | undefined {
  const match = /^([sqjg])-[0-9a-f]{8}$/.exec(id);
  return match ? (match[1] as IdKind) : undefined;
}
