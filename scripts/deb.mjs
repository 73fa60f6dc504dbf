// The Debian package of qrv, dist/qrv_<version>_amd64.deb, built with Debian's own dpkg-deb from
// the single executable (scripts/package.mjs runs this after making it):
//   /usr/bin/qrv                                   the single executable
//   /usr/share/man/man1/qrv.1.gz                   qrv(1), written from the command definitions
//   /usr/share/bash-completion/completions/qrv     completions, written the same way
//   /usr/share/zsh/vendor-completions/_qrv
//   /usr/share/fish/vendor_completions.d/qrv.fish
//   /lib/systemd/system/qrv-cron.{service,timer}   docs/examples' units (disabled: enable the timer)
//   /var/lib/qrv                                   the home of root, 0700 (made by postinst)
// Purging the package leaves /var/lib/qrv alone when it holds anything (the catalog, ledgers):
// postrm says so and how to remove it.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

function commitDate() {
  try {
    return execFileSync('git', ['log', '-1', '--format=%cs'], { cwd: root, encoding: 'utf8' }).trim();
  } catch {
    return new Date().toISOString().slice(0, 10);
  }
}

function put(stage, file, content, mode = 0o644) {
  const target = path.join(stage, file);
  mkdirSync(path.dirname(target), { recursive: true, mode: 0o755 });
  writeFileSync(target, content);
  chmodSync(target, mode);
}

/** docs/examples' unit, pointed at /usr/bin/qrv; fails if the example changed shape. */
function unit(name) {
  const text = readFileSync(path.join(root, 'docs', 'examples', name), 'utf8');
  const header = `# /etc/systemd/system/${name}`;
  if (!text.startsWith(header)) throw new Error(`docs/examples/${name} does not start with "${header}"`);
  const packaged = text
    .replace(header, `# /lib/systemd/system/${name} (Debian package qrv; override with systemctl edit)`)
    .replace('ExecStart=/opt/qrv/bin/qrv cron', 'ExecStart=/usr/bin/qrv cron')
    .replace(/^(Description=.*)$/m, '$1\nDocumentation=man:qrv(1)');
  if (name.endsWith('.service') && !packaged.includes('ExecStart=/usr/bin/qrv cron'))
    throw new Error(`docs/examples/${name} has no "ExecStart=/opt/qrv/bin/qrv cron" to point at /usr/bin/qrv`);
  return packaged;
}

const CONTROL = ({ version, size }) => `Package: qrv
Version: ${version}
Architecture: amd64
Maintainer: qrv developers <qrv@example.org>
Installed-Size: ${size}
Depends: libc6 (>= 2.28), libstdc++6 (>= 12), libgcc-s1
Recommends: e2fsprogs
Suggests: lvm2, dmsetup, thin-provisioning-tools, xfsprogs
Section: admin
Priority: optional
Description: quick recovery volumes: snapshots and replicas you can mount
 qrv snapshots volumes (image files, LVM logical volumes, device-mapper
 devices), copies the snapshots block for block to replicas on other disks,
 and keeps both in one catalog, so that recovery is a mount, not a restore.
 Policies say when to snapshot, how long to keep and where to copy; the
 qrv-cron timer (disabled until enabled) carries them out.
`;

// The executable is Node's own binary with qrv inside (a single executable application), and
// Node links zlib in statically.
const LINTIAN_OVERRIDES = `# Node's binary, which the single executable is, carries its own zlib.
qrv: embedded-library zlib [usr/bin/qrv]
`;

const POSTINST = `#!/bin/sh
set -e
if [ "$1" = configure ]; then
  mkdir -p /var/lib/qrv
  chown root:root /var/lib/qrv
  chmod 0700 /var/lib/qrv
fi
`;

const POSTRM = `#!/bin/sh
set -e
if [ "$1" = purge ] && [ -d /var/lib/qrv ]; then
  if rmdir /var/lib/qrv 2>/dev/null; then :; else
    echo "qrv: /var/lib/qrv holds the catalog and is kept; remove it with: rm -r /var/lib/qrv" >&2
  fi
fi
`;

