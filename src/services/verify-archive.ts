// `qrv verify a-… [--deep]`: checks an archive generation in its store (src/archive/check.ts)
// and keeps the result on its row, as `qrv verify` does for a QRV. Without --deep it reads the
// manifest and the store's listing; with --deep it fetches every chunk.
import { findArchive } from '../catalog/lookup.ts';
import { QrvError } from '../core/errors.ts';
import type { Context } from '../engine/context.ts';
import type { Summary } from '../output/printer.ts';
import { checkGeneration } from '../archive/check.ts';
import { readManifest } from '../archive/manifest.ts';
import { accessGeneration } from './stores.ts';

export async function verifyArchive(ctx: Context, request: { id: string; deep: boolean }): Promise<Summary> {
  const data = await ctx.catalog.read();
  const row = findArchive(data, request.id);
  if (row.state !== 'ready')
    throw new QrvError(
      'refused',
      'archive-not-ready',
      `archive generation ${row.id} is ${row.state}; only a ready one has a manifest to check`,
      row.state === 'removed' ? 'nothing to do' : `finish it first: qrv archive --resume ${row.jobId}`,
    );
  const { store, key, close } = await accessGeneration(ctx, row.store, row.keyFile, {
    kind: 'shared',
    command: `verify ${row.id}`,
  });
  let outcome;
  try {
    const manifest = await readManifest(store, row.volume, row.id, key, row.manifestDigest);
    outcome = await checkGeneration(store, manifest, key, { deep: request.deep, reporter: ctx.reporter });
    if ((row.checksum && manifest.checksum !== row.checksum) || manifest.sizeBytes !== row.sizeBytes)
      outcome.damaged.unshift(
        `(the manifest names ${manifest.sizeBytes} bytes and ${manifest.checksum}, not the ${row.sizeBytes} and ${String(row.checksum)} recorded when it was sent)`,
      );
    if (outcome.checksum !== null && outcome.checksum !== manifest.checksum && outcome.damaged.length === 0)
      outcome.damaged.push(`(the image reads as ${outcome.checksum}, not ${manifest.checksum})`);
  } finally {
    await close();
  }
  const bad = outcome.missing.length + outcome.damaged.length;
  const lastVerify = { at: ctx.now().toISOString(), ok: bad === 0, badBlocks: bad, deep: request.deep };
  await ctx.catalog.update((catalog) => {
    const live = catalog.archives.find((a) => a.id === row.id);
    if (live) live.lastVerify = lastVerify;
  });
  const lines = [
    ...outcome.missing.map((name) => `missing: pack ${name}`),
    ...outcome.damaged.map((name) => `damaged: ${name}`),
    bad === 0
      ? `${row.id} in ${row.store}: the manifest and all ${outcome.packs} packs it uses are there${request.deep ? `, every segment and chunk matches its name, and the image reads as ${outcome.checksum}` : ' (--deep reads them)'}`
      : `${row.id} in ${row.store}: ${outcome.missing.length} of its ${outcome.packs} packs missing, ${outcome.damaged.length} damaged: recover from another generation`,
  ];
  return {
    data: { archive: row.id, ok: bad === 0, deep: request.deep, missing: outcome.missing, damaged: outcome.damaged },
    lines,
    ...(bad === 0 ? {} : { exit: 'verify' as const }),
  };
}
