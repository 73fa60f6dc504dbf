// docs/exit-codes.md lists every error code qrv raises under the status it comes with, and no
// code qrv does not raise: held to the registry in src/core/error-codes.ts (which QrvError's
// types hold the code to). A code made at run time is checked against the same list.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { ERROR_CODES, ExitCode, errorCode, type ExitCodeName } from '../../src/core/error-codes.ts';
import { ROOT } from '../helpers/cli.ts';

/** Codes that appear in the table but are not QrvError codes: explained where they appear. */
const NOT_RAISED = new Set([
  'bad-threshold', // qrv check's own UNKNOWN
  'catalog-missing', // idem
]);

/** status name -> the codes its row of the table names (`a-code` in backquotes). */
function documented(): Map<ExitCodeName, Set<string>> {
  const text = fs.readFileSync(path.join(ROOT, 'docs', 'exit-codes.md'), 'utf8');
  const rows = new Map<ExitCodeName, Set<string>>();
  for (const line of text.split('\n')) {
    const cells = line.split('|').map((cell) => cell.trim());
    const name = cells[2] as ExitCodeName;
    if (!/^\d+$/.test(cells[1] ?? '') || !(name in ExitCode)) continue;
    const codes = [...(cells[4] ?? '').matchAll(/`([a-z][a-z0-9]*(?:-[a-z0-9]+)*)`/g)].map(
      (match) => match[1] as string,
    );
    rows.set(name, new Set(codes));
  }
  return rows;
}

t.test('every code is documented under each status it comes with', async (t) => {
  const rows = documented();
  t.ok(rows.size >= 10, `the table was read (${rows.size} rows)`);
  const missing: string[] = [];
  for (const [code, exits] of Object.entries(ERROR_CODES))
    for (const exit of exits) if (!rows.get(exit)?.has(code)) missing.push(`${code} (${exit})`);
  t.same(missing, [], 'codes the table does not list under their status');
});

t.test('every code the table lists is one qrv raises, with that status', async (t) => {
  const stray: string[] = [];
  for (const [exit, codes] of documented())
    for (const code of codes) {
      if (NOT_RAISED.has(code)) continue;
      const exits: readonly string[] | undefined = (ERROR_CODES as Record<string, readonly string[]>)[code];
      if (!exits?.includes(exit)) stray.push(`${code} (${exit})`);
    }
  t.same(stray, [], 'codes in the table that qrv does not raise with that status');
});

t.test('a code made at run time must be on the list', async (t) => {
  t.equal(errorCode('unknown-volume'), 'unknown-volume');
  t.throws(() => errorCode('unknown-thing'), /not an error code of qrv/);
});
