#!/bin/bash
# Run inside the VM lane by test/providers/lvm/lvm-group.test.ts: a consistency group of two
# mounted LVs (one classic, one thin) snapshotted while a writer keeps writing a counter to both,
# first to db, then to web. Held in one freeze window, the two snapshots show counters that
# differ by at most one (db's the newer); snapshotted one after the other, web's runs ahead.
# Only ever inside the VM, on its blank data disk.
set -euo pipefail
. /repo/test/vm/lane/vm-lib.sh
echo "RESULT kernel $(uname -r)"
vg_pair
mkdir -p /mnt/snap
for lv in db web; do
  printf '%010d' 0 >"/mnt/$lv/counter"
  qrv volume add "$lv" --provider lvm --path "/dev/vge/$lv" >/dev/null
done

# Each write is one 10-byte pwrite at offset 0: a freeze lands between two writes, never inside one.
( i=0; while :; do i=$((i+1)); n=$(printf '%010d' "$i")
    printf '%s' "$n" | dd of=/mnt/db/counter conv=notrunc status=none
    printf '%s' "$n" | dd of=/mnt/web/counter conv=notrunc status=none
  done ) &
writer=$!
sleep 3
group=$(qrv snap db web)
kill "$writer"; wait "$writer" 2>/dev/null || true
echo "RESULT group $group"
for pair in $(echo "$group" | pick 'j.snapshots.map((s)=>s.volume+"="+s.path).join(" ")'); do
  lv=${pair%%=*}; dev=${pair#*=}
  mount -o ro,noload "$dev" /mnt/snap
  echo "RESULT counter-$lv $(cat /mnt/snap/counter)"
  umount /mnt/snap
done
echo "RESULT live $(cat /mnt/db/counter) $(cat /mnt/web/counter)"
# A write goes through at once: nothing is left frozen.
timeout 10 sh -c 'echo done >/mnt/db/after && echo done >/mnt/web/after' && echo "RESULT writable yes" || echo "RESULT writable no"
