#!/bin/bash
# Captures the dmsetup outputs the dm provider parses, inside the VM lane (never on a host):
#   QRV_VM_OUT_DIR=fixtures/dmsetup test/vm/run.sh test/providers/dm/capture.sh
# Builds by hand what the dm provider builds (fixtures/dmsetup/README.md says what), on the VM's
# blank data disk, and writes each output into $QRV_VM_OUT.
set -euo pipefail
[ -n "${QRV_VM_DISK:-}" ] && [ -n "${QRV_VM_OUT:-}" ] || { echo "runs only inside the VM lane"; exit 2; }
out="$QRV_VM_OUT"
disk="$QRV_VM_DISK"
info() { dmsetup info -c --noheadings --separator '|' -o open,major,minor,uuid,name "$@"; }
{ echo "kernel $(uname -r)"; dmsetup --version; } >"$out/versions.txt"
info >"$out/info-none.txt"
# a plain device standing in for /dev/sdX, put under qrv-a
dmsetup create --verifyudev plain1 --table "0 32768 linear $disk 0"
dd if=/dev/urandom of=/dev/mapper/plain1 bs=1M count=16 oflag=direct status=none
dmsetup create --verifyudev qrv-a -u QRV-a --table "0 32768 linear /dev/mapper/plain1 0"
dmsetup table qrv-a >"$out/table-linear.txt"
# snapshot 1: COW file on a loop device
dmsetup create --verifyudev qrv-a-real -u QRV-a-real --table "0 32768 linear /dev/mapper/plain1 0"
truncate -s 4M /tmp/a@s-00000001.cow
loop=$(losetup -f --show /tmp/a@s-00000001.cow)
dmsetup suspend qrv-a
dmsetup create --verifyudev --readonly qrv-a-snap-s-00000001 -u QRV-a-snap-s-00000001 --table "0 32768 snapshot /dev/mapper/qrv-a-real $loop P 8"
dmsetup reload qrv-a --table "0 32768 snapshot-origin /dev/mapper/qrv-a-real"
dmsetup resume qrv-a
dmsetup status qrv-a-snap-s-00000001 >"$out/status-snapshot-fresh.txt"
dd if=/dev/urandom of=/dev/mapper/qrv-a bs=4k count=10 seek=100 oflag=direct status=none
dmsetup status qrv-a-snap-s-00000001 >"$out/status-snapshot-used.txt"
dmsetup table qrv-a >"$out/table-origin.txt"
dmsetup table qrv-a-snap-s-00000001 >"$out/table-snapshot.txt"
# a second, foreign device with no UUID, and qrv-a mounted
mkfs.ext4 -q /dev/mapper/qrv-a
mkdir -p /mnt/a && mount /dev/mapper/qrv-a /mnt/a
info >"$out/info.txt"
dmsetup status >"$out/status-all.txt"
dmsetup table >"$out/table-all.txt"
umount /mnt/a
# overflow: more written than the 4 MiB store holds
dd if=/dev/urandom of=/dev/mapper/qrv-a bs=1M count=8 oflag=direct status=none
dmsetup status qrv-a-snap-s-00000001 >"$out/status-snapshot-invalid.txt"
# failures, as dmsetup reports them (stderr)
dmsetup create --verifyudev plain2 --table "0 32768 linear $disk 32768"
mkfs.ext4 -q /dev/mapper/plain2
mkdir -p /mnt/p2 && mount /dev/mapper/plain2 /mnt/p2
dmsetup create --verifyudev qrv-b -u QRV-b --table "0 32768 linear /dev/mapper/plain2 0" 2>"$out/create-busy.stderr" || true
dmsetup status nothere 2>"$out/status-missing.stderr" || true
umount /mnt/p2
ls "$out"
