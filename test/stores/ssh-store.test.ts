import fs from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { openSshStore, parseSshLocation, sshArguments, sshFailure } from '../../src/stores/ssh-store.ts';
import type { StoreLocation } from '../../src/stores/store.ts';
import { lane } from '../helpers/lanes.ts';
import { startSshd } from '../helpers/sshd.ts';
import { storeContract } from '../helpers/store-contract.ts';

const runs = lane(t, 'sshd', { root: true, tools: ['ssh', 'ssh-keygen', '/usr/sbin/sshd'] });

t.test('locations and options are checked; the command line is an argument array', async (t) => {
  t.same(parseSshLocation('backup@vault.example.net:/srv/qrv/'), {
    user: 'backup',
    host: 'vault.example.net',
    root: '/srv/qrv',
  });
  t.same(parseSshLocation('[::1]:archive'), { user: null, host: '::1', root: 'archive' });
  for (const bad of ['-oProxyCommand=x:/a', 'host', 'a b:/x', 'host:/a/../b', 'user@-host:/x'])
    t.throws(() => parseSshLocation(bad), { code: 'bad-store' }, bad);
  const args = sshArguments({ kind: 'ssh', location: 'b@h:/x', port: 2222, sshOptions: ['IdentityFile=/k'] });
  t.same(args.slice(0, 4), ['-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes'], 'host keys checked first');
  t.same(args.slice(args.indexOf('-p'), args.indexOf('-p') + 2), ['-p', '2222'], 'the port');
  t.ok(args.includes('IdentityFile=/k'), "the store's own options");
  t.same(args.slice(-4), ['-s', '--', 'b@h', 'sftp'], 'the sftp subsystem of the destination, after --');
  t.throws(() => sshArguments({ kind: 'ssh', location: 'h:/x', sshOptions: ['StrictHostKeyChecking=no'] }), {
    code: 'bad-store',
    message: /qrv sets StrictHostKeyChecking itself/,
  });
  t.throws(() => sshArguments({ kind: 'ssh', location: 'h:/x', sshOptions: ['-oFoo'] }), { code: 'bad-store' });
});

t.test("ssh's own words become one line (from captured output)", async (t) => {
  const fixtures = path.join(import.meta.dirname, '../../fixtures/ssh');
  for (const [file, code, message] of [
    ['unknown-host-key.txt', 'store-host-key', /not in known_hosts/],
    ['changed-host-key.txt', 'store-host-key', /host key changed/],
    ['connection-refused.txt', 'store-unreachable', /Connection refused/],
    ['permission-denied.txt', 'store-unreachable', /Permission denied \(publickey\)/],
  ] as const) {
    const said = await fs.readFile(path.join(fixtures, file), 'utf8');
    t.match(sshFailure('h:/x', said), { code, message }, file);
  }
});

if (runs)
  t.test('against a real sshd on loopback', async (t) => {
    const sshd = await startSshd(t);
    const root = path.join(sshd.dir, 'store');
    const location = (extra: Partial<StoreLocation> = {}): StoreLocation => ({
      kind: 'ssh',
      location: `root@127.0.0.1:${root}`,
      port: sshd.port,
      sshOptions: sshd.sshOptions,
      ...extra,
    });

    t.test('a missing store is made (0700) only when asked', async (t) => {
      await t.rejects(openSshStore(location()), { code: 'store-failed', message: /does not exist/ });
      const store = await openSshStore(location(), true);
      await store.close();
      t.equal((await fs.stat(root)).mode & 0o777, 0o700);
    });

    t.test('the SSH store passes the store contract', async (t) => {
      storeContract(t, { open: () => openSshStore(location()) });
    });

    t.test('objects written over sftp are 0600', async (t) => {
      const store = await openSshStore(location());
      await store.put('mode/x', Buffer.from('x'));
      await store.close();
      t.equal((await fs.stat(path.join(root, 'mode/x'))).mode & 0o777, 0o600);
    });

    t.test('an unknown host key is refused, never accepted', async (t) => {
      await t.rejects(openSshStore(location({ sshOptions: sshd.strangerOptions })), {
        code: 'store-host-key',
        message: /not in known_hosts/,
      });
      t.equal(await fs.readFile(path.join(sshd.dir, 'known_hosts.empty'), 'utf8'), '', 'nothing was added to it');
    });

    t.test('a port nobody listens on is one line', async (t) => {
      await t.rejects(openSshStore(location({ port: 1 })), {
        code: 'store-unreachable',
        message: /Connection refused/,
      });
    });

    t.test('a store folder others can write is refused', async (t) => {
      const open = path.join(sshd.dir, 'open');
      await fs.mkdir(open, { mode: 0o777 });
      await fs.chmod(open, 0o777);
      await t.rejects(openSshStore(location({ location: `root@127.0.0.1:${open}` })), {
        code: 'store-unsafe',
        message: /others on the server can write it \(mode 777\)/,
      });
    });

    t.test('a server that goes away fails what is in flight with one line', async (t) => {
      const store = await openSshStore(location());
      await sshd.stop();
      await t.rejects(store.put('gone/x', Buffer.alloc(1 << 20)), { code: 'store-unreachable' });
      await store.close();
    });
  });

if (runs)
  t.test('a hostile SFTP server behind a real sshd', async (t) => {
    const server = path.join(import.meta.dirname, '../helpers/hostile-sftp.mjs');
    const open = async (mode: string) => {
      const sshd = await startSshd(t, { subsystem: `${process.execPath} ${server} ${mode}` });
      const location = { kind: 'ssh', location: 'root@127.0.0.1:/srv/qrv', port: sshd.port } as const;
      return openSshStore({ ...location, sshOptions: sshd.sshOptions });
    };
    const within = <T>(promise: Promise<T>, ms: number) =>
      Promise.race([
        promise,
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error(`still waiting after ${ms} ms`)), ms).unref(),
        ),
      ]);

    t.test('a packet that claims 4 GiB ends the connection at once, not once 4 GiB are held', async (t) => {
      await t.rejects(within(open('huge-packet'), 20000), {
        code: 'store-unreachable',
        message: /the server sent a packet of 4294967280 bytes \(at most 262144 are taken\)/,
      });
    });

    t.test('a listing that never ends (no names, no EOF) is refused, not asked for ever', async (t) => {
      const store = await open('empty-names');
      t.teardown(() => store.close());
      await t.rejects(within(store.list('packs/'), 20000), { message: /the server lists nothing without an end/ });
    });

    t.test('a read answered with more than was asked is refused', async (t) => {
      const store = await open('long-read');
      t.teardown(() => store.close());
      await t.rejects(store.getRange('qrv-store', 0, 64), { message: /the server sent 4160 bytes for 64/ });
    });
  });
