#!/usr/bin/env bash
# Builds what the VM lane (test/helpers/vm.ts) boots under qemu, into a cache folder keyed by a
# hash of every input, and prints that folder on stdout's last line. The folder holds:
#   initramfs.cpio  uncompressed newc cpio: busybox, kmod, lvm, dmsetup, pdata_tools (thin_*),
#                   e2fsprogs, util-linux, xfsprogs and sqlite3 if installed, runuser with the
#                   host's PAM stack for it, the shared libraries of all of them and of node,
#                   kernel modules (+ modules.dep), lvm.conf, /etc/passwd (root, nobody), /init
#   kernel          path of the kernel to boot: an uncompressed vmlinux extracted here (boots
#                   through its PVH entry, ~4 s faster under emulation) or /boot/vmlinuz-<version>
#   node            path of the node binary; the VM mounts its folder over 9p (tag "node") and
#                   /usr/bin/node links to it (cheaper than unpacking ~100 MB at every boot)
#   manifest        the inputs the hash covers (path, size, mtime), for debugging
# The kernel is the newest /boot/vmlinuz-* whose modules include dm-thin-pool (Debian package
# linux-image-amd64), whatever kernel the host runs.
#
# Environment:
#   QRV_VM_CACHE   cache root (default /tmp/qrv-vm-cache)
#   QRV_VM_KERNEL  kernel version to use (default: the newest suitable one)
#   QRV_VM_NODE    node binary (default: `command -v node`)
#   QRV_VM_QUIET   set: no progress on stderr
# Needs: bash, cpio, ldd, kmod (modprobe, depmod), sha256sum, xz and zstd (optional: the kernel is then
# extracted, see below), and the Debian
# packages of test/vm/host-packages.txt;
# xfsprogs and sqlite3 (the sqlite writer's program, test/vm/lane/vm-lvm-e2e.sh) when installed.
set -euo pipefail
export LC_ALL=C
export PATH="$PATH:/usr/sbin:/sbin"

die() { echo "build-initramfs: $*" >&2; exit 1; }
log() { [ -n "${QRV_VM_QUIET:-}" ] || echo "build-initramfs: $*" >&2; }

SELF="$(readlink -f "${BASH_SOURCE[0]}")"
CACHE_ROOT="${QRV_VM_CACHE:-/tmp/qrv-vm-cache}"
NODE_BIN="$(readlink -f "${QRV_VM_NODE:-$(command -v node || true)}")"
[ -x "$NODE_BIN" ] || die "node not found (set QRV_VM_NODE)"
for tool in cpio modprobe depmod kmod ldd sha256sum; do
  command -v "$tool" >/dev/null || die "$tool not found (apt-get install cpio kmod)"
done

# --- the kernel -----------------------------------------------------------------------------
kernel_ok() { [ -r "/boot/vmlinuz-$1" ] && modprobe -S "$1" --show-depends dm-thin-pool >/dev/null 2>&1; }
if [ -n "${QRV_VM_KERNEL:-}" ]; then
  KVER="$QRV_VM_KERNEL"
  kernel_ok "$KVER" || die "kernel $KVER: /boot/vmlinuz-$KVER unreadable or no dm-thin-pool module"
else
  KVER=""
  for k in $(ls /boot 2>/dev/null | sed -n 's/^vmlinuz-//p' | sort -rV); do
    if kernel_ok "$k"; then KVER="$k"; break; fi
  done
  [ -n "$KVER" ] || die "no kernel in /boot with a dm-thin-pool module (apt-get install linux-image-amd64)"
fi
KERNEL="/boot/vmlinuz-$KVER"
MODDIR="/lib/modules/$KVER"

