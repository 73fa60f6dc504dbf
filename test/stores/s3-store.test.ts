import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { openS3Store, parseS3Location } from '../../src/stores/s3-store.ts';
import type { StoreLocation } from '../../src/stores/store.ts';
import { startS3 } from '../helpers/s3-server.ts';
import { storeContract } from '../helpers/store-contract.ts';

t.test('locations are checked', async (t) => {
  t.same(parseS3Location('s3://qrv-archive/hosts/web1/'), { bucket: 'qrv-archive', prefix: 'hosts/web1' });
  t.same(parseS3Location('s3://qrv-archive'), { bucket: 'qrv-archive', prefix: '' });
  for (const bad of ['s3://A/x', 'http://b/x', 's3://bucket/../x', 's3://b'])
    t.throws(() => parseS3Location(bad), { code: 'bad-store' }, bad);
});

t.test('against a real S3-protocol server on loopback (s3rver)', async (t) => {
  const s3 = await startS3(t);
  const location = (extra: Partial<StoreLocation> = {}): StoreLocation => ({
    kind: 's3',
    location: `s3://${s3.bucket}/host-a`,
    endpoint: s3.endpoint,
    ...extra,
  });

  t.test('the S3 store passes the store contract', async (t) => {
    storeContract(t, { open: () => openS3Store(location()) });
  });

  t.test('a prefix keeps stores apart in one bucket', async (t) => {
    const a = await openS3Store(location());
    const b = await openS3Store(location({ location: `s3://${s3.bucket}/host-b` }));
    t.teardown(async () => {
      await a.close();
      await b.close();
    });
    await b.put('only/b', Buffer.from('b'));
    t.same(await a.list('only/'), []);
    t.same(await b.list('only/'), [{ key: 'only/b', size: 1 }]);
  });

  t.test('a missing bucket, and a server that is not there, are one line each', async (t) => {
    await t.rejects(openS3Store(location({ location: 's3://no-such-bucket/x' })), {
      code: 'store-failed',
      message: /bucket .* does not exist/,
    });
    const made = await openS3Store(location({ location: 's3://made-by-qrv/x' }), true);
    await made.close();
    await s3.stop();
    await t.rejects(openS3Store(location()), { code: 'store-unreachable', message: /ECONNREFUSED/ });
  });
});

t.test('a hostile S3 server that ignores Range and sends without end is cut off at the range', async (t) => {
  process.env.AWS_ACCESS_KEY_ID ??= 'HOSTILE';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'HOSTILE';
  let sent = 0;
  const server = http.createServer((request, response) => {
    if (request.method !== 'GET') return void response.writeHead(200).end();
    response.writeHead(200, { 'Content-Type': 'application/octet-stream' }); // chunked: no length said
    const junk = Buffer.alloc(1024 * 1024, 0x41);
    const more = () => {
      while (sent < 256 * 1024 * 1024) {
        sent += junk.length;
        if (!response.write(junk)) break;
      }
      if (sent >= 256 * 1024 * 1024) response.end();
    };
    response.on('drain', more);
    response.on('close', () => response.off('drain', more));
    more();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  const { port } = server.address() as AddressInfo;
  const store = await openS3Store({ kind: 's3', location: 's3://hostile/x', endpoint: `http://127.0.0.1:${port}` });
  t.teardown(() => store.close());
  await t.rejects(store.getRange('packs/a-000000000001/00000001', 0, 16), {
    code: 'store-failed',
    message: /the server sent more than the 16 bytes asked for/,
  });
  t.ok(sent < 64 * 1024 * 1024, `it stopped reading: ${sent >> 20} MiB of 256 were sent`);
});

t.test('a hostile S3 server that lists without end (the same continuation token again) is refused', async (t) => {
  process.env.AWS_ACCESS_KEY_ID ??= 'HOSTILE';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'HOSTILE';
  let pages = 0;
  const server = http.createServer((request, response) => {
    if (request.method !== 'GET') return void response.writeHead(200).end();
    pages++;
    response.writeHead(200, { 'Content-Type': 'application/xml' });
    response.end(
      '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>hostile</Name><Prefix>x/</Prefix>' +
        '<KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>' +
        '<NextContinuationToken>again</NextContinuationToken></ListBucketResult>',
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  const { port } = server.address() as AddressInfo;
  const store = await openS3Store({ kind: 's3', location: 's3://hostile/x', endpoint: `http://127.0.0.1:${port}` });
  t.teardown(() => store.close());
  const timeout = new Promise((resolve) => setTimeout(() => resolve('still listing after 10 s'), 10000).unref());
  const listed = store.list('packs/').then(
    () => 'listed',
    (error: Error & { code?: string }) => `${error.code}: ${error.message}`,
  );
  t.match(
    await Promise.race([listed, timeout]),
    /^store-failed: .*the server lists without an end \(2 pages, 0 objects\)/,
  );
  t.equal(pages, 2, 'asked twice');
});
