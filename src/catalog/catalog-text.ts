// The catalog's text: parsed and validated on load (a fault names the file and the line), and the
// base written with its journal id and seal (store.ts reads and writes it, journal.ts appends).
import { QrvError } from '../core/errors.ts';
import { BASE_JOURNALED, newJournalId, sealed, sealIntact } from './journal.ts';
import { catalogSchema, READABLE_VERSIONS, SCHEMA_VERSION, type CatalogData } from './schema.ts';

/** Parses and validates catalog text; throws a QrvError that names the file and the fault. */
export function parseCatalog(text: string, file: string): CatalogData {
  return parseBase(text, file).data;
}

/**
 * The text of a base. A small catalog is pretty-printed, and is the whole catalog. A large one
 * (BASE_JOURNALED bytes and more, compact) is written compact (a quarter smaller, faster to
 * parse), names a new journal and ends in the digest of everything before it, which lets a
 * reader skip the schema check of text that is byte for byte what a checking qrv wrote (a file
 * edited by hand is checked in full).
 */
export function baseText(data: CatalogData): { text: string; journalId: string | null } {
  const compact = JSON.stringify(data);
  if (compact.length < BASE_JOURNALED) return { text: `${JSON.stringify(data, null, 2)}\n`, journalId: null };
  const journalId = newJournalId();
  return { text: `${sealed(`${compact.slice(0, -1)},"journal":"${journalId}"}`)}\n`, journalId };
}

/** A base's catalog and the journal it names (null: a base that is the whole catalog). */
export function parseBase(text: string, file: string): { data: CatalogData; journalId: string | null } {
  if (text.charCodeAt(0) === 0xfeff)
    throw corrupt(file, 'it starts with a byte order mark (U+FEFF, a UTF-8 BOM), which JSON does not allow');
  const nul = text.indexOf('\0');
  if (nul >= 0)
    throw corrupt(
      file,
      `it holds NUL bytes, the first at byte ${Buffer.byteLength(text.slice(0, nul))} (part of it was zeroed, e.g. by a crash of the filesystem)`,
    );
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw corrupt(file, `it is not valid JSON (${(error as Error).message})`);
  }
  const version = raw && typeof raw === 'object' ? (raw as { schemaVersion?: unknown }).schemaVersion : undefined;
  if (typeof version === 'number' && version > SCHEMA_VERSION) {
    throw new QrvError(
      'catalog',
      'catalog-newer',
      `catalog ${file} was written by a newer qrv (schema ${version}; this qrv reads ${SCHEMA_VERSION})`,
      'upgrade qrv on this host; the catalog was left untouched',
    );
  }
  const named = raw && typeof raw === 'object' ? (raw as { journal?: unknown }).journal : undefined;
  if (named !== undefined && (typeof named !== 'string' || !/^[0-9a-f]{16}$/.test(named)))
    throw corrupt(file, 'journal: not a journal id');
  const journalId = (named as string | undefined) ?? null;
  if (version === SCHEMA_VERSION && journalId !== null && sealIntact(text)) {
    const data = raw as CatalogData & { journal?: string; digest?: string };
    delete data.journal;
    delete data.digest;
    return { data, journalId };
  }
  // Older versions gain the newer fields' defaults as they are parsed, then carry today's number.
  const upgraded =
    typeof version === 'number' && version < SCHEMA_VERSION && READABLE_VERSIONS.includes(version)
      ? { ...(raw as object), schemaVersion: SCHEMA_VERSION }
      : raw;
  const result = catalogSchema.safeParse(upgraded);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue ? issue.path.join('.') || '(top level)' : '(unknown)';
    throw corrupt(file, `${where}: ${issue?.message ?? 'does not match the schema'}`);
  }
  if (upgraded !== raw && version === 1) {
    // Version 1 had no sub-clients: every volume it knew joins the default one, as a new one would.
    const byDefault = result.data.subclients.find((s) => s.name === 'default');
    if (byDefault)
      for (const volume of result.data.volumes)
        if (!byDefault.volumes.includes(volume.name)) byDefault.volumes.push(volume.name);
  }
  return { data: result.data, journalId };
}

/**
 * The text of a message made printable on one line: control characters (C0, DEL, C1), line and
 * paragraph separators, bidirectional and other invisible format characters become \xNN or
 * \uNNNN, and a long text is cut (JSON.parse quotes the file around the fault).
 */
export function printable(text: string, max = 240): string {
  const escaped = text.replace(
    /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]/g,
    (c) => {
      const code = c.charCodeAt(0);
      return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
    },
  );
  return escaped.length > max ? `${escaped.slice(0, max)}…` : escaped;
}

export function corrupt(file: string, why: string): QrvError {
  return new QrvError(
    'catalog',
    'catalog-corrupt',
    `catalog ${file} is corrupt: ${printable(why)}`,
    'qrv left it untouched; restore it from a backup or move it aside to start a new catalog',
  );
}
