// The catalog's shape, checked on every load: a file that does not match is refused, never
// "repaired" by guessing. Rows use camelCase keys; the same rows are what `--json` prints.
//
// zod/mini, not zod: the same checks and messages (the English locale is loaded below), but it
// bundles to ~30 KB where zod's chained API pulls in ~450 KB that every start of qrv had to parse
// (measured: `qrv --version` 0.28 → 0.22 s here, and ~40 % of the start under the VM lane's emulation).
import * as z from 'zod/mini';
import { appObjectSchema } from './app-object.ts';
import { CHECKPOINTS } from './checkpoints.ts';
import {
  count,
  hydrationSchema,
  isoTime,
  nonEmpty,
  orNull,
  positiveInt,
  retiredPrimarySchema,
} from './schema-parts.ts';

export { hydrationSchema, retiredPrimarySchema } from './schema-parts.ts';

/** Bump when the shape changes; a catalog with a higher number is refused (written by a newer qrv). */
export const SCHEMA_VERSION = 9;

/** Versions this qrv reads; older ones are brought up to date on load (fields gain defaults). */
export const READABLE_VERSIONS = [1, 2, 3, 4, 5, 6, 7, 8, 9];

export const volumeSchema = z.object({
  name: nonEmpty(),
  provider: nonEmpty(),
  path: nonEmpty(),
  options: z.record(z.string(), z.string()),
  sizeBytes: count(),
  addedAt: isoTime,
  /** the volume's own policy; it wins over its sub-clients' policies */
  policy: orNull(z.string()),
  /** how the volume came in: by `volume add`, or found by discovery */
  discovered: z._default(z.boolean(), false),
  /** earlier primaries, oldest first; absent until the volume's first `qrv promote` (schema 4) */
  retired: z.optional(z.array(retiredPrimarySchema)),
  hydration: z.optional(hydrationSchema),
});

export const snapshotStateSchema = z.enum(['creating', 'ready', 'removing', 'removed', 'failed']);

/**
 * How a snapshot's point in time was obtained (issue 18): `atomic` (a reflink clone, an LVM/dm
 * snapshot, or a copy during which the image provably did not change), `frozen` (the filesystem on
 * it was frozen for the copy), `application` (a writer quiesced it), `crash-torn` (written to while
 * it was copied, kept only with --allow-inconsistent), `unknown` (a row written before qrv recorded
 * this, that nothing proves either way: an unfrozen copy).
 */
export const consistencySchema = z.enum(['atomic', 'frozen', 'application', 'crash-torn', 'unknown']);
export type Consistency = z.infer<typeof consistencySchema>;

/** What an old row's method and quiesce prove about it (rows from before the field existed). */
export function derivedConsistency(row: { method?: unknown; quiesce?: unknown }): Consistency {
  if (row.quiesce === 'fsfreeze') return 'frozen';
  if (
    row.method === 'reflink' ||
    row.method === 'lvm-thin' ||
    row.method === 'lvm-classic' ||
    row.method === 'dm-snapshot'
  )
    return 'atomic';
  return 'unknown';
}

const snapshotRowSchema = z.object({
  id: z.string(),
  volume: z.string(),
  subclient: z.nullable(z.string()),
  provider: z.string(),
  handle: z.string(),
  path: z.string(),
  createdAt: isoTime,
  persistUntil: z.nullable(isoTime),
  label: z.nullable(z.string()),
  pinned: z.boolean(),
  state: snapshotStateSchema,
  sizeBytes: count(),
  groupId: z.string(),
  /** how the provider made it, e.g. "reflink" or "sparse-copy" */
  method: z.string(),
  /** how the data was brought to rest: "none" when nothing needed it (no writer, not mounted) */
  quiesce: z.string(),
  /** how long I/O to the volume was suspended for this snapshot */
  suspendedMs: z.number().check(z.nonnegative()),
  /** application objects the snapshot holds (schema 8; before, always empty) */
  objects: z.array(appObjectSchema),
  jobId: z.string(),
  removedAt: z.nullable(isoTime),
  /** the policy whose rules apply to it (copy timing, unsnap), if any */
  policy: orNull(z.string()),
  /** the QRV this snapshot was copied to, once it was */
  copiedTo: orNull(z.string()),
  /** how its point in time was obtained; derived from method and quiesce for older rows */
  consistency: consistencySchema,
  /** bytes per second of the provider's copy, when it had to copy (no clone): the next estimate of a frozen copy's length */
  copyRate: orNull(z.number().check(z.positive())),
});

