// The pieces every catalog row schema is made of (schema.ts): zod/mini with its English messages
// only, the field kinds, and the volume's sub-rows: a retired primary, an instant recovery.
import en from 'zod/v4/locales/en.js';
import * as z from 'zod/mini';

// only English: `z.locales.en()` would bundle every locale zod has (~290 KB)
z.config(en());

/** A whole number ≥ 0, and > 0. */
export const count = () => z.int().check(z.nonnegative());
export const positiveInt = () => z.int().check(z.positive());
export const nonEmpty = () => z.string().check(z.minLength(1));
/** null when absent (a field older rows do not have) */
export const orNull = <T extends z.ZodMiniType>(schema: T) => z._default(z.nullable(schema), null);

export const isoTime = z.iso.datetime({ offset: true });

/** A primary the volume had before `qrv promote` moved it to a QRV (schema 4). */
export const retiredPrimarySchema = z.object({
  path: nonEmpty(),
  provider: nonEmpty(),
  options: z.record(z.string(), z.string()),
  sizeBytes: count(),
  /** when it stopped being the primary */
  retiredAt: isoTime,
  /** the QRV that became the primary instead, the snapshot that QRV reflected, and the job */
  promotedQrv: z.string(),
  snapshotId: z.string(),
  jobId: z.string(),
});

/**
 * An instant recovery under way (schema 9): the volume's device reads the copy while the kernel
 * copies it onto the volume (src/providers/hydrate/). Absent when none is.
 */
export const hydrationSchema = z.object({
  /** the recovery job that began it; names its helper devices and files */
  job: nonEmpty(),
  qrv: nonEmpty(),
  /** the QRV's image file or block device */
  image: nonEmpty(),
  /** the volume's block device */
  device: nonEmpty(),
  sizeBytes: count(),
  /** folder of its COW store and region log */
  dir: nonEmpty(),
  startedAt: isoTime,
  /** when the volume's device became the mirror; absent while it is being made (a kill then left nothing to go on with) */
  attachedAt: z.optional(isoTime),
});