const COPYRIGHT = `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: qrv

Files: *
Copyright: 2026 qrv developers
License: MIT
 Permission is hereby granted, free of charge, to any person obtaining a copy
 of this software and associated documentation files (the "Software"), to deal
 in the Software without restriction, including without limitation the rights
 to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
 copies of the Software, and to permit persons to whom the Software is
 furnished to do so, subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included in
 all copies or substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
 IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
 FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
 AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
 LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
 OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
 SOFTWARE.
`;

/** DEBIAN/md5sums: every file but DEBIAN's, as md5sum prints them. */
function md5sums(stage) {
  const files = execFileSync('find', ['.', '-path', './DEBIAN', '-prune', '-o', '-type', 'f', '-print'], {
    cwd: stage,
    encoding: 'utf8',
  })
    .split('\n')
    .filter(Boolean)
    .map((file) => file.slice(2))
    .sort();
  return files
    .map(
      (file) =>
        `${createHash('md5')
          .update(readFileSync(path.join(stage, file)))
          .digest('hex')}  ${file}\n`,
    )
    .join('');
}

/** Builds the package from `executable` into `outdir`; returns its path. */
export function buildDeb(executable, outdir) {
  const { version } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  const date = commitDate();
  const stage = path.join(outdir, 'deb-stage');
  const reference = path.join(outdir, 'deb-reference');
  rmSync(stage, { recursive: true, force: true });
  rmSync(reference, { recursive: true, force: true });
  mkdirSync(reference, { recursive: true });
  execFileSync(process.execPath, ['--import', 'tsx', 'scripts/reference.ts', reference, version, date], { cwd: root });
  const ref = (name) => readFileSync(path.join(reference, name));

  mkdirSync(path.join(stage, 'usr', 'bin'), { recursive: true, mode: 0o755 });
  copyFileSync(executable, path.join(stage, 'usr', 'bin', 'qrv'));
  chmodSync(path.join(stage, 'usr', 'bin', 'qrv'), 0o755);
  put(stage, 'usr/share/man/man1/qrv.1.gz', gzipSync(ref('qrv.1'), { level: 9 }));
  put(stage, 'usr/share/bash-completion/completions/qrv', ref('qrv.bash'));
  put(stage, 'usr/share/zsh/vendor-completions/_qrv', ref('_qrv'));
  put(stage, 'usr/share/fish/vendor_completions.d/qrv.fish', ref('qrv.fish'));
  put(stage, 'lib/systemd/system/qrv-cron.service', unit('qrv-cron.service'));
  put(stage, 'lib/systemd/system/qrv-cron.timer', unit('qrv-cron.timer'));
  put(stage, 'usr/share/doc/qrv/copyright', COPYRIGHT);
  const changelog = `qrv (${version}) unstable; urgency=medium\n\n  * Built from the qrv repository.\n\n -- qrv developers <qrv@example.org>  ${new Date(`${date}T00:00:00Z`).toUTCString().replace('GMT', '+0000')}\n`;
  put(stage, 'usr/share/doc/qrv/changelog.gz', gzipSync(Buffer.from(changelog), { level: 9 }));
  put(stage, 'usr/share/lintian/overrides/qrv', LINTIAN_OVERRIDES);
  const size = Math.ceil(
    execFileSync('du', ['-sk', '--exclude=DEBIAN', stage], { encoding: 'utf8' }).split('\t')[0] * 1,
  );
  put(stage, 'DEBIAN/control', CONTROL({ version, size }));
  put(stage, 'DEBIAN/md5sums', md5sums(stage));
  put(stage, 'DEBIAN/postinst', POSTINST, 0o755);
  put(stage, 'DEBIAN/postrm', POSTRM, 0o755);
  const deb = path.join(outdir, `qrv_${version}_amd64.deb`);
  execFileSync('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', stage, deb], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  rmSync(stage, { recursive: true, force: true });
  rmSync(reference, { recursive: true, force: true });
  if (!statSync(deb).isFile()) throw new Error(`dpkg-deb did not write ${deb}`);
  return deb;
}