/** A snapshot row; an older row without `consistency` gets the one its method and quiesce prove. */
export const snapshotSchema = z.pipe(
  z.transform((row: unknown) =>
    row && typeof row === 'object' && !('consistency' in row)
      ? { ...row, consistency: derivedConsistency(row as Record<string, unknown>) }
      : row,
  ),
  snapshotRowSchema,
);

export const qrvHistorySchema = z.object({
  snapshotId: z.string(),
  at: isoTime,
  method: z.string(),
  bytesRead: count(),
  bytesWritten: count(),
  seconds: z.number().check(z.nonnegative()),
  jobId: z.string(),
  /** blocks written (schema 3; 0 on older rows) */
  changedBlocks: z._default(count(), 0),
  /** the copy was finished by a resumed job (qrv copy --resume) */
  resumed: z._default(z.boolean(), false),
});

/** What the last `qrv verify` found. */
export const verifyResultSchema = z.object({
  at: isoTime,
  /** true: every block matched */
  ok: z.boolean(),
  badBlocks: count(),
  /** compared with the snapshot too (--deep) */
  deep: z.boolean(),
});

/** How far a copy got, saved at bounded intervals so that a killed copy resumes (F9). */
export const copyProgressSchema = z.object({
  /** how the destination's old content was known: its ledger (ledger/provider), read back (compare), or not at all (fresh) */
  base: z.enum(['fresh', 'compare', 'ledger', 'provider']),
  /** the snapshot the QRV reflected before the copy (ledger and provider bases) */
  baseSnapshotId: z.nullable(z.string()),
  /** blocks [0, blocksDone) are on the destination and in the new ledger, both flushed */
  blocksDone: count(),
  blockSize: positiveInt(),
  sizeBytes: count(),
  /** the ledger being written (its ".partial" file holds the hashes so far) */
  ledger: z.string(),
  at: isoTime,
  /** the copy's pre-copy and post-copy hooks and their timeout, run again by a resume */
  hooks: z._default(z.object({ 'pre-copy': z.optional(z.string()), 'post-copy': z.optional(z.string()) }), {}),
  hookTimeoutMs: orNull(positiveInt()),
  /** the copy's --throttle, bytes a second, kept by a resume unless it gives its own */
  throttle: z.optional(positiveInt()),
});

export const qrvSchema = z.object({
  id: z.string(),
  volume: z.string(),
  snapshotId: z.string(),
  destination: z.string(),
  destinationKind: z.enum(['file', 'block']),
  /** promoted: it became its volume's primary (`qrv promote`, schema 4); never written, verified or removed as a QRV again */
  state: z.enum(['copying', 'ready', 'failed', 'removed', 'promoted']),
  sizeBytes: count(),
  blockSize: positiveInt(),
  checksum: z.nullable(z.string()),
  /** the per-block hash ledger's path, once incremental copies exist */
  ledger: z.nullable(z.string()),
  createdAt: isoTime,
  updatedAt: isoTime,
  history: z.array(qrvHistorySchema),
  /** the pool whose member this QRV occupies, if it came from a pool */
  pool: orNull(z.string()),
  /** what the last `qrv verify` found (schema 3) */
  lastVerify: orNull(verifyResultSchema),
  /** the application objects of the snapshot it reflects now (schema 8; F13); absent: none */
  objects: z.optional(z.array(appObjectSchema)),
});

export const stepSchema = z.object({
  name: z.string(),
  state: z.enum(['started', 'done', 'failed', 'skipped']),
  startedAt: isoTime,
  endedAt: z.nullable(isoTime),
  detail: z.nullable(z.string()),
});

export const jobSchema = z.object({
  id: z.string(),
  kind: z.enum(['snap', 'copy', 'unsnap', 'run', 'recover', 'promote', 'archive']),
  volume: z.string(),
  state: z.enum(['running', 'succeeded', 'failed']),
  pid: z.int(),
  host: z.string(),
  startedAt: isoTime,
  endedAt: z.nullable(isoTime),
  snapshotId: z.nullable(z.string()),
  qrvId: z.nullable(z.string()),
  destination: z.nullable(z.string()),
  steps: z.array(stepSchema),
  warnings: z.array(z.string()),
  error: z.nullable(z.object({ code: z.string(), message: z.string() })),
  /** a copy's progress, while it runs and after it stopped (schema 3) */
  progress: orNull(copyProgressSchema),
  /** the job whose copy this one resumed (qrv copy --resume) */
  resumes: orNull(z.string()),
});

