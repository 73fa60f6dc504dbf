// qrv completion bash|zsh|fish: the shell completion, written from the command definitions.
import { Argument, type Command } from 'commander';
import { writeOut } from '../../output/closed-output.ts';
import { SHELLS, type Shell } from '../completion.ts';

export function register(program: Command): void {
  program
    .command('completion')
    .description('print the shell completion for bash, zsh or fish (the Debian package installs all three)')
    .addArgument(new Argument('<shell>', 'bash, zsh or fish').choices(SHELLS))
    .addHelpText(
      'after',
      '\nE.g. `qrv completion bash > /etc/bash_completion.d/qrv`, or\n`source <(qrv completion bash)` in ~/.bashrc.',
    )
    .action(async (shell: Shell) => {
      const { completion } = await import('../completion.ts');
      writeOut(completion(program, shell));
    });
}
