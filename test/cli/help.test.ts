// Every help qrv prints fits a terminal of 80 columns: the program's, each command's and each
// subcommand's (commander wraps descriptions only when their column is wide enough, so this
// fails when a long term squeezes it).
import t from 'tap';
import { execa } from 'execa';
import { BIN } from '../helpers/cli.ts';

async function help(words: string[]): Promise<string> {
  const run = await execa(process.execPath, [BIN, ...words, '--help'], { env: { COLUMNS: '80' }, reject: false });
  return run.stdout;
}

function commandsOf(text: string): string[] {
  const list = text.split('\nCommands:\n')[1] ?? '';
  return [...list.matchAll(/^ {2}([a-z][a-z-]*)\b/gm)].map((m) => m[1] as string).filter((name) => name !== 'help');
}

t.test('every help fits 80 columns', async (t) => {
  const top = await help([]);
  const commands = commandsOf(top);
  t.ok(commands.length > 20, `${commands.length} commands listed`);
  const texts: [string, string][] = [['qrv', top]];
  for (const command of commands) {
    const text = await help([command]);
    texts.push([`qrv ${command}`, text]);
    for (const sub of commandsOf(text)) texts.push([`qrv ${command} ${sub}`, await help([command, sub])]);
  }
  for (const [name, text] of texts) {
    const long = text.split('\n').filter((line) => [...line].length > 80);
    t.same(long, [], `${name} --help: no line over 80 characters`);
  }
  t.match(top, /^ {2}snap {2,}take a snapshot/m, 'the command list names the commands');
  t.match(top, /qrv help COMMAND/, 'and says where their arguments are');
});