# --- what goes in ---------------------------------------------------------------------------
# Programs: required ones fail the build when missing, optional ones are skipped.
REQUIRED_BINS=(
  busybox kmod lvm dmsetup pdata_tools
  mke2fs e2fsck debugfs dumpe2fs tune2fs filefrag
  mount umount losetup fsfreeze flock blkid wipefs blockdev
)
OPTIONAL_BINS=(
  bash stat sync cp dd truncate sha256sum cmp
  lsblk findmnt sfdisk resize2fs
  mkfs.xfs xfs_io xfs_repair xfs_db xfs_admin
  sqlite3 runuser setpriv
)
# sqlite3: qrv's sqlite writer runs it as the database's owner, through runuser (a PAM session:
# its stack is added below) or, for an owner with no name, util-linux's setpriv (busybox's has no
# --reuid). Both are util-linux's; in the image they win over busybox's applets of those names.
# Kernel modules: EAGER ones are loaded by /init (with their dependencies, in order); LAZY ones
# are only in the image, for `modprobe` or the kernel's own request (mount -t xfs loads xfs).
EAGER_MODS=(virtio_pci virtio_blk 9pnet_virtio 9p loop dm-mod dm-bufio dm-snapshot dm-persistent-data dm-thin-pool crc32c ext4)
OPTIONAL_EAGER_MODS=(virtio_rng)
LAZY_MODS=(xfs overlay dm-zero dm-mirror dm-log dm-region-hash squashfs virtio_mmio)

MANIFEST="$(mktemp)"; FILES="$(mktemp)"; LINKS="$(mktemp)"; MODS="$(mktemp)"
STAGE=""
cleanup() { rm -f "$MANIFEST" "$FILES" "$LINKS" "$MODS"; [ -z "$STAGE" ] || rm -rf "$STAGE"; }
trap cleanup EXIT

add_file() { # add_file SRC [DST]: copy SRC (dereferenced) to DST in the image
  printf '%s\t%s\n' "$1" "${2:-$1}" >>"$FILES"
}
add_libs() { # add_libs PROGRAM...: their shared libraries and loader, at the paths ldd gives
  # (given several files, ldd heads each one's list with a line "FILE:", skipped here)
  { ldd "$@" 2>/dev/null || true; } | awk '$1 ~ /:$/ { next } $2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u | while read -r lib; do add_file "$lib"; done
}
add_link() { # add_link PATH TARGET
  printf '%s\t%s\n' "$1" "$2" >>"$LINKS"
}
usr_path() { # where a program goes in the image (merged /usr: /sbin/x -> /usr/sbin/x)
  case "$1" in /usr/*) echo "$1" ;; /bin/*|/sbin/*) echo "/usr$1" ;; *) echo "/usr/bin/$(basename "$1")" ;; esac
}

PROGRAMS=()
for b in "${REQUIRED_BINS[@]}" "${OPTIONAL_BINS[@]}"; do
  p="$(command -v "$b" || true)"
  if [ -z "$p" ]; then
    case " ${REQUIRED_BINS[*]} " in *" $b "*) die "missing program $b" ;; esac
    log "optional program $b not found, skipped"; continue
  fi
  real="$(readlink -f "$p")"
  add_file "$real" "$(usr_path "$p")"
  PROGRAMS+=("$real")
done
LIBC="$( { ldd "$NODE_BIN" || true; } | awk '$1 == "libc.so.6" { print $3 }')"
[ -n "$LIBC" ] || die "cannot find the libc of $NODE_BIN"
# runuser opens a PAM session (without a stack: "Critical error - immediate abort"): the host's
# /etc/pam.d/runuser (Debian's: pam_rootok, pam_keyinit, pam_limits, pam_unix) with the files it
# @includes, the modules they name (dlopened: in the libraries' folder's security/, their own
# libraries by the ldd below) and pam_limits' limits.conf (without it the session fails)
if [ -n "$(command -v runuser || true)" ] && [ -r /etc/pam.d/runuser ]; then
  PAM_FILES=(/etc/pam.d/runuser)
  for inc in $(sed -n 's/^@include[[:space:]]\{1,\}\([^[:space:]]*\).*/\1/p' /etc/pam.d/runuser); do PAM_FILES+=("/etc/pam.d/$inc"); done
  for f in "${PAM_FILES[@]}"; do add_file "$f"; done
  for m in $(sed 's/#.*//' "${PAM_FILES[@]}" | grep -o '[^[:space:]]*\.so\b' | sort -u); do
    case "$m" in /*) ;; *) m="$(dirname "$LIBC")/security/$m" ;; esac
    [ -e "$m" ] || die "PAM module $m (named in ${PAM_FILES[*]}) not found"
    add_file "$m"; PROGRAMS+=("$m")
  done
  if [ -r /etc/security/limits.conf ]; then add_file /etc/security/limits.conf; fi
fi
# their libraries, and node's (node itself stays outside, shared over 9p): one ldd for all
add_libs "${PROGRAMS[@]}" "$NODE_BIN"
add_link /usr/bin/node "/opt/qrv-node/$(basename "$NODE_BIN")"
# glibc's companion libraries, which native addons (node_modules/*.node) load
for l in libc.so.6 libm.so.6 libdl.so.2 librt.so.1 libpthread.so.0 libresolv.so.2 libutil.so.1 libnss_files.so.2; do
  if [ -e "$(dirname "$LIBC")/$l" ]; then add_file "$(dirname "$LIBC")/$l"; fi
done
# names that are links to lvm / pdata_tools / mke2fs / e2fsck (pvcreate, thin_delta, mkfs.ext4...)
# (one find, not a readlink per link: the cached lookup runs this at every test file's start)
while IFS=$'\t' read -r f target; do
  case "${target##*/}" in
    lvm|pdata_tools|mke2fs|e2fsck) add_link "$(usr_path "$f")" "${target##*/}" ;;
  esac
