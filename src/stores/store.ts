// An archive store (F15): a place off the host that holds archive generations as named objects.
// Three kinds implement it (a folder, an SSH server through the system's OpenSSH client, an
// S3-compatible object store) and all pass one contract suite (test/stores/). The store knows
// nothing about chunks or manifests: it puts, gets, lists and removes whole objects, and an
// object is either there whole or not at all.
import { QrvError } from '../core/errors.ts';

export const STORE_KINDS = ['dir', 'ssh', 's3'] as const;
export type StoreKind = (typeof STORE_KINDS)[number];

export interface StoreObject {
  /** the object's key, relative to the store's root, e.g. "chunks/ab/ab12…" */
  key: string;
  size: number;
}

export interface ArchiveStore {
  readonly kind: StoreKind;
  /** where it is, for messages: "/srv/archive", "backup@host:/srv/qrv", "s3://bucket/prefix" */
  readonly where: string;
  /** Writes the object whole or not at all (a temporary name, then a rename; S3's PUT is atomic). */
  put(key: string, data: Uint8Array): Promise<void>;
  /**
   * The whole object; a missing one is a QrvError `store-object-missing`, and one larger than
   * `limit` bytes (more than qrv ever writes under that key) is `store-object-large`, read no further.
   */
  get(key: string, limit: number): Promise<Buffer>;
  /**
   * `length` bytes of the object from `offset` (fewer when the object ends first: the caller, who
   * knows what it expects, decides what a short read means); a missing one is `store-object-missing`.
   */
  getRange(key: string, offset: number, length: number): Promise<Buffer>;
  /** The object's size, or null when there is none. */
  size(key: string): Promise<number | null>;
  /** Every object below `folder` (a key prefix ending at a "/"), at any depth, in no set order. */
  list(folder: string): Promise<StoreObject[]>;
  /** Removes the object; gone already is fine. */
  remove(key: string): Promise<void>;
  /** Makes every put so far durable (a folder's fsync; the others are durable when put returns). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** How a store is reached, as the catalog keeps it (credentials never: they come from the environment). */
export interface StoreLocation {
  kind: StoreKind;
  /** dir: an absolute path; ssh: [user@]host:/path; s3: s3://bucket[/prefix] */
  location: string;
  /** ssh: the port, when not the one ssh's configuration gives */
  port?: number | null;
  /** ssh: extra `-o Key=Value` options for ssh, e.g. IdentityFile=/root/.ssh/archive */
  sshOptions?: string[];
  /** s3: the server's URL, e.g. https://s3.example.net */
  endpoint?: string | null;
  region?: string | null;
}

const KEY = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/;

/** A key qrv made itself: plain names joined by "/", never "..", never absolute, never empty. */
export function checkKey(key: string): string {
  if (!KEY.test(key) || key.split('/').some((part) => part === '..' || part === '.'))
    throw new QrvError('bug', 'internal', `not a store key: ${JSON.stringify(key)}`);
  return key;
}

/** A folder key for list(): "" (the whole store) or a key ending at "/". */
export function checkFolder(folder: string): string {
  if (folder !== '') checkKey(folder.replace(/\/$/, ''));
  return folder === '' || folder.endsWith('/') ? folder : `${folder}/`;
}

export function objectMissing(where: string, key: string): QrvError {
  return new QrvError(
    'io',
    'store-object-missing',
    `${key} is missing from the archive store ${where}`,
    'run `qrv verify` on the generations that use it; a store someone else prunes or edits loses what qrv wrote',
  );
}

export function storeFailed(where: string, doing: string, why: string): QrvError {
  return new QrvError(
    'io',
    'store-failed',
    `cannot ${doing} in the archive store ${where}: ${why}`,
    'check that the store is reachable and writable, then run the command again',
  );
}

export function storeFull(where: string, why: string): QrvError {
  return new QrvError(
    'io',
    'store-full',
    `the archive store ${where} is full: ${why}`,
    'free space there (qrv prune removes generations that fell out of the retention grid), then run the command again',
  );
}

export function tooLarge(where: string, key: string, limit: number): QrvError {
  return new QrvError(
    'io',
    'store-object-large',
    `${key} in the archive store ${where} holds more than ${limit} bytes, more than qrv ever writes there`,
    'something other than qrv writes to this store: find out what, and keep it out',
  );
}