export const hookMapSchema = z.object({
  'pre-snapshot': z.optional(z.string()),
  'post-snapshot': z.optional(z.string()),
  'pre-copy': z.optional(z.string()),
  'post-copy': z.optional(z.string()),
});

/** F5: the rules a sub-client or volume follows. Durations and times are kept as the admin wrote them. */
export const policySchema = z.object({
  name: z.string(),
  /** how long snapshots persist ("7d"), or null for until removed */
  persist: z.nullable(z.string()),
  /** when the copy runs: "now", "after:<duration>", "at:HH:MM", "oldest:<N>", or "never" */
  copy: z.string(),
  unsnap: z.enum(['after-copy', 'after-persist']),
  /** a path (file or folder or device) or "pool:<name>"; null: no copies */
  dest: z.nullable(z.string()),
  /** keep at most the newest N snapshots of each volume */
  keep: z.nullable(positiveInt()),
  /** cron expression for `qrv cron` snapshots */
  schedule: z.nullable(z.string()),
  /** update an existing QRV with changed blocks only (schema 3); false: rewrite it in full */
  incremental: z._default(z.boolean(), false),
  hooks: hookMapSchema,
  hookTimeout: z.nullable(z.string()),
  /** the longest a filesystem may stay frozen for a snapshot ("5s"); null: the default (issue 18) */
  maxFreeze: z.optional(z.nullable(z.string())),
  /** keep a copy that was written to while it was made, as consistency crash-torn (issue 18) */
  allowInconsistent: z.optional(z.boolean()),
  /** how application writers checkpoint before the snapshot; absent: fast (issue 15) */
  checkpoint: z.optional(z.enum(CHECKPOINTS)),
  /** the rate a copy and its read-back may read at most ("40M"); absent: no limit */
  throttle: z.optional(z.string()),
  /** the archive store `qrv cron` sends generations to (issue 14) */
  archiveTo: z.optional(z.nullable(z.string())),
  /** how often: a duration ("1d"); null: every cron run that finds a newer point in time */
  archiveEvery: z.optional(z.nullable(z.string())),
  /** the retention grid of generations ("24h,7d,4w,12m"); null: keep every generation */
  archiveKeep: z.optional(z.nullable(z.string())),
  createdAt: isoTime,
  updatedAt: isoTime,
});

export const subclientSchema = z.object({
  name: z.string(),
  volumes: z.array(z.string()),
  /** application objects it protects (schema 8): "postgresql:main/billing"; their volumes join its group */
  objects: z.optional(z.array(z.string())),
  policy: z.nullable(z.string()),
  createdAt: isoTime,
});

export const poolMemberSchema = z.object({
  /** an image file path (the QRV is that file) or a block device */
  path: z.string(),
  kind: z.enum(['file', 'block']),
  capacityBytes: count(),
  /** where the capacity came from: given with --capacity, the filesystem's free space, the device's size */
  capacityFrom: z.enum(['given', 'filesystem', 'device']),
  /** the QRV that holds the member, and its volume; null when free */
  qrvId: z.nullable(z.string()),
  volume: z.nullable(z.string()),
  addedAt: isoTime,
});

export const poolSchema = z.object({
  name: z.string(),
  members: z.array(poolMemberSchema),
  createdAt: isoTime,
});

export const settingsSchema = z.object({
  /** globs `qrv discover` and every job-running command search for image files */
  discovery: z._default(z.array(z.string()), []),
  /** paths discovery never adds again: volumes removed with `qrv volume remove` while globs were set */
  ignored: z._default(z.array(z.string()), []),
  /** how long the history store keeps finished rows, as a duration ("400d"); `qrv prune` drops older months (schema 5) */
  historyRetention: z._default(z.string(), '400d'),
});

/** An archive store (F15, schema 7): where generations go. Credentials are never kept here. */
export const storeSchema = z.object({
  name: nonEmpty(),
  kind: z.enum(['dir', 'ssh', 's3']),
  /** dir: an absolute path; ssh: [user@]host:/path; s3: s3://bucket[/prefix] */
  location: nonEmpty(),
  port: orNull(positiveInt()),
  /** ssh: `-o Key=Value` options, e.g. IdentityFile=/root/.ssh/archive */
  sshOptions: z._default(z.array(z.string()), []),
  endpoint: orNull(z.string()),
  region: orNull(z.string()),
  addedAt: isoTime,
});

