// The catalog's shape, checked on every load: a file that does not match is refused, never
// "repaired" by guessing. Rows use camelCase keys; the same rows are what `--json` prints.
import { z } from 'zod';

/** Bump when the shape changes; a catalog with a higher number is refused (written by a newer qrv). */
export const SCHEMA_VERSION = 1;

const isoTime = z.string().datetime({ offset: true });

export const volumeSchema = z.object({
  name: z.string().min(1),
  provider: z.string().min(1),
  path: z.string().min(1),
  options: z.record(z.string(), z.string()),
  sizeBytes: z.number().int().nonnegative(),
  addedAt: isoTime,
});

export const snapshotStateSchema = z.enum(['creating', 'ready', 'removing', 'removed', 'failed']);

export const snapshotSchema = z.object({
  id: z.string(),
  volume: z.string(),
  subclient: z.string().nullable(),
  provider: z.string(),
  handle: z.string(),
  path: z.string(),
  createdAt: isoTime,
  persistUntil: isoTime.nullable(),
  label: z.string().nullable(),
  pinned: z.boolean(),
  state: snapshotStateSchema,
  sizeBytes: z.number().int().nonnegative(),
  groupId: z.string(),
  /** how the provider made it, e.g. "reflink" or "sparse-copy" */
  method: z.string(),
  /** how the data was brought to rest: "none" when nothing needed it (no writer, not mounted) */
  quiesce: z.string(),
  /** how long I/O to the volume was suspended for this snapshot */
  suspendedMs: z.number().nonnegative(),
  /** application objects the snapshot holds (writers fill this in; none yet) */
  objects: z.array(z.string()),
  jobId: z.string(),
  removedAt: isoTime.nullable(),
});

export const qrvHistorySchema = z.object({
  snapshotId: z.string(),
  at: isoTime,
  method: z.string(),
  bytesRead: z.number().int().nonnegative(),
  bytesWritten: z.number().int().nonnegative(),
  seconds: z.number().nonnegative(),
  jobId: z.string(),
});

export const qrvSchema = z.object({
  id: z.string(),
  volume: z.string(),
  snapshotId: z.string(),
  destination: z.string(),
  destinationKind: z.enum(['file', 'block']),
  state: z.enum(['copying', 'ready', 'failed', 'removed']),
  sizeBytes: z.number().int().nonnegative(),
  blockSize: z.number().int().positive(),
  checksum: z.string().nullable(),
  /** the per-block hash ledger's path, once incremental copies exist */
  ledger: z.string().nullable(),
  createdAt: isoTime,
  updatedAt: isoTime,
  history: z.array(qrvHistorySchema),
});

export const stepSchema = z.object({
  name: z.string(),
  state: z.enum(['started', 'done', 'failed', 'skipped']),
  startedAt: isoTime,
  endedAt: isoTime.nullable(),
  detail: z.string().nullable(),
});

export const jobSchema = z.object({
  id: z.string(),
  kind: z.enum(['snap', 'copy', 'unsnap', 'run', 'recover']),
  volume: z.string(),
  state: z.enum(['running', 'succeeded', 'failed']),
  pid: z.number().int(),
  host: z.string(),
  startedAt: isoTime,
  endedAt: isoTime.nullable(),
  snapshotId: z.string().nullable(),
  qrvId: z.string().nullable(),
  destination: z.string().nullable(),
  steps: z.array(stepSchema),
  warnings: z.array(z.string()),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
});

export const catalogSchema = z.object({
  schemaVersion: z.literal(SCHEMA_VERSION),
  volumes: z.array(volumeSchema),
  snapshots: z.array(snapshotSchema),
  qrvs: z.array(qrvSchema),
  jobs: z.array(jobSchema),
});

export type Volume = z.infer<typeof volumeSchema>;
export type Snapshot = z.infer<typeof snapshotSchema>;
export type SnapshotState = z.infer<typeof snapshotStateSchema>;
export type Qrv = z.infer<typeof qrvSchema>;
export type QrvHistory = z.infer<typeof qrvHistorySchema>;
export type Job = z.infer<typeof jobSchema>;
export type Step = z.infer<typeof stepSchema>;
export type CatalogData = z.infer<typeof catalogSchema>;

export function emptyCatalog(): CatalogData {
  return { schemaVersion: SCHEMA_VERSION, volumes: [], snapshots: [], qrvs: [], jobs: [] };
}
