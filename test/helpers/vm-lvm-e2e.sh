#!/bin/bash
# Run inside the VM lane by test/providers/lvm/lvm-provider.test.ts: qrv end to end on a mounted
# ext4 LV — frozen and snapshotted by the lvm provider, copied to a QRV, the QRV checked with
# e2fsck, then updated through its ledger. Only ever inside the VM, on its blank data disk.
set -euo pipefail
[ -n "${QRV_VM_DISK:-}" ] && [ -n "${QRV_VM_OUT:-}" ] || { echo "runs only inside the VM lane"; exit 2; }
qrv() { node /repo/bin/qrv --json "$@" | tail -1; }
export QRV_HOME=/tmp/qrv-home
lvm pvcreate -q "$QRV_VM_DISK"
lvm vgcreate -q vge "$QRV_VM_DISK"
lvm lvcreate -q -y -L 64m -n db vge
mkfs.ext4 -q /dev/vge/db
mkdir -p /mnt/db /tmp/q
mount /dev/vge/db /mnt/db
for i in 1 2 3; do dd if=/dev/urandom bs=1048576 count=1 status=none of="/mnt/db/file$i"; done
echo "RESULT add $(qrv volume add db --provider lvm --path /dev/vge/db)"
echo "RESULT run $(qrv run db --to /tmp/q/)"
if e2fsck -fn /tmp/q/db.qrv.img >/dev/null 2>&1; then echo "RESULT fsck clean"; else echo "RESULT fsck unclean"; fi
dd if=/dev/urandom bs=1048576 count=1 status=none of=/mnt/db/file2
sync
snap=$(qrv snap db)
echo "RESULT snap $snap"
id=$(echo "$snap" | sed -n 's/.*"snapshot":{"id":"\(s-[0-9a-f]*\)".*/\1/p')
echo "RESULT copy $(qrv copy "$id" --to /tmp/q/)"
if e2fsck -fn /tmp/q/db.qrv.img >/dev/null 2>&1; then echo "RESULT fsck2 clean"; else echo "RESULT fsck2 unclean"; fi
echo "RESULT unsnap $(qrv unsnap "$id")"
node /repo/bin/qrv doctor >/dev/null 2>&1 && echo "RESULT doctor 0" || echo "RESULT doctor $?"
echo "RESULT lvs $(lvm lvs --noheadings -o lv_name vge | tr -s ' \n' ' ')"
