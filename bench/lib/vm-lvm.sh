#!/bin/bash
# Run inside the VM lane by bench/vm-lvm.ts (never by hand on a real machine: it partitions the
# VM's blank data disk with dmsetup and LVM). Two parts:
#
# 1. Freeze window and snapshot creation, per provider: a mounted ext4 on a classic LV, on a thin
#    LV, on a dm volume (a plain linear dm device taken over by `qrv volume add --provider dm`) and,
#    for comparison with the host's bench/freeze-window.ts, an ext4 image loop-mounted from XFS
#    (file provider, reflink). Before each of BENCH_RUNS `qrv snap` processes DIRTY_MIB of fresh,
#    unsynced data is written; each snapshot is removed again with `qrv unsnap`. Then the same
#    number of bare snapshots without qrv (lvcreate -s [-L] + lvremove; dmsetup suspend + resume;
#    fsfreeze + cp --reflink + fsfreeze -u), after the same `sync -f`. Kernel-side windows come
#    from kprobes on freeze_super/thaw_super and dm_suspend/dm_resume (tracefs), one trace file
#    per measured command.
# 2. Copy of an LV of BENCH_VM_LV_MIB (classic, then thin) filled with random data, to files on
#    an ext4 LV mounted at /mnt/dest: BENCH_VM_COPY_RUNS times `qrv run --keep-snapshot` (a full
#    copy) and `dd if=<that snapshot> of=/mnt/dest/dd.img bs=4M conv=fsync`; then, for 1 % and
#    10 % of the 64 KiB blocks rewritten with random data, BENCH_VM_INCR_RUNS times `qrv snap` and
#    `qrv copy SNAP --to <the last full copy's QRV>` (an update from the provider's changed
#    ranges; the previous snapshot is its base and is removed after). Cached blocks of the dm
#    devices (and the QRV file) are dropped before every timed copy (see dropcaches).
#
# Output in $QRV_VM_OUT: index.tsv (name kind row run t0 t1 status, times from $EPOCHREALTIME),
# rec/NAME.json (stdout of qrv --json), rec/NAME.err, trace/NAME.txt, meta.env.
set -euo pipefail
[ -n "${QRV_VM_DISK:-}" ] && [ -n "${QRV_VM_OUT:-}" ] && [ "${QRV_VM:-}" = 1 ] || { echo "runs only inside the VM lane (bench/vm-lvm.ts boots it)"; exit 2; }

RUNS=${BENCH_RUNS:-10}
LV_MIB=${BENCH_VM_LV_MIB:-512}
COPY_RUNS=${BENCH_VM_COPY_RUNS:-3}
INCR_RUNS=${BENCH_VM_INCR_RUNS:-3}
FILE_ROW=${BENCH_VM_FILE:-1}
FREEZE_MIB=256
DIRTY_MIB=8
PLAIN_MIB=256
OUT=$QRV_VM_OUT
T=/sys/kernel/tracing
export QRV_HOME=/tmp/qrv-home
mkdir -p "$OUT/rec" "$OUT/trace" /mnt/dest
: >"$OUT/index.tsv"
: >"$OUT/sections.tsv"
started=$EPOCHREALTIME
say() { local now=${EPOCHREALTIME/./}; echo "[$(( (now - ${started/./}) / 1000000 )) s] $*"; }
# Drops the cached blocks of every dm device and the disk (BLKFLSBUF), and of the given files
# (fadvise DONTNEED through dd), but not the page cache as a whole: node and qrv's bundle come
# over 9p, and re-reading them after `drop_caches` costs 10+ s per process under emulation.
dropcaches() {
  local d f
  sync
  for d in /dev/dm-* "$QRV_VM_DISK"; do blockdev --flushbufs "$d" 2>/dev/null || true; done
  for f in "$@"; do [ -f "$f" ] && dd if="$f" iflag=nocache count=0 status=none; done
  return 0
}
snapid() { sed -n 's/.*"snapshot":{"id":"\(s-[0-9a-f]*\)".*/\1/p' "$1" | tail -1; }

# ---- kernel-side windows: kprobes on the freeze and on dm suspend/resume ----
TRACING=0
if mount -t tracefs nodev "$T" 2>/dev/null || [ -e "$T/kprobe_events" ]; then
  if { echo 'p:qrv_fs freeze_super'; echo 'r:qrv_fsr freeze_super'; echo 'p:qrv_ts thaw_super'; echo 'r:qrv_tsr thaw_super';
       echo 'p:qrv_ds dm_suspend md=$arg1'; echo 'r:qrv_dsr dm_suspend'; echo 'p:qrv_dr dm_resume md=$arg1'; echo 'r:qrv_drr dm_resume'; } >>"$T/kprobe_events" 2>/dev/null \
     && echo 1 >"$T/events/kprobes/enable" && echo 1 >"$T/tracing_on"; then
    TRACING=1
  fi
