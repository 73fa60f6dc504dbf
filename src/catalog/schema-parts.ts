// The pieces every catalog row schema is made of (schema.ts): zod/mini with its English messages
// only, the field kinds, and a retired primary's row.
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
