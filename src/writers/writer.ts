// An application writer (F13): something that writes a data set qrv snapshots (a PostgreSQL
// cluster, an SQLite database), known to qrv well enough to find its objects, say which files
// hold them, bring it to rest for the snapshot from inside the qrv process and let it go right
// after, and record where it stood. One interface; writers are chosen by name from the registry
// (registry.ts) and all pass one contract suite (test/writers/contract.ts).
import path from 'node:path';
import type { Checkpoint } from '../catalog/checkpoints.ts';

/** One instance of a writer on this host: a PostgreSQL cluster, one SQLite database file. */
export interface WriterInstance {
  writer: string;
  /** its name in object ids: "main" (a Debian cluster), "/srv/app" (the folder of an SQLite file) */
  name: string;
  /** every file or folder whose contents the snapshot must hold for this instance to come back */
  paths: string[];
  /** what the writer needs to reach it again (socket folder, port, owner, version, file) */
  reach: Record<string, string>;
}

/** An application object: a database of a cluster, an SQLite file. */
export interface WriterObject {
  instance: WriterInstance;
  /** the database's name; for SQLite the file's name */
  name: string;
}

/** What holding an instance at rest recorded: where it stood, and files to keep with the snapshot. */
export interface HoldRecord {
  /** the writer's own position: a PostgreSQL LSN (the backup's start and stop), an SQLite database's size in pages */
  position: string | null;
  /** text files the writer returned for the snapshot (backup_label, tablespace_map) */
  files: Record<string, string>;
}

/** An instance held at rest for a snapshot; one of release() or abandon() ends it. */
export interface Hold {
  instance: WriterInstance;
  /** how it was brought to rest, for the job's steps: "checkpoint + pg_backup_start at 0/3000028" */
  method: string;
  /** lets go: the instance writes again; throws when the writer failed while held (the snapshot may not be at rest) */
  release(): Promise<HoldRecord>;
  /** lets go after a failure; never throws */
  abandon(): Promise<void>;
}

export interface HoldOptions {
  /** the snapshot's label in the writer's own records (pg_backup_start's label) */
  label: string;
  /** how long bringing it to rest may take before the job is abandoned */
  timeoutMs: number;
  /**
   * fast (default): write every dirty buffer out now, at full speed, so the window is short;
   * spread: let the writer pace its checkpoint as it does on its own (PostgreSQL's
   * checkpoint_completion_target), gentler on its clients, longer (the time limit grows by it)
   */
  checkpoint?: Checkpoint;
}

export type { Checkpoint } from '../catalog/checkpoints.ts';

export interface Writer {
  readonly name: string;
  /** one line for `qrv app writers` */
  readonly summary: string;
  /**
   * The objects `pattern` names (what follows "writer:" in an object id): "main/billing",
   * "main/*" for PostgreSQL; a path or a glob for SQLite. None found: an empty list.
   */
  find(pattern: string): Promise<WriterObject[]>;
  /** Every object this writer finds on the host by itself (SQLite: none without a pattern). */
  discover(): Promise<WriterObject[]>;
  /** Brings one instance to rest; holds it until release() or abandon(). */
  hold(instance: WriterInstance, options: HoldOptions): Promise<Hold>;
}

/** "postgresql:main/billing", "sqlite:/srv/app/app.db": an object's id from its writer, instance and name. */
export function idOf(writer: string, instance: string, name: string): string {
  return writer === 'sqlite' ? `sqlite:${path.join(instance, name)}` : `${writer}:${instance}/${name}`;
}

/** "postgresql:main/billing" */
export function objectId(object: WriterObject): string {
  return idOf(object.instance.writer, object.instance.name, object.name);
}

/**
 * What tells instances apart: "postgresql:main"; an SQLite database is an instance of its own,
 * "sqlite:/srv/app/app.db", where its name is its folder, which may hold other databases.
 */
export function instanceId(instance: WriterInstance): string {
  const file = instance.writer === 'sqlite' ? instance.reach['file'] : undefined;
  return file ? `sqlite:${file}` : `${instance.writer}:${instance.name}`;
}
