#!/bin/bash
# Run inside the VM lane by test/services/instant-vm.test.ts, first boot: instant recovery
# (qrv recover --instant) of a dm volume (waited for), a thin LV (qrv killed while it waits: the
# kernel goes on, --status finishes) and a classic LV (--no-wait, left copying: the VM then
# reboots, and the second boot, vm-instant-2.sh, goes on with it). The QRVs and the qrv home are on
# an LV of the data disk, which the second boot finds again. Only ever inside the VM.
set -euo pipefail
. /repo/test/vm/lane/vm-instant-lib.sh
vg_pair
lvm lvcreate -q -y -L 400m -n store vge
lvm lvcreate -q -y -L 64m -n raw vge
mkfs.ext4 -q /dev/vge/store && mkdir -p /store && mount /dev/vge/store /store && mkdir -p /store/q
qrv volume add db --provider lvm --path /dev/vge/db >/dev/null
qrv volume add web --provider lvm --path /dev/vge/web >/dev/null
qrv volume add x --provider dm --device /dev/vge/raw >/dev/null
mkfs.ext4 -q /dev/mapper/qrv-x && mkdir -p /mnt/x && mount /dev/mapper/qrv-x /mnt/x
for v in db web x; do
  dd if=/dev/urandom bs=1048576 count=8 status=none of="/mnt/$v/file1"
  sum "/mnt/$v/file1" >"/store/$v.sum"
  run=$(qrv run "$v" --to /store/q/)
  field "$run" qrv.id >"/store/$v.qrv"
  # then the volume goes bad: file1 overwritten, a file added
  dd if=/dev/urandom bs=1048576 count=8 status=none of="/mnt/$v/file1" conv=notrunc
  echo junk >"/mnt/$v/junk"
  umount "/mnt/$v"
done

# dm, written back first (--force): the ledger finds the 8 MiB of file1 and the junk file; only that is written
echo "RESULT x-writeback $(qrv recover x --from "$(cat /store/x.qrv)" --force)"
echo "RESULT x-writeback-same $(cmp -s /dev/mapper/qrv-x /store/q/x.qrv.img && echo yes || echo no)"
# bad again (4 MiB in the middle), so that the instant recovery below has something to put back
dd if=/dev/urandom bs=1048576 count=4 status=none of=/dev/mapper/qrv-x seek=40 conv=fsync

# dm: waited for, its copy kept to 8 MiB/s; the volume is its own device again at the end
echo "RESULT refused-mounted-x $(mount /dev/mapper/qrv-x /mnt/x && refused recover x --from "$(cat /store/x.qrv)" --instant; umount /mnt/x)"
echo "RESULT x $(qrv recover x --from "$(cat /store/x.qrv)" --instant --throttle 8M)"
echo "RESULT x-share-after $(cat /sys/module/dm_mirror/parameters/raid1_resync_throttle)"
echo "RESULT x-table $(dmsetup table qrv-x | cut -d' ' -f3)"
echo "RESULT x-same $(cmp -s /dev/mapper/qrv-x /store/q/x.qrv.img && echo yes || echo no)"
echo "RESULT x-helpers $(dmsetup ls | grep -c qrv-hyd || true) $(ls /store/home/hydrate | wc -l) $(losetup -a | wc -l)"

# promote --migrate-to: a QRV on a block device (a slow disk: an LV here) of the dm volume; the
# volume moves to a new LV of its size, which reads the QRV at once and holds it when the copy is
# done; the QRV stays a QRV
lvm lvcreate -q -y -L 64m -n slow vge
lvm lvcreate -q -y -L 64m -n fast vge
slow=$(field "$(qrv run x --to /dev/vge/slow --force)" qrv.id)
echo "RESULT migrate $(qrv promote "$slow" --migrate-to /dev/vge/fast --force)"
echo "RESULT migrate-same $(cmp -s /dev/vge/fast /dev/vge/slow && echo yes || echo no)"
echo "RESULT migrate-old $(dmsetup ls | grep -c '^qrv-x' || true)"

# thin LV: qrv killed while it waits; the volume reads the QRV block for block while it is copied
q=$(cat /store/web.qrv)
"$QRV" --json recover web --from "$q" --instant --throttle 1% >/tmp/web.out 2>&1 &
pid=$!
for _ in $(seq 1 100); do [ -n "$(copying vge-web 2>/dev/null)" ] && break; sleep 0.2; done
echo "RESULT web-copying $(copying vge-web)"
echo "RESULT web-reads-qrv $(cmp -s /dev/vge/web "/store/q/web.qrv.img" && echo same || echo differs)"
echo "RESULT web-fsck-during $(fsck /dev/vge/web)"
mount /dev/vge/web /mnt/web
echo "RESULT web-file-during $([ "$(sum /mnt/web/file1)" = "$(cat /store/web.sum)" ] && echo same || echo differs) $([ -e /mnt/web/junk ] && echo junk || echo no-junk)"
dd if=/dev/urandom bs=1048576 count=2 status=none of=/mnt/web/during && sync
sum /mnt/web/during >/store/web.during
kill -9 "$pid"; wait "$pid" 2>/dev/null || true
echo "RESULT web-still-copying $(copying vge-web)"
echo "RESULT web-snap-refused $(refused snap web)"
echo "RESULT web-doctor $("$QRV" doctor 2>&1 | grep -c 'is copying' || true)"
echo 100 >/sys/module/dm_mirror/parameters/raid1_resync_throttle
for _ in $(seq 1 120); do [ -z "$(copying vge-web)" ] && break; sleep 0.5; done
echo "RESULT web-doctor-done $("$QRV" doctor 2>&1 | grep -c 'has copied everything' || true)"
echo "RESULT web-status $(qrv recover --status)"
echo "RESULT web-table $(dmsetup table vge-web | cut -d' ' -f3)"
echo "RESULT web-during $([ "$(sum /mnt/web/during)" = "$(cat /store/web.during)" ] && echo same || echo differs)"
umount /mnt/web
echo "RESULT web-fsck $(fsck /dev/vge/web)"
echo "RESULT web-qrv-unchanged $(qrv verify "$q" >/dev/null && echo yes || echo no)"

# classic LV: left copying, slowly, with a file written to it; the VM reboots with it mounted
echo "RESULT db $(qrv recover db --from "$(cat /store/db.qrv)" --instant --no-wait --throttle 1%)"
mount /dev/vge/db /mnt/db
echo "RESULT db-file-during $([ "$(sum /mnt/db/file1)" = "$(cat /store/db.sum)" ] && echo same || echo differs)"
dd if=/dev/urandom bs=1048576 count=2 status=none of=/mnt/db/during && sync
sum /mnt/db/during >/store/db.during
echo "RESULT db-copying $(copying vge-db)"
echo "RESULT db-autoactivation $(lvm lvs --noheadings -o autoactivation vge/db | tr -d ' ')"