fi
trace_clear() { [ "$TRACING" = 1 ] && : >"$T/trace" || true; }
trace_save() { [ "$TRACING" = 1 ] && grep -v '^#' "$T/trace" >"$OUT/trace/$1.txt" || true; }

# timed NAME KIND ROW RUN TRACE(0|1) COMMAND...: runs it with stdout/stderr into rec/, one index line.
timed() {
  local name=$1 kind=$2 row=$3 run=$4 trace=$5 t0 t1 status=0
  shift 5
  [ "$trace" = 1 ] && trace_clear
  t0=$EPOCHREALTIME
  "$@" >"$OUT/rec/$name.json" 2>"$OUT/rec/$name.err" || status=$?
  t1=$EPOCHREALTIME
  [ "$trace" = 1 ] && trace_save "$name"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$kind" "$row" "$run" "$t0" "$t1" "$status" >>"$OUT/index.tsv"
  if [ "$status" != 0 ]; then echo "FAILED ($status): $*"; tail -3 "$OUT/rec/$name.err"; fi
  return "$status"
}
qrv() { node /repo/bin/qrv --json "$@"; }
qrv_quiet() { node /repo/bin/qrv --json "$@" >/dev/null; }

# ---- the disk: a plain linear device for the dm provider, the rest for LVM ----
disk_sectors=$(blockdev --getsz "$QRV_VM_DISK")
plain_sectors=$((PLAIN_MIB * 2048))
# The plain device first: LVM's label is then at an offset of the disk, so the disk itself does
# not look like a second copy of the PV.
dmsetup create --verifyudev plain --table "0 $plain_sectors linear $QRV_VM_DISK 0"
dmsetup create --verifyudev pvdisk --table "0 $((disk_sectors - plain_sectors)) linear $QRV_VM_DISK $plain_sectors"
lvm pvcreate -q /dev/mapper/pvdisk
lvm vgcreate -q vg /dev/mapper/pvdisk

{
  echo "kernel=$(uname -r)"
  echo "lvm=$(lvm version | sed -n 's/ *LVM version: *//p')"
  echo "cpus=$(nproc)"
  echo "cpu=$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)"
  echo "memory_kib=$(sed -n 's/^MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo)"
  echo "disk_mib=$((disk_sectors / 2048))"
  echo "tracing=$TRACING"
  echo "runs=$RUNS"
  echo "lv_mib=$LV_MIB"
  echo "copy_runs=$COPY_RUNS"
  echo "incr_runs=$INCR_RUNS"
  echo "file_row=$FILE_ROW"
  echo "freeze_mib=$FREEZE_MIB"
  echo "dirty_mib=$DIRTY_MIB"
  echo "node=$(node --version)"
  echo "xfs=$(command -v mkfs.xfs >/dev/null && echo 1 || echo 0)"
} >"$OUT/meta.env"

# ---- part 1: freeze window and snapshot creation ----

# qrv_snaps ROW VOLUME MOUNTPOINT: RUNS × (dirty data, qrv snap, qrv unsnap)
qrv_snaps() {
  local row=$1 volume=$2 mnt=$3 i id
  for ((i = 0; i < RUNS; i++)); do
    dd if=/dev/urandom of="$mnt/f$((i % 3))" bs=1M count=$DIRTY_MIB status=none
    timed "snap-$row-$i" snap "$row" "$i" 1 qrv snap "$volume"
    id=$(snapid "$OUT/rec/snap-$row-$i.json")
    timed "unsnap-$row-$i" unsnap "$row" "$i" 0 qrv unsnap "$id"
  done
}

# bare_snaps ROW MOUNTPOINT CREATE [REMOVE]: RUNS × (dirty data, sync -f, CREATE, REMOVE), both
# shell functions (run in this shell: no extra process is timed)
bare_snaps() {
  local row=$1 mnt=$2 create=$3 remove=${4:-} i
  for ((i = 0; i < RUNS; i++)); do
    dd if=/dev/urandom of="$mnt/f$((i % 3))" bs=1M count=$DIRTY_MIB status=none
    sync -f "$mnt"
    timed "bare-$row-$i" bare "$row" "$i" 1 "$create"
    [ -z "$remove" ] || timed "bareremove-$row-$i" bareremove "$row" "$i" 0 "$remove"
  done
}

