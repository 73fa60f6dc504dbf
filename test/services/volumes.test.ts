// `qrv volume add` as a service, against a real catalog in a temporary home: every refusal with its
// exit and code (the first failing check decides it, the catalog byte for byte as it was), and a
// provider that takes the device over (a fake dm) given back when the volume is not recorded.
import t, { type Test } from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Catalog } from '../../src/catalog/store.ts';
import { Reporter } from '../../src/core/events.ts';
import * as errors from '../../src/core/errors.ts';
import { QrvError } from '../../src/core/errors.ts';
import type { Context } from '../../src/engine/context.ts';
import type { Provider, VolumeRef } from '../../src/providers/provider.ts';
import { getProvider } from '../../src/providers/registry.ts';
import type * as Volumes from '../../src/services/volumes.ts';
import { refused } from '../helpers/assert.ts';
import { tmpDir } from '../helpers/tmp.ts';

const AT = '2025-03-04T05:06:07.000Z';

/** What the fake adopting provider does, and what it was asked. */
interface Fake {
  calls: string[];
  inspectError?: Error;
  releaseError?: Error;
  /** the path adopt returns (default: /dev/mapper/qrv-NAME) */
  adoptedPath?: string;
}

/** A provider that takes a device over, like dm, without device-mapper. */
function fakeProvider(fake: Fake): Provider {
  const real = getProvider('file');
  return {
    ...real,
    name: 'fakedm',
    defaultOptions: (device: string) => ({ cowPercent: '10', seen: device }),
    adopt: async (volume: VolumeRef) => {
      fake.calls.push(`adopt ${volume.path} device=${volume.options.device}`);
      return { ...volume, path: fake.adoptedPath ?? `/dev/mapper/qrv-${volume.name}` };
    },
    release: async (volume: VolumeRef) => {
      fake.calls.push(`release ${volume.path}`);
      if (fake.releaseError) throw fake.releaseError;
    },
    inspect: async (volume: VolumeRef) => {
      fake.calls.push(`inspect ${volume.path}`);
      if (fake.inspectError) throw fake.inspectError;
      return { sizeBytes: 1 << 20, kind: 'block' };
    },
  };
}

async function setup(t: Test, fake: Fake = { calls: [] }) {
  const { addVolume } = await t.mockImport<typeof Volumes>('../../src/services/volumes.ts', {
    // the same QrvError class as the test's, so that `instanceof` holds
    '../../src/core/errors.ts': errors,
    '../../src/providers/registry.ts': {
      getProvider: (name: string) => (name === 'fakedm' ? fakeProvider(fake) : getProvider(name)),
    },
  });
  const dir = await fs.realpath(await tmpDir(t));
  const catalog = await Catalog.open(path.join(dir, 'home'));
  const ctx: Context = { catalog, reporter: new Reporter(), now: () => new Date(AT) };
  const image = path.join(dir, 'web.img');
  await fs.writeFile(image, Buffer.alloc(1 << 20));
  const added = await addVolume(ctx, { name: 'web', provider: 'file', path: image });
  t.match(added.lines, [`added volume web (file, ${image}) to sub-client default`]);
  return { dir, ctx, image, file: catalog.file, add: (request: Volumes.AddVolumeRequest) => addVolume(ctx, request) };
}

