#!/bin/bash
# The VM lane's smoke script (test/vm/smoke.test.ts runs it with test/helpers/vm.ts): inside the
# VM, as root, with a real device-mapper kernel and a blank /dev/vda. Every step prints
# "=== <name> @ <uptime>"; the raw outputs later parser tests need go into $QRV_VM_OUT.
set -euo pipefail
out="$QRV_VM_OUT"
disk="$QRV_VM_DISK"
step() { echo "=== $* @ $(cut -d' ' -f1 /proc/uptime)"; }

step versions
{
  echo "kernel $(uname -r)"
  echo "lvm $(lvm version | sed -n 's/^ *LVM version: *//p')"
  echo "dm-driver $(dmsetup --version | sed -n 's/^Driver version: *//p')"
  echo "thin_delta $(thin_delta --version)"
  echo "node $(node --version)"
} | tee "$out/versions.txt"

step lvm
pvcreate -q "$disk"
vgcreate -q vg0 "$disk"
lvcreate -q -y -L 64m -n data vg0
mkfs.ext4 -q /dev/vg0/data
mkdir -p /mnt/data /mnt/snap
mount /dev/vg0/data /mnt/data
echo "before snapshot" >/mnt/data/file.txt
sync

step fsfreeze
fsfreeze -f /mnt/data
# a write to the frozen filesystem waits until the thaw
(echo "written while frozen" >/mnt/data/frozen.txt; sync) &
writer=$!
sleep 0.3
if kill -0 "$writer" 2>/dev/null; then echo "writer blocked while frozen"; fi
fsfreeze -u /mnt/data
wait "$writer"
echo "thawed: $(cat /mnt/data/frozen.txt)"

step classic-snapshot
lvcreate -q -y -s -L 32m -n snap --addtag qrv --addtag qrv:group=g1 vg0/data
echo "after snapshot" >/mnt/data/file.txt
dd if=/dev/urandom of=/mnt/data/more bs=1M count=4 conv=fsync status=none
sync
dmsetup status vg0-snap | tee "$out/dmsetup-status-snapshot.txt"
mount -o ro /dev/vg0/snap /mnt/snap
echo "origin file: $(cat /mnt/data/file.txt)"
echo "snapshot file: $(cat /mnt/snap/file.txt)"
if [ ! -e /mnt/snap/more ]; then echo "snapshot has no 'more'"; fi
umount /mnt/snap

step thin
lvcreate -q -y -L 128m -T vg0/pool
lvcreate -q -y -V 64m -T vg0/pool -n thin
# chunks 0-15 (64 KiB each) written before the snapshot...
dd if=/dev/urandom of=/dev/vg0/thin bs=64k count=16 oflag=direct status=none
lvcreate -q -y -s -n thinsnap --addtag qrv --addtag qrv:group=g2 vg0/thin
lvchange -q -ay -K vg0/thinsnap
# ...then chunk 5 rewritten and chunks 100-102 written for the first time
dd if=/dev/urandom of=/dev/vg0/thin bs=64k seek=5 count=1 oflag=direct conv=notrunc status=none
dd if=/dev/urandom of=/dev/vg0/thin bs=64k seek=100 count=3 oflag=direct conv=notrunc status=none
echo "thinsnap active: $(lvs --noheadings -o lv_active vg0/thinsnap | tr -d ' ')"

step thin-delta
origin_id=$(lvs --noheadings -o thin_id vg0/thin | tr -d ' ')
snap_id=$(lvs --noheadings -o thin_id vg0/thinsnap | tr -d ' ')
echo "thin ids: origin $origin_id, snapshot $snap_id"
dmsetup message vg0-pool-tpool 0 reserve_metadata_snap
thin_delta -m --snap1 "$snap_id" --snap2 "$origin_id" /dev/mapper/vg0-pool_tmeta | tee "$out/thin-delta.xml"
dmsetup message vg0-pool-tpool 0 release_metadata_snap

step reports
lvs --reportformat json -o lv_name,vg_name,lv_attr,lv_size,origin,snap_percent,data_percent,lv_tags,pool_lv --units b >"$out/lvs.json"
dmsetup status vg0-pool-tpool | tee "$out/dmsetup-status-thin-pool.txt"
dmsetup status >"$out/dmsetup-status.txt"
dmsetup table >"$out/dmsetup-table.txt"
echo "reports saved"

step qrv
echo "qrv $(node /repo/bin/qrv --version)"
echo "qrv-executable $(/repo/dist/qrv --version)"

step done