/** An archive generation (F15, schema 7): one point in time of a volume, in a store. */
export const archiveSchema = z.object({
  id: z.string(),
  volume: z.string(),
  store: z.string(),
  /** the snapshot or QRV it was read from, and the snapshot behind that (whose time it holds) */
  sourceId: z.string(),
  snapshotId: z.string(),
  pointInTime: isoTime,
  consistency: consistencySchema,
  /** sending: chunks going out, no manifest yet; ready: the manifest is in the store */
  state: z.enum(['sending', 'ready', 'failed', 'removed']),
  sizeBytes: count(),
  chunkSize: positiveInt(),
  chunks: count(),
  /** the key file it is sealed with (a path, not the key), or null */
  keyFile: orNull(z.string()),
  checksum: orNull(z.string()),
  bytesRead: count(),
  bytesSent: count(),
  bytesDeduplicated: count(),
  bytesZero: count(),
  seconds: z.number().check(z.nonnegative()),
  createdAt: isoTime,
  finishedAt: orNull(isoTime),
  removedAt: orNull(isoTime),
  jobId: z.string(),
  /** what the last `qrv verify` of it found */
  lastVerify: orNull(verifyResultSchema),
  /**
   * the SHA-256 of its manifest as sent: every read of the manifest must give it, which pins every
   * segment and chunk name (absent on rows written before it was kept; optional in schema 7)
   */
  manifestDigest: z.optional(orNull(z.string().check(z.regex(/^[0-9a-f]{64}$/)))),
});

/** The default sub-client as a new catalog has it (dated at the epoch: it has always existed). */
function defaultSubclient() {
  return { name: 'default', volumes: [] as string[], policy: null, createdAt: new Date(0).toISOString() };
}

export const catalogSchema = z.object({
  schemaVersion: z.literal(SCHEMA_VERSION),
  volumes: z.array(volumeSchema),
  snapshots: z.array(snapshotSchema),
  qrvs: z.array(qrvSchema),
  jobs: z.array(jobSchema),
  policies: z._default(z.array(policySchema), []),
  subclients: z._default(z.array(subclientSchema), () => [defaultSubclient()]),
  pools: z._default(z.array(poolSchema), []),
  settings: z._default(settingsSchema, { discovery: [], ignored: [], historyRetention: '400d' }),
  stores: z._default(z.array(storeSchema), []),
  archives: z._default(z.array(archiveSchema), []),
});

export type Volume = z.infer<typeof volumeSchema>;
export type HydrationRow = z.infer<typeof hydrationSchema>;
export type RetiredPrimary = z.infer<typeof retiredPrimarySchema>;
export type Snapshot = z.infer<typeof snapshotSchema>;
export type { AppObject } from './app-object.ts';
export { appObjectSchema } from './app-object.ts';
export type SnapshotState = z.infer<typeof snapshotStateSchema>;
export type Qrv = z.infer<typeof qrvSchema>;
export type QrvHistory = z.infer<typeof qrvHistorySchema>;
export type CopyProgress = z.infer<typeof copyProgressSchema>;
export type VerifyResult = z.infer<typeof verifyResultSchema>;
export type Job = z.infer<typeof jobSchema>;
export type Step = z.infer<typeof stepSchema>;
export type Policy = z.infer<typeof policySchema>;
export type Subclient = z.infer<typeof subclientSchema>;
export type Pool = z.infer<typeof poolSchema>;
export type PoolMember = z.infer<typeof poolMemberSchema>;
export type HookMap = z.infer<typeof hookMapSchema>;
export type CatalogData = z.infer<typeof catalogSchema>;
export type StoreRow = z.infer<typeof storeSchema>;
export type ArchiveRow = z.infer<typeof archiveSchema>;

/** The sub-client every newly discovered or added volume joins. */
export const DEFAULT_SUBCLIENT = 'default';

export function emptyCatalog(): CatalogData {
  return {
    schemaVersion: SCHEMA_VERSION,
    volumes: [],
    snapshots: [],
    qrvs: [],
    jobs: [],
    policies: [],
    subclients: [defaultSubclient()],
    pools: [],
    settings: { discovery: [], ignored: [], historyRetention: '400d' },
    stores: [],
    archives: [],
  };
}
