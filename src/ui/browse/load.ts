// Loads the browser (and with it Ink) for `qrv browse`. Ink decides once, when it is first
// imported, whether it runs in CI (the is-in-ci package: CI or CONTINUOUS_INTEGRATION set and not
// "0"/"false"), and there it draws nothing until it exits. `qrv browse` runs only on a terminal
// with a person at it (both stdin and stdout a TTY, checked before this), so CI is hidden from
// that one check and put back right after: hooks and tools see the environment as it was.
import { CI_VARIABLES } from '../../output/printer.ts';

export async function loadBrowser(): Promise<typeof import('./run.tsx')> {
  const saved = CI_VARIABLES.map((name) => [name, process.env[name]] as const);
  for (const [name] of saved) delete process.env[name];
  try {
    return await import('./run.tsx');
  } finally {
    for (const [name, value] of saved) if (value !== undefined) process.env[name] = value;
  }
}
