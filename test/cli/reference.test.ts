// The man page and the completions are written from the program's own definitions: every command
// and option is in them, roff is escaped, and the bash completion completes (run in bash).
import t from 'tap';
import { execa } from 'execa';
import { buildProgram } from '../../src/cli/program.ts';
import { completion } from '../../src/cli/completion.ts';
import { entries, manPage } from '../../src/cli/reference.ts';

const program = await buildProgram(['node', 'qrv']);

t.test('qrv(1) names every command and option, in roff', async (t) => {
  const page = manPage(program, '1.2.3', '2026-12-04');
  t.match(page, /^\.TH QRV 1 "2026-12-04" "qrv 1\.2\.3" "User Commands"$/m);
  const all = entries(program);
  t.ok(all.length > 40, `${all.length} commands and subcommands`);
  for (const entry of all) {
    t.ok(page.includes(`.SS "qrv ${entry.words.join(' ')}`), `qrv ${entry.words.join(' ')}`);
    for (const option of entry.options)
      t.ok(page.includes(`\\fB${option.flags.split(/ (?=[<[])/)[0]?.replace(/-/g, '\\-')}`));
  }
  for (const section of [
    'NAME',
    'SYNOPSIS',
    'DESCRIPTION',
    'GLOBAL OPTIONS',
    'COMMANDS',
    'EXIT STATUS',
    'ENVIRONMENT',
    'FILES',
  ])
    t.match(page, new RegExp(`^\\.SH ${section}$`, 'm'));
  t.match(page, /^\.TP\n\\fB130\\fR\ninterrupted: /m, 'every exit status');
  t.notOk(/^[.'](?!TH|SH|SS|TP|PP|B )/m.test(page), 'no text line starts with a control character');
  const man = await execa('man', ['-l', '-'], { input: page, env: { MANWIDTH: '80' }, reject: false });
  if (man.exitCode === 0) t.match(man.stdout, /qrv snap \[options\] \[volume\.\.\.\]/, 'man renders it');
});

t.test('the bash completion completes commands, subcommands, options, choices and paths', async (t) => {
  const script = completion(program, 'bash');
  const complete = async (...words: string[]) =>
    (
      await execa('bash', [
        '-c',
        `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _qrv; echo "\${COMPREPLY[*]}"`,
      ])
    ).stdout;
  t.equal(await complete('qrv', 'sn'), 'snap');
  t.equal(await complete('qrv', '--home', '/x', 'vol'), 'volume');
  t.equal(await complete('qrv', 'volume', 'a'), 'add activate');
  t.equal(await complete('qrv', 'snap', '--max-f'), '--max-freeze');
  t.equal(await complete('qrv', 'completion', 'f'), 'fish');
  t.equal(await complete('qrv', 'snap', '--label', ''), '', 'nothing to offer for a free value');
  t.match(await complete('qrv', 'copy', '--to', '/et'), /^\/etc/, 'file names after a path option');
});

t.test('zsh and fish', async (t) => {
  const zsh = completion(program, 'zsh');
  t.match(zsh, /^#compdef qrv$/m);
  t.match(zsh, /'volume add'\) candidates='[^']*--provider/);
  const fish = completion(program, 'fish');
  t.match(fish, /complete -c qrv -n '__fish_use_subcommand' -a snap -d 'take a snapshot of a volume'/);
  t.match(
    fish,
    /-n '__fish_seen_subcommand_from volume; and not __fish_seen_subcommand_from add set list activate remove' -a add/,
  );
  t.match(fish, /-l to -r -F/, 'a path option completes file names');
  // Their syntax, where the shell is installed (neither is on this project's machines).
  for (const [shell, text] of [
    ['zsh', zsh],
    ['fish', fish],
  ] as const) {
    if ((await execa('sh', ['-c', `command -v ${shell}`], { reject: false })).exitCode !== 0) continue;
    t.equal((await execa(shell, ['-n'], { input: text, reject: false })).exitCode, 0, `${shell} -n accepts it`);
  }
});