done < <(find -H /usr/sbin /sbin -mindepth 1 -maxdepth 1 -type l -printf '%p\t%l\n' 2>/dev/null)
add_link /usr/sbin/mkfs.ext4 mke2fs
for m in modprobe insmod rmmod lsmod modinfo depmod; do add_link "/usr/sbin/$m" ../bin/kmod; done
if [ -r /etc/mke2fs.conf ]; then add_file /etc/mke2fs.conf; fi

# Kernel modules in load order, each once
mods_of() { # mods_of MODULE: its .ko files with dependencies first; fails if there is no such module
  local deps; deps="$(modprobe -S "$KVER" --show-depends "$1" 2>/dev/null)" || return 1
  printf '%s\n' "$deps" | awk '$1 == "insmod" { print $2 }'
}
EAGER=()
for m in "${EAGER_MODS[@]}" "${OPTIONAL_EAGER_MODS[@]}" "${LAZY_MODS[@]}"; do
  if ! kos="$(mods_of "$m")"; then
    case " ${EAGER_MODS[*]} " in *" $m "*) die "kernel $KVER has no module $m" ;; esac
    log "optional module $m not in kernel $KVER, skipped"; continue
  fi
  case " ${LAZY_MODS[*]} " in *" $m "*) ;; *) EAGER+=("$m") ;; esac
  printf '%s\n' "$kos" | while read -r ko; do [ -z "$ko" ] || grep -qxF "$ko" "$MODS" || echo "$ko" >>"$MODS"; done
done
for f in modules.order modules.builtin modules.builtin.modinfo; do
  if [ -e "$MODDIR/$f" ]; then add_file "$MODDIR/$f"; fi
done

# --- the cache key ----------------------------------------------------------------------------
{
  echo "script $(sha256sum "$SELF" | cut -d' ' -f1)"
  echo "kernel $KVER $(stat -Lc '%s %Y' "$KERNEL")"
  echo "node $NODE_BIN $(stat -Lc '%s %Y' "$NODE_BIN")"
  echo "eager ${EAGER[*]}"
  # one stat for all files, not one each (a missing one fails the build)
  paste -d' ' <(sort -u "$FILES" | awk -F'\t' '{ print "file " $2 " " $1 }') \
    <(sort -u "$FILES" | cut -f1 | xargs -r -d '\n' stat -Lc '%s %Y')
  sort -u "$LINKS" | sed 's/^/link /'
  xargs -r -d '\n' stat -Lc 'module %n %s %Y' <"$MODS"
} >"$MANIFEST"
KEY="$(sha256sum "$MANIFEST" | cut -c1-16)"
OUT="$CACHE_ROOT/$KEY"
if [ -s "$OUT/initramfs.cpio" ] && [ -s "$OUT/kernel" ] && [ -s "$OUT/node" ]; then
  log "cached: $OUT"
  echo "$OUT"; exit 0
