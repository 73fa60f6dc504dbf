// Shell completions for bash, zsh and fish, written from the commander definitions (see
// reference.ts): commands, subcommands, options, and file names after an option whose value is a
// path. `qrv completion SHELL` prints one.
import type { Command, Option } from 'commander';
import { entries, takesPath } from './reference.ts';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

interface Model {
  /** "" for the top level, "snap", "volume add", ... → the words that may come next */
  next: Map<string, string[]>;
  /** options (long and short) that take a value, and those whose value is a path */
  valued: string[];
  paths: string[];
  /** what the global options are (taken anywhere) */
  global: string[];
  /** the commands that have subcommands */
  groups: string[];
}

function names(option: Option): string[] {
  return [option.long, option.short].filter((name): name is string => Boolean(name));
}

function model(program: Command): Model {
  const globalOptions = program.createHelp().visibleOptions(program);
  const global = globalOptions.flatMap(names);
  const list = entries(program);
  const next = new Map<string, string[]>([
    ['', list.filter((e) => e.words.length === 1).map((e) => e.words[0] as string)],
  ]);
  const all = [...globalOptions, ...list.flatMap((e) => e.options)];
  for (const entry of list) {
    const choices = entry.command.registeredArguments.flatMap((argument) => argument.argChoices ?? []);
    next.set(entry.words.join(' '), [...entry.subcommands, ...choices, ...entry.options.flatMap(names)]);
  }
  return {
    next,
    valued: [...new Set(all.filter((o) => o.required || o.optional).flatMap(names))],
    paths: [...new Set(all.filter(takesPath).flatMap(names))],
    global,
    groups: list.filter((e) => e.subcommands.length > 0).map((e) => e.words.join(' ')),
  };
}

function quoteWords(words: string[]): string {
  return words.join(' ');
}

/** The shell code shared by bash and zsh: which command the words so far name, and what may come next. */
function posixCases(m: Model): string {
  return [...m.next].map(([key, words]) => `    '${key}') candidates='${quoteWords(words)}' ;;`).join('\n');
}

function bash(m: Model): string {
  return `# bash completion for qrv (written from its command definitions: qrv completion bash)
_qrv() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" key="" word i
  case " ${quoteWords(m.paths)} " in *" $prev "*) COMPREPLY=($(compgen -f -- "$cur")); return ;; esac
  case " ${quoteWords(m.valued)} " in *" $prev "*) COMPREPLY=(); return ;; esac
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    case " ${quoteWords(m.valued)} " in *" $word "*) ((i++)); continue ;; esac
    case "$word" in -*) continue ;; esac
    if [ -z "$key" ]; then key="$word"
    elif case " ${quoteWords(m.groups)} " in *" $key "*) true ;; *) false ;; esac; then key="$key $word"; break
    else break
    fi
  done
  local candidates=""
  case "$key" in
${posixCases(m)}
  esac
  COMPREPLY=($(compgen -W "$candidates ${quoteWords(m.global)}" -- "$cur"))
}
complete -F _qrv qrv
`;
}

function zsh(m: Model): string {
  return `#compdef qrv
# zsh completion for qrv (written from its command definitions: qrv completion zsh)
_qrv() {
  local prev="\${words[CURRENT-1]}" key="" word i candidates=""
  case " ${quoteWords(m.paths)} " in *" $prev "*) _files; return ;; esac
  case " ${quoteWords(m.valued)} " in *" $prev "*) return 1 ;; esac
  for ((i = 2; i < CURRENT; i++)); do
    word="\${words[i]}"
    case " ${quoteWords(m.valued)} " in *" $word "*) ((i++)); continue ;; esac
    case "$word" in -*) continue ;; esac
    if [[ -z "$key" ]]; then key="$word"
    elif [[ " ${quoteWords(m.groups)} " == *" $key "* ]]; then key="$key $word"; break
    else break
    fi
  done
  case "$key" in
${posixCases(m)}
  esac
  compadd -- \${=candidates} ${quoteWords(m.global)}
}
if [[ "$funcstack[1]" == _qrv ]]; then _qrv "$@"; else compdef _qrv qrv; fi
`;
}

function fishQuote(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function fishOption(option: Option, condition: string): string {
  const parts = ['complete -c qrv', condition ? `-n ${fishQuote(condition)}` : ''];
  if (option.long) parts.push(`-l ${option.long.slice(2)}`);
  if (option.short) parts.push(`-s ${option.short.slice(1)}`);
  if (option.required || option.optional) parts.push(takesPath(option) ? '-r -F' : '-r -f');
  parts.push(`-d ${fishQuote(option.description.split(/[;:(]/)[0]?.trim() ?? '')}`);
  return parts.filter(Boolean).join(' ');
}

function fishCondition(words: string[], subsOf: Map<string, string[]>): string {
  const [first, second] = words;
  if (second === undefined) return '__fish_use_subcommand';
  return `__fish_seen_subcommand_from ${first}; and not __fish_seen_subcommand_from ${(subsOf.get(first ?? '') ?? []).join(' ')}`;
}

function fish(program: Command): string {
  const lines = [
    '# fish completion for qrv (written from its command definitions: qrv completion fish)',
    'complete -c qrv -f',
  ];
  for (const option of program.createHelp().visibleOptions(program)) lines.push(fishOption(option, ''));
  const list = entries(program);
  const subsOf = new Map(list.map((entry) => [entry.words.join(' '), entry.subcommands]));
  for (const entry of list) {
    const short = entry.command.description().split(/[;:(]/)[0]?.trim() ?? '';
    lines.push(
      `complete -c qrv -n ${fishQuote(fishCondition(entry.words, subsOf))} -a ${entry.words.at(-1)} -d ${fishQuote(short)}`,
    );
    const where = entry.words.map((word) => `__fish_seen_subcommand_from ${word}`).join('; and ');
    for (const option of entry.options) lines.push(fishOption(option, where));
  }
  return `${lines.join('\n')}\n`;
}

/** The completion script for `shell`. */
export function completion(program: Command, shell: Shell): string {
  if (shell === 'fish') return fish(program);
  return shell === 'bash' ? bash(model(program)) : zsh(model(program));
}