t.test('the request is checked in order, before anything is looked at', async (t) => {
  const { dir, file, add } = await setup(t);
  const missing = path.join(dir, 'nothere.img');
  const usage = async (request: Volumes.AddVolumeRequest, code: string, message: RegExp) =>
    refused(t, file, () => add(request), 'usage', code, message);
  await usage({ name: '-x', provider: 'nosuch' }, 'bad-volume-name', /^volume name "-x" is not allowed$/);
  await usage({ name: 'a'.repeat(65), provider: 'file', path: missing }, 'bad-volume-name', /is not allowed/);
  await usage({ name: 'v', provider: 'nosuch', path: missing }, 'unknown-provider', /^unknown provider "nosuch"$/);
  await usage(
    { name: 'v', provider: 'file', path: missing, device: missing, cowDir: dir },
    'path-and-device',
    /^give --path or --device, not both$/,
  );
  await usage(
    { name: 'v', provider: 'file', device: missing, cowDir: dir },
    'device-needs-dm',
    /^--device is for providers that take a device over \(dm\), not file$/,
  );
  await usage(
    { name: 'v', provider: 'lvm', path: missing, cowDir: dir, snapshotDir: dir },
    'option-needs-dm',
    /^--cow-dir is for the dm provider, not lvm$/,
  );
  await usage(
    { name: 'v', provider: 'file', path: missing, cowDevice: missing },
    'option-needs-dm',
    /^--cow-device is for the dm provider, not file$/,
  );
  await usage({ name: 'v', provider: 'lvm', snapshotDir: dir }, 'option-needs-file', /^--snapshot-dir is for/);
  await usage({ name: 'v', provider: 'file', cowPercent: '0' }, 'missing-path', /^no volume given$/);
  for (const bad of ['0', '101', 'abc', '-5', '', '1e2', '0x10'])
    await usage(
      { name: 'v', provider: 'lvm', path: missing, cowPercent: bad },
      'bad-cow-percent',
      new RegExp(`^--cow-percent ${bad} is not a percentage$`),
    );
});

t.test('the hints name what fits the provider', async (t) => {
  const { dir, add } = await setup(t);
  const hint = async (request: Volumes.AddVolumeRequest, code: string, expected: string) => {
    const error = await add(request).catch((caught: unknown) => caught);
    t.ok(error instanceof QrvError, `${code}: a QrvError`);
    t.match(error, { code, hint: expected });
  };
  await hint({ name: 'v', provider: 'file' }, 'missing-path', 'give the image or device with --path');
  await hint({ name: 'v', provider: 'fakedm' }, 'missing-path', 'give the block device with --device /dev/sdX');
  await hint(
    { name: 'v', provider: 'lvm', path: dir, snapshotDir: dir },
    'option-needs-file',
    'leave it out: lvm snapshots are logical volumes in the volume group',
  );
  await hint(
    { name: 'v', provider: 'fakedm', device: dir, snapshotDir: dir },
    'option-needs-file',
    'leave it out: dm snapshots keep their changes in a COW store (--cow-dir, --cow-device)',
  );
  await hint({ name: 'v', provider: 'file', device: dir }, 'device-needs-dm', 'use --path');
});

t.test('a file volume: it must exist, be a disk image, and have a snapshot folder that can be made', async (t) => {
  const { dir, image, file, add } = await setup(t);
  const missing = path.join(dir, 'nothere.img');
  await refused(t, file, () => add({ name: 'v', provider: 'file', path: missing }), 'io', 'volume-missing', /ENOENT/);
  const error = await add({ name: 'v', provider: 'file', path: missing }).catch((caught: unknown) => caught);
  t.match(error, { hint: 'check the path: the volume must exist before it is added' }, 'the hint says what to check');
  const small = path.join(dir, 'notes.txt');
  await fs.writeFile(small, 'x'.repeat(1000));
  await refused(
    t,
    file,
    () => add({ name: 'v', provider: 'file', path: small }),
    'usage',
    'not-an-image',
    new RegExp(`^volume "v": ${small} is not a disk image: it holds 1000 bytes`),
  );
  const other = path.join(dir, 'other.img');
  await fs.writeFile(other, Buffer.alloc(1 << 20));
  await refused(
    t,
    file,
    () => add({ name: 'v', provider: 'file', path: other, snapshotDir: path.join(small, 'store') }),
    'usage',
    'bad-snapshot-dir',
    new RegExp(`: ${small} is not a folder$`),
  );
  await refused(
    t,
    file,
    () => add({ name: 'web', provider: 'file', path: other }),
    'refused',
    'volume-exists',
    /^a volume named "web" exists already$/,
  );
  await refused(
    t,
    file,
    () => add({ name: 'v', provider: 'file', path: image }),
    'refused',
    'volume-path-known',
    new RegExp(`^${image} is volume "web" already$`),
  );
  const added = await add({ name: 'v', provider: 'file', path: other, snapshotDir: path.join(dir, 'store') });
  t.match(added.data.volume, { name: 'v', path: other, options: { snapshotDir: path.join(dir, 'store') } });
});