fi

# --- build ----------------------------------------------------------------------------------
log "building $OUT (kernel $KVER)"
mkdir -p "$CACHE_ROOT"
STAGE="$(mktemp -d "$CACHE_ROOT/.build-XXXXXX")"
chmod 755 "$STAGE"
ROOT="$STAGE/root"
mkdir -p "$ROOT"/{usr/bin,usr/sbin,usr/lib,usr/lib64,etc/lvm/backup,etc/lvm/archive,etc/qrv-vm,proc,sys,dev,tmp,run,root,repo,qrv-io,opt/qrv-node,mnt,var/tmp}
for d in bin sbin lib lib64; do ln -s "usr/$d" "$ROOT/$d"; done
chmod 1777 "$ROOT/tmp" "$ROOT/var/tmp"

sort -u "$FILES" | while IFS=$'\t' read -r src dst; do
  mkdir -p "$ROOT$(dirname "$dst")"
  cp -L "$src" "$ROOT$dst"
done
sort -u "$LINKS" | while IFS=$'\t' read -r link target; do
  mkdir -p "$ROOT$(dirname "$link")"
  [ -e "$ROOT$link" ] || ln -sfn "$target" "$ROOT$link"
done

# busybox applets, where no real program of that name is already in the image
"$ROOT/usr/bin/busybox" --list-full | while read -r applet; do
  dst="$ROOT$(usr_path "/$applet")"
  [ -e "$dst" ] || [ -L "$dst" ] || [ -e "$ROOT/usr/bin/$(basename "$applet")" ] || [ -e "$ROOT/usr/sbin/$(basename "$applet")" ] || ln -s /usr/bin/busybox "$dst"
done
[ -e "$ROOT/usr/bin/sh" ] || ln -s busybox "$ROOT/usr/bin/sh"

# kernel modules (decompressed, so that nothing in the VM needs a decompressor), then depmod
while read -r ko; do
  dst="$ROOT${ko%.xz}"; dst="${dst%.zst}"; dst="${dst%.gz}"
  mkdir -p "$(dirname "$dst")"
  case "$ko" in
    *.ko.xz) xz -dc "$ko" >"$dst" ;;
    *.ko.zst) zstd -qdc "$ko" >"$dst" ;;
    *.ko.gz) gzip -dc "$ko" >"$dst" ;;
    *) cp "$ko" "$dst" ;;
  esac
done <"$MODS"
sed -i -e 's/\.ko\.\(xz\|zst\|gz\)$/.ko/' "$ROOT$MODDIR/modules.order" 2>/dev/null || true
depmod -b "$ROOT" "$KVER" 2>/dev/null || depmod -b "$ROOT" "$KVER"
printf '%s\n' "${EAGER[@]}" >"$ROOT/etc/qrv-vm/modules"
echo "$KVER" >"$ROOT/etc/qrv-vm/kernel-version"

cat >"$ROOT/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
printf 'root:x:0:\nnogroup:x:65534:\n' >"$ROOT/etc/group"
printf '127.0.0.1 localhost\n' >"$ROOT/etc/hosts"
printf 'qrv-vm\n' >"$ROOT/etc/hostname"
ln -s /proc/self/mounts "$ROOT/etc/mtab"