# The bare mechanisms, as the providers call them (same COW size: 20 % of the origin).
bare_classic() { lvm lvcreate -q -y -s -p r -L $(((FREEZE_MIB * 1024 * 1024 / 5 + 511) / 512 * 512))b -n bare vg/fc; }
bare_thin() { lvm lvcreate -q -s -p r -n bare vg/ft; }
bare_lvremove() { lvm lvremove -q -y vg/bare; }
bare_dm() { dmsetup suspend qrv-x && dmsetup resume qrv-x; }
bare_reflink() {
  local status=0
  fsfreeze -f /mnt/fxv && { cp --reflink=always /mnt/fx/vol.img /mnt/fx/bare.img || status=$?; fsfreeze -u /mnt/fxv; }
  return $status
}
bare_rmclone() { rm -f /mnt/fx/bare.img; }

freeze_classic() {
  lvm lvcreate -q -y -L ${FREEZE_MIB}m -n fc vg
  mkfs.ext4 -q /dev/vg/fc && mkdir -p /mnt/fc && mount /dev/vg/fc /mnt/fc
  qrv_quiet volume add fc --provider lvm --path /dev/vg/fc
  say "freeze: lvm-classic, qrv"
  qrv_snaps lvm-classic fc /mnt/fc
  say "freeze: lvm-classic, bare lvcreate"
  bare_snaps lvm-classic /mnt/fc bare_classic bare_lvremove
  umount /mnt/fc
}

freeze_thin() {
  lvm lvcreate -q -y -L $((FREEZE_MIB * 3 / 2))m -T vg/fpool
  lvm lvcreate -q -y -V ${FREEZE_MIB}m -T vg/fpool -n ft
  mkfs.ext4 -q /dev/vg/ft && mkdir -p /mnt/ft && mount /dev/vg/ft /mnt/ft
  qrv_quiet volume add ft --provider lvm --path /dev/vg/ft
  say "freeze: lvm-thin, qrv"
  qrv_snaps lvm-thin ft /mnt/ft
  say "freeze: lvm-thin, bare lvcreate"
  bare_snaps lvm-thin /mnt/ft bare_thin bare_lvremove
  umount /mnt/ft
}

freeze_dm() {
  qrv_quiet volume add x --provider dm --device /dev/mapper/plain
  mkfs.ext4 -q /dev/mapper/qrv-x && mkdir -p /mnt/x && mount /dev/mapper/qrv-x /mnt/x
  say "freeze: dm, qrv"
  qrv_snaps dm x /mnt/x
  say "freeze: dm, bare dmsetup suspend + resume"
  bare_snaps dm /mnt/x bare_dm
  umount /mnt/x
}

freeze_file_xfs() {
  lvm lvcreate -q -y -L $((FREEZE_MIB * 2))m -n fx vg
  mkfs.xfs -q -f -m reflink=1 /dev/vg/fx && mkdir -p /mnt/fx /mnt/fxv && mount /dev/vg/fx /mnt/fx
  truncate -s ${FREEZE_MIB}M /mnt/fx/vol.img
  mkfs.ext4 -q -F /mnt/fx/vol.img
  local loop
  loop=$(losetup -f --show /mnt/fx/vol.img)
  mount "$loop" /mnt/fxv
  qrv_quiet volume add fxv --path /mnt/fx/vol.img
  say "freeze: file on XFS, qrv"
  qrv_snaps file-xfs fxv /mnt/fxv
  say "freeze: file on XFS, bare fsfreeze + cp --reflink"
  bare_snaps file-xfs /mnt/fxv bare_reflink bare_rmclone
  umount /mnt/fxv
  losetup -d "$loop"
  umount /mnt/fx
  lvm lvremove -q -y vg/fx
}

# Each part in a subshell: one that fails is reported (sections.tsv) and the others still run.
section() {
  local name=$1 status=0
  set +e
  ( set -e; "$name" )
  status=$?
  set -e
  printf '%s\t%s\n' "$name" "$status" >>"$OUT/sections.tsv"
  [ "$status" = 0 ] || say "section $name FAILED ($status)"
}

