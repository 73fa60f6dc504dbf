// What the commands check of their arguments before a service runs, kept apart from the services
// (and what they load): `qrv browse`'s --via and ID:PATH, `qrv recover`'s --from/--as-of/--path.
import type { Via } from '../browse/open.ts';
import { QrvError } from '../core/errors.ts';

const VIAS: readonly string[] = ['auto', 'debugfs', 'mount'] satisfies Via[];

/** --via checked: one of auto, debugfs, mount (or not given). */
export function checkVia(via: string | undefined): Via | undefined {
  if (via !== undefined && !VIAS.includes(via))
    throw new QrvError(
      'usage',
      'bad-via',
      `--via "${via}" is not a way to read`,
      'use auto, debugfs (ext2/3/4, no root) or mount (root)',
    );
  return via as Via | undefined;
}

/** "ID" or "ID:PATH" → id and path ("/" when none). */
export function splitTarget(target: string): { id: string; path: string } {
  const colon = target.indexOf(':');
  if (colon < 0) return { id: target, path: '/' };
  const path = target.slice(colon + 1);
  return { id: target.slice(0, colon), path: path === '' ? '/' : path.startsWith('/') ? path : `/${path}` };
}

export interface FileSource {
  /** a snapshot or QRV id, or… */
  from?: string;
  /** …the copy `qrv resolve VOLUME --as-of T` chooses */
  asOf?: string;
  paths: string[];
}

export type OrderedOption = { option: 'from' | 'as-of' | 'path'; value: string };

/** `--from A --path 1 --path 2 --as-of T --path 3` → each --path with the --from/--as-of before it. */
export function groupSources(order: OrderedOption[]): FileSource[] {
  const sources: FileSource[] = [];
  for (const { option, value } of order) {
    if (option === 'path') {
      const current = sources.at(-1);
      if (!current)
        throw new QrvError(
          'usage',
          'usage',
          `--path ${value} comes before any --from: each --path belongs to the --from (or --as-of) before it`,
          'e.g. `qrv recover web --from s-1a2b3c4d5e6f --path /etc/app.conf`',
        );
      current.paths.push(value);
    } else sources.push(option === 'from' ? { from: value, paths: [] } : { asOf: value, paths: [] });
  }
  const empty = sources.find((s) => s.paths.length === 0);
  if (empty)
    throw new QrvError(
      'usage',
      'usage',
      `${empty.from !== undefined ? `--from ${empty.from}` : `--as-of ${empty.asOf}`} has no --path after it`,
      'give the files to restore from it with --path after it, e.g. `--from s-1a2b3c4d5e6f --path /etc/app.conf`',
    );
  return sources;
}