# LVM without udev, lvmetad, lvmpolld or dmeventd (metadata backups in /etc/lvm, as by default)
cat >"$ROOT/etc/lvm/lvm.conf" <<'LVMCONF'
devices {
  obtain_device_list_from_udev = 0
  external_device_info_source = "none"
  use_devicesfile = 0
}
global {
  use_lvmpolld = 0
  event_activation = 0
  thin_check_executable = "/usr/sbin/thin_check"
  thin_dump_executable = "/usr/sbin/thin_dump"
  thin_repair_executable = "/usr/sbin/thin_repair"
}
activation {
  udev_sync = 0
  udev_rules = 0
  verify_udev_operations = 0
  monitoring = 0
}
LVMCONF

# /init: mount the basics, load modules, mount the shares, run /qrv-io/script, report, power off.
# Console protocol (test/helpers/vm.ts parses it): everything before @@QRV-VM-BEGIN@@ is boot
# log; then the script's stdout+stderr; then @@QRV-VM-EXIT <status>@@.
cat >"$ROOT/init" <<'INIT'
#!/bin/sh
export PATH=/usr/sbin:/usr/bin HOME=/root TMPDIR=/tmp LC_ALL=C TERM=dumb
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/lock/lvm /run/lvm
hostname qrv-vm
ip link set lo up 2>/dev/null

timeout=600 debug=
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    qrv_timeout=*) timeout="${arg#qrv_timeout=}" ;;
    qrv_debug=1) debug=1 ;;
  esac
done
stamp() { [ -z "$debug" ] || echo "qrv-vm: $(cut -d' ' -f1 /proc/uptime) s: $*"; }
stamp "init started"
# If the host is gone (its process killed), the VM still ends by itself.
( sleep "$timeout"; echo "@@QRV-VM-TIMEOUT@@"; reboot -f ) &

modprobe -a $(cat /etc/qrv-vm/modules) || echo "qrv-vm: some modules did not load"
stamp "modules loaded"

# the shares: this run's folder (script, out/), the repository and node's folder (read-only)
tags=" $(cat /sys/bus/virtio/drivers/9pnet_virtio/virtio*/mount_tag 2>/dev/null | tr '\0\n' '  ') "
ninep=trans=virtio,version=9p2000.L,msize=512000
share() { # share TAG DIR OPTIONS
  case "$tags" in *" $1 "*) mount -t 9p -o "$ninep,$3" "$1" "$2" || echo "qrv-vm: cannot mount $1 on $2" ;; esac
}
share qrvio /qrv-io cache=none
share node /opt/qrv-node cache=loose,ro
# /repo: the repository read-only over 9p, under an overlay on tmpfs so that tools writing
# into it (tap's .tap/, caches) work; writes stay in the VM. Plain read-only 9p if that fails.
mkdir -p /run/repo/lower /run/repo/upper /run/repo/work
share repo /run/repo/lower cache=loose,ro
if grep -q " /run/repo/lower 9p " /proc/mounts; then
  if ! { modprobe overlay && mount -t overlay overlay -o lowerdir=/run/repo/lower,upperdir=/run/repo/upper,workdir=/run/repo/work /repo; } 2>/dev/null; then
    echo "qrv-vm: no overlay on /repo, read-only"; mount --bind /run/repo/lower /repo
  fi