section freeze_classic
section freeze_thin
if node /repo/bin/qrv volume add --help 2>/dev/null | grep -q -- '--device'; then section freeze_dm; else printf 'freeze_dm\tabsent\n' >>"$OUT/sections.tsv"; fi
if [ "$FILE_ROW" != 1 ]; then printf 'freeze_file_xfs\toff\n' >>"$OUT/sections.tsv"
elif command -v mkfs.xfs >/dev/null; then section freeze_file_xfs; else printf 'freeze_file_xfs\tabsent\n' >>"$OUT/sections.tsv"; fi
[ "$TRACING" = 1 ] && echo 0 >"$T/events/kprobes/enable"

# ---- part 2: copies of an LV ----

lvm lvcreate -q -y -L $((LV_MIB * 5 / 2))m -n dest vg
mkfs.ext4 -q -E lazy_itable_init=0,lazy_journal_init=0 /dev/vg/dest && mount /dev/vg/dest /mnt/dest
# 64 MiB of random data, written over and over: /dev/urandom runs at ~35 MB/s under emulation.
dd if=/dev/urandom of=/tmp/random.bin bs=1M count=64 status=none

fill() {
  local dev=$1 i
  for ((i = 0; i < LV_MIB / 64; i++)); do dd if=/tmp/random.bin of="$dev" bs=4M seek=$((i * 16)) conv=notrunc status=none; done
  sync
}

# change DEV PERCENT: rewrites PERCENT % of the device's 64 KiB blocks (distinct, random) with random data.
change() {
  node -e '
    const fs = require("fs"), crypto = require("crypto");
    const [dev, percent, mib] = process.argv.slice(1);
    const blocks = Number(mib) * 16, count = Math.round(blocks * Number(percent) / 100);
    const picked = new Set();
    while (picked.size < count) picked.add(crypto.randomInt(blocks));
    const fd = fs.openSync(dev, "r+");
    for (const b of picked) fs.writeSync(fd, crypto.randomBytes(65536), 0, 65536, b * 65536);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
  ' "$1" "$2" "$LV_MIB"
}

# copies ROW LV: full copies (qrv run, dd), then updates at 1 % and 10 % changed.
copies() {
  local row=$1 lv=$2 i pct id base last=$((COPY_RUNS - 1)) dest
  say "copy: $row, filling $LV_MIB MiB"
  fill "/dev/vg/$lv"
  qrv_quiet volume add "$lv" --provider lvm --path "/dev/vg/$lv"
  for ((i = 0; i < COPY_RUNS; i++)); do
    say "copy: $row, full copy $i"
    dropcaches
    timed "run-$row-$i" run "$row" "$i" 0 qrv run "$lv" --to "/mnt/dest/$lv-$i.img" --keep-snapshot
    id=$(snapid "$OUT/rec/run-$row-$i.json")
    dropcaches
    timed "dd-$row-$i" dd "$row" "$i" 0 dd "if=/dev/vg/${lv}_qrv_$id" of=/mnt/dest/dd.img bs=4M conv=fsync status=none
    rm -f /mnt/dest/dd.img
    if [ "$i" != "$last" ]; then
      qrv_quiet unsnap "$id"
      rm -f "/mnt/dest/$lv-$i.img" "/mnt/dest/$lv-$i.img.qrvledger"
    fi
  done
  base=$id
  dest=/mnt/dest/$lv-$last.img
  for pct in 1 10; do
    for ((i = 0; i < INCR_RUNS; i++)); do
      say "copy: $row, update after $pct % changed, $i"
      change "/dev/vg/$lv" "$pct"
      timed "isnap-$row-$pct-$i" isnap "$row-$pct" "$i" 0 qrv snap "$lv"
      id=$(snapid "$OUT/rec/isnap-$row-$pct-$i.json")
      dropcaches "$dest" "$dest.qrvledger"
      timed "copy-$row-$pct-$i" copy "$row-$pct" "$i" 0 qrv copy "$id" --to "$dest"
      qrv_quiet unsnap "$base"
      base=$id
    done
  done
  qrv_quiet unsnap "$base"
  rm -f "$dest" "$dest.qrvledger"
}

copy_classic() {
  lvm lvcreate -q -y -L ${LV_MIB}m -n cc vg
  copies lvm-classic cc
}

copy_thin() {
  lvm lvcreate -q -y -L $((LV_MIB * 3 / 2))m -T vg/cpool
  lvm lvcreate -q -y -V ${LV_MIB}m -T vg/cpool -n ct
  copies lvm-thin ct
}

section copy_classic
section copy_thin
say "done"
