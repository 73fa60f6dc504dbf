// Stores open by kind; services ask the registry, never a store module.
import { QrvError } from '../core/errors.ts';
import { openDirStore } from './dir-store.ts';
import { openS3Store } from './s3-store.ts';
import { openSshStore } from './ssh-store.ts';
import { STORE_KINDS, type ArchiveStore, type StoreLocation } from './store.ts';

const openers: Record<
  (typeof STORE_KINDS)[number],
  (location: StoreLocation, create: boolean) => Promise<ArchiveStore>
> = {
  dir: (location, create) => openDirStore(location.location, create),
  ssh: openSshStore,
  s3: openS3Store,
};

/** Opens the store (making its folder or bucket first when `create`), checked before use. */
export function openStore(location: StoreLocation, create = false): Promise<ArchiveStore> {
  const open = openers[location.kind];
  if (!open)
    throw new QrvError(
      'usage',
      'bad-store',
      `unknown store kind "${String(location.kind)}"`,
      `use one of: ${STORE_KINDS.join(', ')}`,
    );
  return open(location, create);
}
