// A real S3-protocol server for the S3 store's tests: s3rver (npm), which keeps objects in a
// folder, started by the test on 127.0.0.1 with a bucket, and stopped when the test ends. The
// store reaches it through the AWS SDK with credentials from the environment, as in production.
import S3rver from 's3rver';
import { tmpDir } from './tmp.ts';

export interface S3Server {
  endpoint: string;
  bucket: string;
  /** where the server keeps its objects */
  dir: string;
  stop(): Promise<void>;
}

export async function startS3(t: { teardown: (fn: () => unknown) => void }, bucket = 'qrv-archive'): Promise<S3Server> {
  const dir = await tmpDir(t, 'qrv-s3-');
  const server = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory: dir,
    configureBuckets: [{ name: bucket, configs: [] }],
  });
  const { port } = (await server.run()) as { port: number };
  // s3rver takes its own well-known key pair; the store finds it where it would find any
  process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
  process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
  const stop = async (): Promise<void> => {
    await server.close().catch(() => undefined);
  };
  t.teardown(stop);
  return { endpoint: `http://127.0.0.1:${port}`, bucket, dir, stop };
}
