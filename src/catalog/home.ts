// Where the catalog lives: --home, else $QRV_HOME, else /var/lib/qrv for root and the XDG data
// folder for everyone else.
import os from 'node:os';
import path from 'node:path';

export function resolveHome(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (flag) return path.resolve(flag);
  if (env.QRV_HOME) return path.resolve(env.QRV_HOME);
  if (process.getuid?.() === 0) return '/var/lib/qrv';
  const xdg = env.XDG_DATA_HOME && path.isAbsolute(env.XDG_DATA_HOME) ? env.XDG_DATA_HOME : path.join(os.homedir(), '.local', 'share');
  return path.join(xdg, 'qrv');
}
