// Application objects as snapshot rows record them (schema 8), for tests that need rows holding
// objects without a PostgreSQL or SQLite: a cluster "main" whose data folder is on volume pgdata
// and whose WAL is on pgwal, and an SQLite database on volume app.
import type { AppObject } from '../../src/catalog/schema.ts';

export const DATA_DIR = '/var/lib/postgresql/16/main';
export const WAL_DIR = '/srv/wal/pg_wal';
export const DB_FILE = '/srv/app/app.db';

/** A database of the cluster "main", as each snapshot of its group records it. */
export function pgObject(name: string, position = '0/3000028', over: Partial<AppObject> = {}): AppObject {
  return {
    writer: 'postgresql',
    instance: 'main',
    name,
    paths: [DATA_DIR, WAL_DIR],
    places: [
      { path: DATA_DIR, volume: 'pgdata', inside: '/16/main' },
      { path: WAL_DIR, volume: 'pgwal', inside: '/pg_wal' },
    ],
    position,
    files: { backup_label: `START WAL LOCATION: ${position}\n`, tablespace_map: '' },
    ...over,
  };
}

/** The SQLite database /srv/app/app.db, on volume app (mounted at /srv/app). */
export function sqliteObject(position = '2 pages', over: Partial<AppObject> = {}): AppObject {
  return {
    writer: 'sqlite',
    instance: '/srv/app',
    name: 'app.db',
    paths: [DB_FILE],
    places: [{ path: DB_FILE, volume: 'app', inside: '/app.db' }],
    position,
    files: {},
    ...over,
  };
}
