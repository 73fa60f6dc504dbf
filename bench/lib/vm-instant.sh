#!/bin/bash
# Run inside the VM lane by bench/vm-instant.ts (never by hand on a real machine: it makes a volume
# group on the VM's blank data disk). Time to usable of a classic LV after 1 % of its 64 KiB blocks
# changed: `qrv recover --instant --no-wait` (the dm mirror: usable at once, the kernel copies in
# the background), `--force` (the ledger: one read of the LV, only what differs written) and
# `--force --full`, for each size in BENCH_SIZES_MIB. Each LV holds ext4, 85 % full of random
# data, and a 1 MiB probe file; its QRV is a file on an ext4 LV. Before each timed run the same
# blocks are overwritten again with new random data (untimed), then sync and a cache drop. Timed:
# the qrv process, then `mount -o ro` and a read of the probe (checked). After an instant recovery
# its copy is waited for and finished, untimed; a write-back's `before` snapshot is removed.
# Prints one line per run: BENCH SIZE KIND ROUND SECONDS QRV_SECONDS BYTES_WRITTEN
set -euo pipefail
. /repo/test/vm/lane/vm-instant-lib.sh
RUNS=${BENCH_RUNS:-3}
SIZES=${BENCH_SIZES_MIB:-256,1024}
largest=$(echo "$SIZES" | tr ',' '\n' | sort -n | tail -1)
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
# the same 1 % of the device's 64 KiB blocks (a fixed seed), new random data each time
change() {
  node -e '
    const fs = require("fs"), crypto = require("crypto");
    const [dev, mib] = [process.argv[1], Number(process.argv[2])];
    const blocks = mib * 16, fd = fs.openSync(dev, "r+");
    let seed = 12345;
    for (let i = 0; i < Math.ceil(blocks / 100); i++) {
      seed = (seed * 16807) % 2147483647;
      fs.writeSync(fd, crypto.randomBytes(65536), 0, 65536, (seed % blocks) * 65536);
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);' "$1" "$2"
}
dropcaches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

lvm pvcreate -q "$QRV_VM_DISK" && lvm vgcreate -q vgb "$QRV_VM_DISK"
lvm lvcreate -q -y -L "$((largest * 2 + 512))m" -n store vgb
mkfs.ext4 -q -E nodiscard /dev/vgb/store && mkdir -p /store /mnt/v && mount /dev/vgb/store /store
mkdir -p /store/q

for size in ${SIZES//,/ }; do
  lv=/dev/vgb/v$size
  lvm lvcreate -q -y -L "${size}m" -n "v$size" vgb
  mkfs.ext4 -q -E nodiscard "$lv" && mount "$lv" /mnt/v
  head -c 1048576 /dev/urandom >/mnt/v/probe
  probe=$(sha256sum /mnt/v/probe | cut -d' ' -f1)
  dd if=/dev/urandom of=/mnt/v/data bs=1M count=$((size * 85 / 100 - 1)) status=none
  umount /mnt/v
  qrv volume add "v$size" --provider lvm --path "$lv" >/dev/null
  q=$(field "$(qrv run "v$size" --to /store/q/)" qrv.id)
  kinds=(instant incremental full)
  for round in $(seq 0 $((RUNS - 1))); do
    for i in 0 1 2; do
      kind=${kinds[$(((i + round) % 3))]}
      case $kind in
        instant) args=(--instant --no-wait) ;;
        incremental) args=(--force) ;;
        full) args=(--force --full) ;;
      esac
      echo "qrv bench: $size MiB, $kind, round $((round + 1))" >/dev/kmsg
      change "$lv" "$size"
      dropcaches
      t0=$EPOCHREALTIME
      out=$(qrv recover "v$size" --from "$q" "${args[@]}")
      t1=$EPOCHREALTIME
      mount -o ro "$lv" /mnt/v
      read=$(sha256sum /mnt/v/probe | cut -d' ' -f1)
      t2=$EPOCHREALTIME
      umount /mnt/v
      [ "$read" = "$probe" ] || { echo "after $kind the probe differs: $out"; exit 1; }
      echo "BENCH $size $kind $((round + 1)) $(elapsed "$t0" "$t2") $(elapsed "$t0" "$t1") $(field "$out" bytesWritten)"
      before=$(field "$out" before)
      [ -n "$before" ] && qrv unsnap "$before" >/dev/null
      if [ "$kind" = instant ]; then
        while [ -n "$(copying "vgb-v$size")" ]; do sleep 1; done
        qrv recover --status "v$size" >/dev/null
      fi
    done
  done
done
