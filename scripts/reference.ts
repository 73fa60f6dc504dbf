// Writes qrv's man page and shell completions, from the command definitions, into a folder:
//   node --import tsx scripts/reference.ts FOLDER VERSION DATE
// → FOLDER/qrv.1, FOLDER/qrv.bash, FOLDER/_qrv (zsh), FOLDER/qrv.fish. scripts/package.mjs runs it
// for the Debian package.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildProgram } from '../src/cli/program.ts';
import { completion } from '../src/cli/completion.ts';
import { manPage } from '../src/cli/reference.ts';

const [folder, version, date] = process.argv.slice(2);
if (!folder || !version || !date) throw new Error('usage: scripts/reference.ts FOLDER VERSION DATE');
const program = await buildProgram(['node', 'qrv']);
writeFileSync(path.join(folder, 'qrv.1'), manPage(program, version, date));
writeFileSync(path.join(folder, 'qrv.bash'), completion(program, 'bash'));
writeFileSync(path.join(folder, '_qrv'), completion(program, 'zsh'));
writeFileSync(path.join(folder, 'qrv.fish'), completion(program, 'fish'));
