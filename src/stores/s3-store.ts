// An archive store in an S3-compatible object store, through the maintained AWS SDK client. Its
// credentials come from the standard chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE,
// ~/.aws/credentials, …), never from the catalog. The SDK's default request checksums (CRC32 on
// every PUT since 3.729) are off unless an operation needs them: several non-AWS servers reject
// them. A PUT is atomic in S3, so an object is there whole or not at all. The SDK is loaded only
// when an S3 store is opened.
import { QrvError } from '../core/errors.ts';
import {
  checkFolder,
  checkKey,
  objectMissing,
  storeFailed,
  tooLarge,
  type ArchiveStore,
  type StoreLocation,
  type StoreObject,
} from './store.ts';

type Sdk = typeof import('@aws-sdk/client-s3');
type Client = import('@aws-sdk/client-s3').S3Client;

const LOCATION = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/;

export function parseS3Location(location: string): { bucket: string; prefix: string } {
  const match = LOCATION.exec(location);
  const prefix = (match?.[2] ?? '').replace(/\/+$/, '');
  if (!match || (prefix && prefix.split('/').some((part) => !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(part))))
    throw new QrvError(
      'usage',
      'bad-store',
      `not an S3 store location: ${location}`,
      'write it as s3://bucket or s3://bucket/prefix (letters, digits, ".", "_" and "-")',
    );
  return { bucket: match[1]!, prefix };
}

export async function openS3Store(location: StoreLocation, create = false): Promise<ArchiveStore> {
  const { bucket, prefix } = parseS3Location(location.location);
  // the SDK warns on every start under Node 20 that later versions will need Node 22
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  // bundled, the SDK (CommonJS) arrives as the default export of its namespace
  const loaded = (await import('@aws-sdk/client-s3')) as Sdk & { default?: Sdk };
  const sdk: Sdk = loaded.S3Client ? loaded : loaded.default!;
  const client = new sdk.S3Client({
    ...(location.endpoint ? { endpoint: location.endpoint, forcePathStyle: true } : {}),
    region: location.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 4,
  });
  const store = new S3Store(location.location, sdk, client, bucket, prefix);
  try {
    await store.checkBucket(create);
  } catch (error) {
    client.destroy();
    throw error;
  }
  return store;
}

/** The most objects one listing may return (16 MiB packs: 256 TiB), and pages (S3 gives 1,000 a page). */
const MAX_LISTED = 16 * 1024 * 1024;
const MAX_PAGES = MAX_LISTED / 100;

/**
 * The body of a ranged GET, refused once it holds more than the range: a server that ignores the
 * Range header (or sends without end) would otherwise have qrv hold all of it.
 */
async function atMost(body: AsyncIterable<Uint8Array> & { destroy?: () => void }, length: number): Promise<Buffer> {
  const pieces: Uint8Array[] = [];
  let got = 0;
  for await (const piece of body) {
    got += piece.length;
    if (got > length) {
      body.destroy?.();
      throw new Error(`the server sent more than the ${length} bytes asked for`);
    }
    pieces.push(piece);
  }
  return Buffer.concat(pieces);
}

