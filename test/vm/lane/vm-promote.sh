#!/bin/bash
# Run inside the VM lane by test/services/promote-vm.test.ts: `qrv promote` of QRVs kept on
# block devices. An lvm volume whose QRV is on another LV becomes that LV; a dm volume whose QRV
# is on a plain device (a loop device here) has that device taken over as /dev/mapper/qrv-web.
# After each, the data is the QRV's, a snapshot of the new primary works, and the old primary is
# left as it was. Prints "RESULT <name> <value>" lines. Only ever inside the VM.
set -euo pipefail
. /repo/test/vm/lane/vm-lib.sh
mkdir -p /mnt/a /mnt/s

# new_primary PREFIX VOLUME DEVICE: the promoted device holds the QRV's data ("one"), and a
# snapshot of the volume now is of that device (it holds "three", written after the promote).
new_primary() {
  mount "$3" /mnt/a
  echo "RESULT $1-data $(cat /mnt/a/version)"
  echo three >/mnt/a/version
  local snap; snap=$(qrv snap "$2")
  echo "RESULT $1-snap $snap"
  mount -o ro,noload "$(field "$snap" snapshot.path)" /mnt/s
  echo "RESULT $1-snap-data $(cat /mnt/s/version)"
  umount /mnt/s
  qrv unsnap "$(field "$snap" snapshot.id)" >/dev/null
  umount /mnt/a
}

# --- lvm: a QRV on another LV ---
lvm pvcreate -q "$QRV_VM_DISK"
lvm vgcreate -q vge "$QRV_VM_DISK"
lvm lvcreate -q -y -L 64m -n db vge
lvm lvcreate -q -y -L 64m -n dbq vge
mkfs.ext4 -q /dev/vge/db
mount /dev/vge/db /mnt/a
echo one >/mnt/a/version
qrv volume add db --provider lvm --path /dev/vge/db >/dev/null
run=$(qrv run db --to /dev/vge/dbq --force)
echo "RESULT lvm-run $run"
q=$(field "$run" qrv.id)
echo two >/mnt/a/version
echo "RESULT lvm-mounted $(refused promote "$q" --force)"
umount /mnt/a
old=$(sha256sum /dev/vge/db | cut -d' ' -f1)
echo "RESULT lvm-exists $(refused promote "$q")"
echo "RESULT lvm-promote $(qrv promote "$q" --force)"
echo "RESULT lvm-old-kept $([ "$(sha256sum /dev/vge/db | cut -d' ' -f1)" = "$old" ] && echo yes || echo no)"
new_primary lvm db /dev/vge/dbq
echo "RESULT lvm-lvs $(lvm lvs --noheadings -o lv_name vge | tr -s ' \n' ' ')"

# --- dm: a QRV on a plain device ---
truncate -s 64M /tmp/raw.img /tmp/qrv-dev.img
raw=$(losetup -f --show /tmp/raw.img)
qdev=$(losetup -f --show /tmp/qrv-dev.img)
qrv volume add web --provider dm --device "$raw" --cow-dir /tmp >/dev/null
mkfs.ext4 -q /dev/mapper/qrv-web
mount /dev/mapper/qrv-web /mnt/a
echo one >/mnt/a/version
run=$(qrv run web --to "$qdev" --force)
echo "RESULT dm-run $run"
q=$(field "$run" qrv.id)
echo two >/mnt/a/version
umount /mnt/a
old=$(sha256sum "$raw" | cut -d' ' -f1)
echo "RESULT dm-promote $(qrv promote "$q" --force)"
echo "RESULT dm-table $(dmsetup table qrv-web)"
echo "RESULT dm-qdev $(stat -Lc '%t:%T' "$qdev") $(stat -Lc '%t:%T' "$raw")"
echo "RESULT dm-old-kept $([ "$(sha256sum "$raw" | cut -d' ' -f1)" = "$old" ] && echo yes || echo no)"
new_primary dm web /dev/mapper/qrv-web
echo "RESULT dm-remove $(qrv volume remove web)"
echo "RESULT dm-after $(dmsetup ls | grep -c qrv- || true)"
