#!/bin/bash
# Run inside the VM lane by test/providers/dm/dm-provider.test.ts: qrv end to end with the dm
# provider on a plain block device (a linear dm device over part of the VM's blank data disk,
# standing in for /dev/sdX): taken over by `qrv volume add --provider dm --device`, an ext4
# filesystem made and mounted on /dev/mapper/qrv-x, snapshotted (dm suspend freezes it), copied
# to a QRV, checked with e2fsck, updated from the exception stores' changed ranges, and given back
# by `qrv volume remove`. Prints "RESULT <name> <value>" lines. Only ever inside the VM.
set -euo pipefail
. /repo/test/vm/lane/vm-lib.sh
# Snapshots of mounted filesystems allow: emulated, on a busy machine, a freeze
# window can outlast the 5 s default (meant for real hardware; the limit is tested on the host).
# exit status and error code of a command that should fail
dmsetup create --verifyudev plain --table "0 131072 linear $QRV_VM_DISK 0"
dmsetup create --verifyudev other --table "0 32768 linear $QRV_VM_DISK 131072"
dev=/dev/mapper/plain
mkdir -p /mnt/x /mnt/o /tmp/q

# a mounted device is refused, with nothing made
mkfs.ext4 -q /dev/mapper/other
mount /dev/mapper/other /mnt/o
echo "RESULT add-mounted $(refused volume add o --provider dm --device /dev/mapper/other)"
umount /mnt/o
echo "RESULT add-path-and-device $(refused volume add o --provider dm --device /dev/mapper/other --path /dev/mapper/other)"
echo "RESULT add-device-file $(refused volume add o --provider file --device /dev/mapper/other)"

echo "RESULT add $(qrv volume add x --provider dm --device $dev --cow-percent 25)"
echo "RESULT table-added $(dmsetup table qrv-x)"
mkfs.ext4 -q /dev/mapper/qrv-x
mount /dev/mapper/qrv-x /mnt/x
for i in 1 2 3; do dd if=/dev/urandom bs=1048576 count=1 status=none of="/mnt/x/file$i"; done
run=$(qrv run x --to /tmp/q/ --keep-snapshot)
echo "RESULT run $run"
first=$(field "$run" snapshot.id)
echo "RESULT table-snapshotted $(dmsetup table qrv-x)"
if e2fsck -fn /tmp/q/x.qrv.img >/dev/null 2>&1; then echo "RESULT fsck clean"; else echo "RESULT fsck unclean"; fi
dd if=/dev/urandom bs=1048576 count=1 status=none of=/mnt/x/file2
sync
snap=$(qrv snap x)
echo "RESULT snap $snap"
second=$(field "$snap" snapshot.id)
echo "RESULT copy $(qrv copy "$second" --to /tmp/q/)"
if e2fsck -fn /tmp/q/x.qrv.img >/dev/null 2>&1; then echo "RESULT fsck2 clean"; else echo "RESULT fsck2 unclean"; fi
if cmp -s /tmp/q/x.qrv.img "/dev/mapper/qrv-x-snap-$second"; then echo "RESULT cmp same"; else echo "RESULT cmp differ"; fi
echo "RESULT remove-with-snapshots $(refused volume remove x)"