/** The HTTP status of an SDK error, if it got that far. */
function status(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

function isMissing(error: unknown): boolean {
  const name = (error as { name?: string }).name;
  return name === 'NoSuchKey' || name === 'NotFound' || status(error) === 404;
}

class S3Store implements ArchiveStore {
  readonly kind = 's3' as const;

  constructor(
    readonly where: string,
    private readonly sdk: Sdk,
    private readonly client: Client,
    private readonly bucket: string,
    private readonly prefix: string,
  ) {}

  private at(key: string): string {
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  private failure(doing: string, error: unknown): QrvError {
    if (error instanceof QrvError) return error;
    const name = (error as { name?: string }).name ?? '';
    const code = (error as { code?: string }).code ?? '';
    const message = (error as Error).message ?? String(error);
    if (name === 'CredentialsProviderError')
      return new QrvError(
        'io',
        'store-failed',
        `no credentials for the archive store ${this.where}: ${message}`,
        'set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) in the environment qrv runs in',
      );
    if (status(error) === undefined && /ECONNREFUSED|ENOTFOUND|ETIMEDOUT|EHOSTUNREACH|ECONNRESET/.test(code + message))
      return new QrvError(
        'io',
        'store-unreachable',
        `cannot reach the archive store ${this.where}: ${code || message}`,
        'check the endpoint URL and that the server runs',
      );
    return storeFailed(
      this.where,
      doing,
      `${name || 'error'}${status(error) ? ` (HTTP ${status(error)})` : ''}: ${message}`,
    );
  }

  async checkBucket(create: boolean): Promise<void> {
    try {
      await this.client.send(new this.sdk.HeadBucketCommand({ Bucket: this.bucket }));
    } catch (error) {
      if (!isMissing(error)) throw this.failure('open the bucket', error);
      if (!create)
        throw new QrvError(
          'io',
          'store-failed',
          `the bucket of the archive store ${this.where} does not exist`,
          'make it first',
        );
      await this.client
        .send(new this.sdk.CreateBucketCommand({ Bucket: this.bucket }))
        .catch((e: unknown) => Promise.reject(this.failure('make the bucket', e)));
    }
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    checkKey(key);
    try {
      await this.client.send(
        new this.sdk.PutObjectCommand({
          Bucket: this.bucket,
          Key: this.at(key),
          Body: data,
          ContentLength: data.length,
        }),
      );
    } catch (error) {
      throw this.failure(`write ${key}`, error);
    }
  }

  async get(key: string, limit: number): Promise<Buffer> {
    return this.reading(key, null, limit);
  }

  async getRange(key: string, offset: number, length: number): Promise<Buffer> {
    if (length === 0) return Buffer.alloc(0);
    return this.reading(key, { offset, length });
  }

  private async reading(
    key: string,
    range: { offset: number; length: number } | null,
    limit = Number.MAX_SAFE_INTEGER,
  ): Promise<Buffer> {
    checkKey(key);
    try {
      const Range = range ? `bytes=${range.offset}-${range.offset + range.length - 1}` : undefined;
      const reply = await this.client.send(
        new this.sdk.GetObjectCommand({ Bucket: this.bucket, Key: this.at(key), ...(Range ? { Range } : {}) }),
      );
      const body = reply.Body as AsyncIterable<Uint8Array> & { destroy?: () => void };
      if (range) return await atMost(body, range.length);
      if ((reply.ContentLength ?? 0) > limit) {
        body.destroy?.();
        throw tooLarge(this.where, key, limit);
      }
      return await atMost(body, limit);
    } catch (error) {
      if (isMissing(error)) throw objectMissing(this.where, key);
      // a range that begins past the end: the object is shorter, which the caller judges
      if (range && (error as { name?: string }).name === 'InvalidRange') return Buffer.alloc(0);
      throw this.failure(`read ${key}`, error);
    }
  }

  async size(key: string): Promise<number | null> {
    checkKey(key);
    try {
      const reply = await this.client.send(new this.sdk.HeadObjectCommand({ Bucket: this.bucket, Key: this.at(key) }));
      return reply.ContentLength ?? 0;
    } catch (error) {
      if (isMissing(error)) return null;
      throw this.failure(`look up ${key}`, error);
    }
  }

  async list(folder: string): Promise<StoreObject[]> {
    const prefix = this.at(checkFolder(folder));
    const strip = this.prefix ? this.prefix.length + 1 : 0;
    const found: StoreObject[] = [];
    const tokens = new Set<string>();
    let token: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new this.sdk.ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const object of page.Contents ?? [])
          if (object.Key) found.push({ key: object.Key.slice(strip), size: object.Size ?? 0 });
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
        // a server that hands back a token it gave before, or pages without end, would be asked for ever
        if (token && (tokens.has(token) || tokens.size >= MAX_PAGES || found.length > MAX_LISTED))
          throw new Error(`the server lists without an end (${tokens.size + 1} pages, ${found.length} objects)`);
        if (token) tokens.add(token);
      } while (token);
    } catch (error) {
      throw this.failure(`list ${folder || 'the store'}`, error);
    }
    return found;
  }

  async remove(key: string): Promise<void> {
    checkKey(key);
    try {
      await this.client.send(new this.sdk.DeleteObjectCommand({ Bucket: this.bucket, Key: this.at(key) }));
    } catch (error) {
      if (!isMissing(error)) throw this.failure(`remove ${key}`, error);
    }
  }

  async flush(): Promise<void> {
    // a PUT that returned is stored
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
