#!/bin/bash
# Run inside the VM lane by test/services/instant-vm.test.ts, second boot of the same disk (see
# vm-instant-1.sh): the classic LV whose instant recovery the reboot stopped is not activated at
# boot; doctor says so; qrv volume activate makes its mirror again and the copy goes on; at its end
# the LV holds the QRV and what was written to it before the reboot; doctor --fix removes helpers
# that no volume records. Only ever inside the VM.
set -euo pipefail
. /repo/test/vm/lane/vm-instant-lib.sh
# what a boot does: activate what may be activated automatically
lvm vgchange -q -aay vge >/dev/null
echo "RESULT db-active-at-boot $([ -b /dev/vge/db ] && echo yes || echo no)"
mkdir -p /store /mnt/db && mount /dev/vge/store /store
echo "RESULT doctor $("$QRV" doctor 2>&1 | grep -c 'stopped by a reboot' || true)"
# slowly, so that it is seen still copying (a reboot set the kernel's share back to 100 %)
modprobe dm-mirror
echo 1 >/sys/module/dm_mirror/parameters/raid1_resync_throttle
echo "RESULT activate $(qrv volume activate db)"
echo "RESULT db-copying $(copying vge-db)"
echo 100 >/sys/module/dm_mirror/parameters/raid1_resync_throttle
for _ in $(seq 1 120); do [ -z "$(copying vge-db)" ] && break; sleep 0.5; done
echo "RESULT status $(qrv recover --status db)"
echo "RESULT table $(dmsetup table vge-db | cut -d' ' -f3)"
echo "RESULT autoactivation $(lvm lvs --noheadings -o autoactivation vge/db | tr -d ' ')"
echo "RESULT fsck $(fsck /dev/vge/db)"
mount /dev/vge/db /mnt/db
echo "RESULT file1 $([ "$(sum /mnt/db/file1)" = "$(cat /store/db.sum)" ] && echo same || echo differs) $([ -e /mnt/db/junk ] && echo junk || echo no-junk)"
echo "RESULT during $([ "$(sum /mnt/db/during)" = "$(cat /store/db.during)" ] && echo same || echo differs)"
umount /mnt/db
# what a lost catalog row leaves: a helper device and a file that no volume records
dmsetup create qrv-hyd-j-orphan-src --table "0 8 zero"
(umask 077 && truncate -s 1M /store/home/hydrate/j-orphan.cow)
echo "RESULT orphan $(qrv doctor --fix)"
echo "RESULT helpers $(dmsetup ls | grep -c qrv-hyd || true) $(ls /store/home/hydrate | wc -l)"