# A group of two mounted dm volumes: qrv freezes both filesystems (FIFREEZE, one window held
# 1.5 s by a failpoint), then each snapshot suspends its device without lockfs. Emulated, the
# window outlasts the 5 s default --max-freeze (vm-lib.sh allows 2 minutes in the lane).
echo "RESULT add-y $(qrv volume add y --provider dm --device /dev/mapper/other)"
mkfs.ext4 -q /dev/mapper/qrv-y
mount /dev/mapper/qrv-y /mnt/o
echo data > /mnt/o/data
QRV_FAILPOINTS=after-freeze=sleep:1500 "$QRV" --json snap x y > /tmp/group.out &
snapping=$!
# Once both members said they froze, a write to y must wait for the group's thaw.
for _ in $(seq 1 600); do [ "$(grep -c 'bring to rest.*froze' /tmp/group.out)" -ge 2 ] && break; sleep 0.05; done
# busybox date has no %N: milliseconds from /proc/uptime (10 ms steps)
ms() { local up _; read -r up _ < /proc/uptime; echo "${up/./}0"; }
start=$(ms)
echo more > /mnt/o/more
sync -f /mnt/o/more
echo "RESULT group-write-ms $(( $(ms) - start ))"
wait "$snapping"
group=$(tail -1 /tmp/group.out)
echo "RESULT group $group"
for s in $(echo "$group" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).snapshots.map((x)=>x.id).join(" ")))'); do
  e2fsck -fn "/dev/mapper/qrv-$(echo "$group" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).snapshots.find((x)=>x.id===process.argv[1]).volume))' "$s")-snap-$s" >/dev/null 2>&1 && echo "RESULT group-fsck-$s clean" || echo "RESULT group-fsck-$s unclean"
  qrv unsnap "$s" >/dev/null
done
umount /mnt/o
echo "RESULT remove-y $(qrv volume remove y)"

# a reboot: every device-mapper table and loop device is gone; the COW files stay
umount /mnt/x
origin_sum=$(sha256sum /dev/mapper/qrv-x | cut -d' ' -f1)
snap_sum=$(sha256sum "/dev/mapper/qrv-x-snap-$first" | cut -d' ' -f1)
dmsetup remove --verifyudev "qrv-x-snap-$first" "qrv-x-snap-$second" qrv-x qrv-x-real
losetup -D
echo "RESULT inactive $(refused snap x)"
echo "RESULT activate $(qrv volume activate --all)"
[ "$(sha256sum /dev/mapper/qrv-x | cut -d' ' -f1)" = "$origin_sum" ] && echo "RESULT activated-origin same" || echo "RESULT activated-origin differs"
[ "$(sha256sum "/dev/mapper/qrv-x-snap-$first" | cut -d' ' -f1)" = "$snap_sum" ] && echo "RESULT activated-snapshot same" || echo "RESULT activated-snapshot differs"
mount /dev/mapper/qrv-x /mnt/x
dd if=/dev/urandom bs=1048576 count=1 status=none of=/mnt/x/file3
sync
third=$(field "$(qrv snap x)" snapshot.id)
echo "RESULT copy3 $(qrv copy "$third" --to /tmp/q/)"
if cmp -s /tmp/q/x.qrv.img "/dev/mapper/qrv-x-snap-$third"; then echo "RESULT cmp3 same"; else echo "RESULT cmp3 differ"; fi
echo "RESULT unsnap3 $(qrv unsnap "$third")"
echo "RESULT unsnap1 $(qrv unsnap "$first")"
echo "RESULT unsnap2 $(qrv unsnap "$second")"
echo "RESULT table-unsnapped $(dmsetup table qrv-x)"
"$QRV" doctor >/dev/null 2>&1 && echo "RESULT doctor 0" || echo "RESULT doctor $?"
echo "RESULT remove-mounted $(refused volume remove x)"
echo "RESULT list-after-refusal $(qrv volume list | grep -c '"name":"x"' || true)"
umount /mnt/x
before=$(sha256sum /dev/mapper/qrv-x | cut -d' ' -f1)
echo "RESULT remove $(qrv volume remove x)"
after=$(sha256sum $dev | cut -d' ' -f1)
[ "$before" = "$after" ] && echo "RESULT device same" || echo "RESULT device differs"
echo "RESULT qrv-devices $(dmsetup ls | grep -c '^qrv-' || true)"
echo "RESULT loops $(losetup -a | wc -l)"
echo "RESULT cow-files $(ls /tmp/qrv-home/cow | wc -l)"
mount $dev /mnt/x
echo "RESULT mount-device $(ls /mnt/x | tr '\n' ' ')"
umount /mnt/x