fi
n=0; while [ ! -b /dev/vda ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
[ -b /dev/vda ] || echo "qrv-vm: no data disk /dev/vda"
stamp "shares mounted"

dmesg -n 1
export QRV_VM=1 QRV_VM_DISK=/dev/vda QRV_VM_OUT=/qrv-io/out
cd /tmp
echo "@@QRV-VM-BEGIN@@"
if [ -f /qrv-io/script ]; then
  if [ "$(head -c 2 /qrv-io/script)" = "#!" ]; then
    /qrv-io/script </dev/null 2>&1
  else
    /bin/sh /qrv-io/script </dev/null 2>&1
  fi
  status=$?
else
  echo "qrv-vm: no script at /qrv-io/script"; status=127
fi
cd /
# coverage the script's node processes recorded in tmpfs (test/helpers/vm.ts): into the run's
# folder, once; written there by each process over 9p, it cost ~90 ms of every qrv start
if [ -d /tmp/qrv-coverage ]; then mkdir -p /qrv-io/coverage && cp /tmp/qrv-coverage/* /qrv-io/coverage/ 2>/dev/null; fi
sync
echo "@@QRV-VM-EXIT $status@@"
umount /qrv-io 2>/dev/null
# with qemu -no-reboot, a reboot ends qemu (works with or without ACPI)
reboot -f
INIT
chmod 755 "$ROOT/init"

(cd "$ROOT" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) >"$STAGE/initramfs.cpio"
rm -rf "$ROOT"

# An uncompressed vmlinux boots through its PVH entry (qemu -kernel vmlinux): no decompression
# and no real-mode setup under emulation. Extracted from the bzImage's xz (Debian 12's 6.1) or
# zstd payload (6.12 from bookworm-backports, the default kernel: booted as a bzImage, its boot
# cost 1.5-2 s more host CPU) when possible.
BOOT="$KERNEL"
le32() { od -A n -t u4 -j "$2" -N 4 "$1" | tr -d ' '; } # le32 FILE OFFSET (x86: little-endian)
if grep -qx 'CONFIG_PVH=y' "/boot/config-$KVER" 2>/dev/null && grep -qx 'CONFIG_KERNEL_ZSTD=y' "/boot/config-$KVER" \
   && command -v zstd >/dev/null; then
  # The payload's place from the boot header (setup_sects at 0x1f1, payload_offset and
  # payload_length at 0x248 and 0x24c); its last 4 bytes are the uncompressed size, not zstd.
  start=$(( ($(od -A n -t u1 -j 497 -N 1 "$KERNEL" | tr -d ' ') + 1) * 512 + $(le32 "$KERNEL" 584) ))
  length="$(le32 "$KERNEL" 588)"
  size="$(le32 "$KERNEL" $((start + length - 4)))"
  if head -c "$((start + length - 4))" "$KERNEL" | tail -c "$((length - 4))" | zstd -dcq >"$STAGE/vmlinux" 2>/dev/null \
     && [ "$(stat -c %s "$STAGE/vmlinux")" = "$size" ] \
     && [ "$(head -c 4 "$STAGE/vmlinux" | od -A n -t x1 | tr -d ' ')" = "7f454c46" ]; then
    BOOT="$OUT/vmlinux"
  else
    rm -f "$STAGE/vmlinux"; log "could not extract vmlinux from $KERNEL, booting the bzImage"
  fi
elif grep -qx 'CONFIG_PVH=y' "/boot/config-$KVER" 2>/dev/null && command -v xz >/dev/null; then
  # offset of the xz magic (FD 37 7A 58 5A 00) in the bzImage
  off="$( { grep -obUaP '\xfd7zXZ\x00' "$KERNEL" || true; } | head -n 1 | cut -d: -f1)"
  if [ -n "$off" ] && xz -dc --single-stream < <(tail -c +"$((off + 1))" "$KERNEL") >"$STAGE/vmlinux" 2>/dev/null \
     && [ "$(head -c 4 "$STAGE/vmlinux" | od -A n -t x1 | tr -d ' ')" = "7f454c46" ]; then
    BOOT="$OUT/vmlinux"
  else
    rm -f "$STAGE/vmlinux"; log "could not extract vmlinux from $KERNEL, booting the bzImage"
  fi
fi
echo "$BOOT" >"$STAGE/kernel"
echo "$NODE_BIN" >"$STAGE/node"
cp "$MANIFEST" "$STAGE/manifest"
# publish atomically; a concurrent build of the same key may have won, which is fine
if ! mv -T "$STAGE" "$OUT" 2>/dev/null; then rm -rf "$STAGE"; fi
STAGE=""
# drop other builds not used for a day
find "$CACHE_ROOT" -mindepth 1 -maxdepth 1 ! -name "$KEY" -mmin +1440 -exec rm -rf {} + 2>/dev/null || true
touch "$OUT"
log "built: initramfs $(du -m "$OUT/initramfs.cpio" | cut -f1) MiB, kernel $BOOT"
echo "$OUT"
