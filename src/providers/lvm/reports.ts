// Reading LVM's own reports: `lvs --reportformat json --units b` (lvm2 ≥ 2.02.158), and
// `thin_delta`'s XML between two thin devices of a pool. Parsed here, tested against output
// captured in the VM lane (test/vm/captured/).
import { mergeRanges, type ByteRange } from '../../core/byte-range.ts';

export interface LvRow {
  name: string;
  vg: string;
  /** lv_attr, e.g. "owi-aos---"; [0] is the volume type (o origin, s snapshot, V thin, t pool, -) */
  attr: string;
  sizeBytes: number;
  /** the origin of a snapshot, "" otherwise */
  origin: string;
  /** the thin pool of a thin LV, "" otherwise */
  pool: string;
  tags: string[];
  /** how full a classic snapshot's COW store (or a thin LV's data) is, in %; null when not reported */
  percent: number | null;
  /** the device id of a thin LV inside its pool (thin_delta's --snap1/--snap2); null for others */
  thinId: number | null;
}

/** A classic snapshot the kernel dropped because its COW store overflowed (lv_attr state "I" or "S"). */
export function snapshotInvalid(row: LvRow): boolean {
  return row.attr[0] === 's' && (row.attr[4] === 'I' || row.attr[4] === 'S');
}

/** The rows of an `lvs --reportformat json` output, or null when it is not that. */
export function parseLvs(output: string): LvRow[] | null {
  let json: unknown;
  try {
    json = JSON.parse(output);
  } catch {
    return null;
  }
  const reports = (json as { report?: Array<{ lv?: Array<Record<string, string>> }> }).report;
  if (!Array.isArray(reports)) return null;
  const rows: LvRow[] = [];
  for (const report of reports) {
    for (const lv of report.lv ?? []) {
      const size = /^(\d+)B?$/.exec(lv.lv_size ?? '');
      if (!lv.lv_name || !lv.vg_name || !size) return null;
      const percent = lv.snap_percent || lv.data_percent;
      rows.push({
        name: lv.lv_name,
        vg: lv.vg_name,
        attr: lv.lv_attr ?? '',
        sizeBytes: Number(size[1]),
        origin: lv.origin ?? '',
        pool: lv.pool_lv ?? '',
        tags: lv.lv_tags ? lv.lv_tags.split(',') : [],
        percent: percent ? Number(percent) : null,
        thinId: /^\d+$/.test(lv.thin_id ?? '') ? Number(lv.thin_id) : null,
      });
    }
  }
  return rows;
}

/** The fields every `lvs` call of the provider asks for. */
export const LVS_FIELDS = 'lv_name,vg_name,lv_attr,lv_size,origin,snap_percent,data_percent,lv_tags,pool_lv,thin_id';

/** The tag that names the qrv snapshot id of an LV qrv made. */
export const SNAPSHOT_TAG = 'qrv-snapshot:';

export function snapshotIdOf(row: LvRow): string | undefined {
  return row.tags.find((tag) => tag.startsWith(SNAPSHOT_TAG))?.slice(SNAPSHOT_TAG.length);
}

/**
 * The byte ranges that `thin_delta` reports as not the same between its two devices (different,
 * left only, right only), sorted and merged, clipped to `sizeBytes`; null when the output is not a
 * thin_delta report. Its block numbers are in units of the pool's data block size (sectors).
 */
export function parseThinDelta(xml: string, sizeBytes: number): ByteRange[] | null {
  const superblock = /<superblock\b[^>]*\bdata_block_size="(\d+)"/.exec(xml);
  if (!superblock || !/<diff\b/.test(xml) || !/<\/superblock>/.test(xml)) return null;
  const blockBytes = Number(superblock[1]) * 512;
  if (!(blockBytes > 0)) return null;
  const ranges: ByteRange[] = [];
  for (const match of xml.matchAll(/<(same|different|left_only|right_only)\s+begin="(\d+)"\s+length="(\d+)"\s*\/>/g)) {
    if (match[1] === 'same') continue;
    const start = Number(match[2]) * blockBytes;
    ranges.push({ start, end: Math.min(sizeBytes, start + Number(match[3]) * blockBytes) });
  }
  return mergeRanges(ranges);
}