t.test('a provider that takes the device over: adopted, recorded under its new path', async (t) => {
  const fake: Fake = { calls: [] };
  const { dir, ctx, add } = await setup(t, fake);
  const device = path.join(dir, 'sdb');
  const added = await add({ name: 'db', provider: 'fakedm', device, cowDir: 'cow', cowPercent: '020.50' });
  t.same(fake.calls, [`adopt ${device} device=${device}`, 'inspect /dev/mapper/qrv-db']);
  t.match(added.data.volume, {
    name: 'db',
    provider: 'fakedm',
    path: '/dev/mapper/qrv-db',
    options: { device, cowDir: path.resolve('cow'), cowPercent: '20.5', seen: device },
    sizeBytes: 1 << 20,
    addedAt: AT,
  });
  t.same(added.lines, [
    `added volume db (fakedm, /dev/mapper/qrv-db) to sub-client default over ${device}: use /dev/mapper/qrv-db from now on`,
  ]);
  const data = await ctx.catalog.read();
  t.same(
    data.volumes.map((v) => v.name),
    ['web', 'db'],
  );
});

t.test('a device taken over is given back when the volume is not recorded', async (t) => {
  t.test('refused before adopt: nothing is taken over', async (t) => {
    const fake: Fake = { calls: [] };
    const { dir, file, add } = await setup(t, fake);
    const device = path.join(dir, 'sdb');
    await refused(t, file, () => add({ name: 'web', provider: 'fakedm', device }), 'refused', 'volume-exists', /web/);
    t.same(fake.calls, [], 'adopt was not called');
  });
  t.test('inspect fails: released, and the error keeps its code with the path hint', async (t) => {
    const fake: Fake = { calls: [] };
    const { dir, file, add } = await setup(t, fake);
    const device = path.join(dir, 'sdb');
    fake.inspectError = new QrvError('io', 'volume-missing', 'volume "db": cannot use it', 'put it back');
    await refused(t, file, () => add({ name: 'db', provider: 'fakedm', device }), 'io', 'volume-missing', /cannot use/);
    t.same(fake.calls, [
      `adopt ${device} device=${device}`,
      'inspect /dev/mapper/qrv-db',
      'release /dev/mapper/qrv-db',
    ]);
    const error = await add({ name: 'db', provider: 'fakedm', device }).catch((caught: unknown) => caught);
    t.match(error, { hint: 'check the path: the volume must exist before it is added' });
    fake.inspectError = new Error('EIO');
    await t.rejects(add({ name: 'db', provider: 'fakedm', device }), /^EIO$/, 'any other error as it is');
  });
  t.test('the catalog refuses the new path: released', async (t) => {
    const fake: Fake = { calls: [] };
    const { dir, image, file, add } = await setup(t, fake);
    fake.adoptedPath = image;
    const device = path.join(dir, 'sdb');
    await refused(
      t,
      file,
      () => add({ name: 'db', provider: 'fakedm', device }),
      'refused',
      'volume-path-known',
      new RegExp(`^${image} is volume "web" already$`),
    );
    t.same(fake.calls, [`adopt ${device} device=${device}`, `inspect ${image}`, `release ${image}`]);
  });
  t.test('it cannot be given back: release-failed names both and what to do', async (t) => {
    const fake: Fake = { calls: [] };
    const { dir, file, add } = await setup(t, fake);
    const device = path.join(dir, 'sdb');
    fake.inspectError = new Error('EIO');
    fake.releaseError = new Error('device busy');
    await refused(
      t,
      file,
      () => add({ name: 'db', provider: 'fakedm', device }),
      'io',
      'release-failed',
      /^volume "db" was not added \(EIO\), and \/dev\/mapper\/qrv-db could not be given back: device busy$/,
    );
    const error = await add({ name: 'db', provider: 'fakedm', device }).catch((caught: unknown) => caught);
    t.match(error, { hint: 'remove it by hand (dmsetup remove qrv-db) when nothing uses it' });
    t.equal((error as Error).cause, fake.inspectError, 'the first error is its cause');
  });
});
