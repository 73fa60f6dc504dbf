// The application object rows of snapshots and QRVs (schema 8; F13), apart from schema.ts for its length.
import * as z from 'zod/mini';

/** An application object a snapshot holds (schema 8; F13): what a writer found and recorded while it held it at rest. */
export const appObjectSchema = z.object({
  /** the writer: "postgresql", "sqlite" */
  writer: z.string(),
  /** its instance: a cluster's name, an SQLite file's folder */
  instance: z.string(),
  /** the database's name; an SQLite file's name */
  name: z.string(),
  /** the files and folders that hold the instance (data folder, pg_wal, tablespaces; the file and its -wal) */
  paths: z.array(z.string()),
  /** where each of `paths` was: the volume, and the path inside that volume's filesystem (links resolved) */
  places: z.optional(z.array(z.object({ path: z.string(), volume: z.string(), inside: z.string() }))),
  /** where the writer stood: a PostgreSQL LSN, an SQLite database's size */
  position: z.nullable(z.string()),
  /** files the writer returned to keep with the snapshot: backup_label, tablespace_map */
  files: z.record(z.string(), z.string()),
});

export type AppObject = z.infer<typeof appObjectSchema>;
