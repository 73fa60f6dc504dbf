// The command table of src/cli/program.ts: each file registers exactly the commands the table
// says (a run loads only the file of its command), and a command line builds only its own.
import t from 'tap';
import { Command } from 'commander';
import { buildProgram, COMMAND_FILES, commandWord, invokesCheck } from '../../src/cli/program.ts';

t.test('each command file registers exactly the top-level commands the table names', async (t) => {
  for (const file of COMMAND_FILES) {
    const program = new Command('qrv');
    (await file.load()).register(program);
    t.same(
      program.commands.map((command) => command.name()),
      file.names,
      file.names.join(', '),
    );
  }
  const all = COMMAND_FILES.flatMap((file) => file.names);
  t.equal(new Set(all).size, all.length, 'no command is in two files');
});

t.test('the command word skips options and the value of --home', async (t) => {
  t.equal(commandWord(['node', 'qrv', 'snap', 'db']), 'snap');
  t.equal(commandWord(['node', 'qrv', '--json', '--home', 'list', 'doctor']), 'doctor');
  t.equal(commandWord(['node', 'qrv', '--home']), undefined);
  t.equal(commandWord(['node', 'qrv', '--version']), undefined);
  t.ok(invokesCheck(['node', 'qrv', '--home', '/h', 'check', '--json']));
  t.notOk(invokesCheck(['node', 'qrv', '--home', 'check', 'list']));
});

t.test('a command line builds only its own command; help, completion and unknown words build all', async (t) => {
  const names = async (...words: string[]) =>
    (await buildProgram(['node', 'qrv', ...words])).commands.map((command) => command.name());
  t.same(await names('--json', 'doctor'), ['verify', 'doctor']);
  t.same(await names('volume', 'list'), ['volume']);
  const all = COMMAND_FILES.flatMap((file) => file.names);
  t.same(await names(), all, 'no command: all, in the order of the table (the order --help lists them)');
  t.same(await names('help', 'snap'), all);
  t.same(await names('completion', 'bash'), all, 'the completion is written from every command');
  t.same(await names('snpa'), all, 'an unknown word: all, so that commander can suggest the nearest');
});
