// Where the catalog lives: --home, then QRV_HOME, then /var/lib/qrv for root or the XDG data
// folder for everyone else. The branch that does not match this process's user runs in a child
// process under another user when we are root.
import t from 'tap';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { resolveHome } from '../../src/catalog/home.ts';
import { ROOT } from '../helpers/cli.ts';

const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;

type Case = [string | null, Record<string, string>];

/** resolveHome's answers for the cases, computed by a process running as `nobody`. */
async function asNobody(cases: Case[], home: string): Promise<string[]> {
  const result = await execa('node', ['--import', 'tsx', path.join(ROOT, 'test', 'helpers', 'print-home.ts'), JSON.stringify(cases)], {
    cwd: ROOT,
    uid: NOBODY,
    gid: NOBODY,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home },
    extendEnv: false,
  });
  const out = JSON.parse(result.stdout) as { uid: number; homes: string[] };
  if (out.uid !== NOBODY) throw new Error(`child ran as uid ${out.uid}`);
  return out.homes;
}

t.test('--home wins over QRV_HOME and XDG_DATA_HOME, and is made absolute', async (t) => {
  t.equal(resolveHome('/srv/qrv-flag', { QRV_HOME: '/srv/qrv-env', XDG_DATA_HOME: '/xdg' }), '/srv/qrv-flag');
  t.equal(resolveHome('rel/home', { QRV_HOME: '/srv/qrv-env' }), path.resolve('rel/home'), 'a relative flag is resolved against the cwd');
  t.equal(resolveHome('/srv/a/../b/', {}), '/srv/b', 'normalised');
});

t.test('QRV_HOME is next, made absolute', async (t) => {
  t.equal(resolveHome(undefined, { QRV_HOME: '/srv/qrv-env', XDG_DATA_HOME: '/xdg' }), '/srv/qrv-env');
  t.equal(resolveHome('', { QRV_HOME: '/srv/qrv-env' }), '/srv/qrv-env', 'an empty flag does not count');
  t.equal(resolveHome(undefined, { QRV_HOME: 'rel' }), path.resolve('rel'));
});

t.test('root without flag or QRV_HOME uses /var/lib/qrv', { skip: isRoot ? false : 'needs root' }, async (t) => {
  t.equal(resolveHome(undefined, {}), '/var/lib/qrv');
  t.equal(resolveHome(undefined, { XDG_DATA_HOME: '/xdg' }), '/var/lib/qrv', 'XDG_DATA_HOME is not used for root');
  t.equal(resolveHome(undefined, { QRV_HOME: '' }), '/var/lib/qrv', 'an empty QRV_HOME does not count');
});

t.test('a user other than root uses XDG_DATA_HOME/qrv, else ~/.local/share/qrv', async (t) => {
  const cases: Case[] = [
    [null, { XDG_DATA_HOME: '/xdg/data' }],
    [null, { XDG_DATA_HOME: 'relative/data' }],
    [null, {}],
    [null, { QRV_HOME: '/srv/qrv-env', XDG_DATA_HOME: '/xdg/data' }],
    ['/srv/qrv-flag', { XDG_DATA_HOME: '/xdg/data' }],
  ];
  const userHome = isRoot ? '/home/tester' : os.homedir();
  const homes = isRoot ? await asNobody(cases, userHome) : cases.map(([flag, env]) => resolveHome(flag ?? undefined, env));
  const expected = ['/xdg/data/qrv', `${userHome}/.local/share/qrv`, `${userHome}/.local/share/qrv`, '/srv/qrv-env', '/srv/qrv-flag'];
  t.equal(homes[0], expected[0], 'XDG_DATA_HOME when absolute');
  t.equal(homes[1], expected[1], 'a relative XDG_DATA_HOME is ignored (XDG spec)');
  t.equal(homes[2], expected[2], 'the home folder when XDG_DATA_HOME is unset');
  t.equal(homes[3], expected[3], 'QRV_HOME still wins');
  t.equal(homes[4], expected[4], '--home still wins');
});
