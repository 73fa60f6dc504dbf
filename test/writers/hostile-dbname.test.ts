// A database named like a connection string ("host=/elsewhere dbname=postgres"): anyone allowed
// CREATE DATABASE in a cluster chooses names, and libpq reads a -d argument with an "=" in it as a
// whole connection string whose host wins over qrv's -h; qrv must reach the database it names, on
// the server it means, never a server of the creator's choosing.
import fs from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { dumpTo } from '../../src/services/recover-postgresql.ts';
import { dbnameArg } from '../../src/writers/postgresql/psql.ts';
import { postgresqlWriter } from '../../src/writers/postgresql/writer.ts';
import { startThrowaway } from '../../src/writers/postgresql/throwaway.ts';
import { lane } from '../helpers/lanes.ts';
import { PG_BIN, startCluster } from '../helpers/postgres.ts';
import { tmpDir } from '../helpers/tmp.ts';

t.test('a database named like a connection string is dumped from the throwaway server itself', async (t) => {
  if (!lane(t, 'hostile dbname', { root: true, tools: ['runuser', `${PG_BIN}/initdb`] })) return;
  const dir = await tmpDir(t, 'qrv-hostile-');
  await fs.chmod(dir, 0o711);
  const name = `qrvdbname${process.pid}`;
  const pg = await startCluster(t, { dataDir: path.join(dir, 'pg', 'data'), name, port: 5436 });
  const odd = `host=${dir}/elsewhere dbname=postgres user=x'y`;
  await pg.sql(`CREATE DATABASE "${odd}"`);
  await pg.sql('CREATE TABLE marker(x int)', dbnameArg(odd));
  const found = await postgresqlWriter.find(`${name}/*`);
  t.ok(
    found.some((o) => o.name === odd),
    'found by its name',
  );
  await pg.stop();
  const server = await startThrowaway(pg.dataDir, 60_000);
  t.teardown(() => server.stop());
  const to = path.join(dir, 'odd.dump');
  const bytes = await dumpTo(server, odd, to, false).catch((e: unknown) => String(e));
  t.type(bytes, 'number', `dumped (${bytes})`);
  t.match(await fs.readFile(to, 'latin1').catch(() => ''), /marker/, 'its own table is in the dump');
});
