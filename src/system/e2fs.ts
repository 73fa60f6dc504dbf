// e2fsprogs, which works on image files without root: build an ext4 image from a folder, read
// and change files inside it with debugfs, and check it with e2fsck.
import { tool, toolOk } from './tools.ts';

/** mkfs.ext4 -d: an ext4 image of `sizeMiB` holding the contents of `folder`. */
export async function makeExt4FromFolder(image: string, folder: string, sizeMiB: number, label = 'qrv'): Promise<void> {
  await toolOk('mkfs.ext4', ['-q', '-F', '-L', label, '-d', folder, image, `${sizeMiB}M`]);
}

/** The contents of a file inside an ext4 image (debugfs -c: catalog mode, read-only). */
export async function readFileFromImage(image: string, filePath: string): Promise<string> {
  const result = await toolOk('debugfs', ['-c', '-R', `cat ${filePath}`, image], { stripFinalNewline: false });
  return result.stdout;
}

/** Writes a host file into the image at `filePath` (replacing one that is there). */
export async function writeFileIntoImage(image: string, hostFile: string, filePath: string): Promise<void> {
  await tool('debugfs', ['-w', '-R', `rm ${filePath}`, image]);
  await toolOk('debugfs', ['-w', '-R', `write ${hostFile} ${filePath}`, image]);
}

/** Removes a file from the image. */
export async function removeFileFromImage(image: string, filePath: string): Promise<void> {
  await toolOk('debugfs', ['-w', '-R', `rm ${filePath}`, image]);
}

/** e2fsck -fn: true when the filesystem is clean (exit 0), with e2fsck's own words. */
export async function fsckClean(image: string): Promise<{ clean: boolean; output: string }> {
  const result = await tool('e2fsck', ['-f', '-n', image]);
  return { clean: result.exitCode === 0, output: `${result.stdout}${result.stderr}`.trim() };
}
