#!/bin/bash
# Captures the mirror outputs in fixtures/dmsetup/ (status-mirror-*.txt, table-mirror.txt), run in the VM lane:
#   QRV_VM_OUT_DIR=fixtures/dmsetup test/vm/run.sh test/providers/hydrate/capture.sh
# A mirror as instant recovery makes it (a disk region log, 512 KiB regions), copying slowly (the
# throttle at 1 %), then in sync; and one with an in-memory (core) log.
set -e
modprobe dm-mirror
truncate -s 64M /tmp/a /tmp/b; truncate -s 1M /tmp/l
a=$(losetup -f --show /tmp/a); b=$(losetup -f --show /tmp/b); l=$(losetup -f --show /tmp/l)
dd if=/dev/urandom of=$a bs=1M count=64 status=none
echo 1 > /sys/module/dm_mirror/parameters/raid1_resync_throttle
dmsetup create m --table "0 131072 mirror disk 2 $l 1024 2 $a 0 $b 0 1 handle_errors"
sleep 1
dmsetup status m > $QRV_VM_OUT/status-mirror-copying.txt
dmsetup table m > $QRV_VM_OUT/table-mirror.txt
echo 100 > /sys/module/dm_mirror/parameters/raid1_resync_throttle
for i in $(seq 1 100); do dmsetup status m | grep -q " 128/128 " && break; sleep 0.3; done
dmsetup status m > $QRV_VM_OUT/status-mirror-synced.txt
dmsetup remove m
dmsetup create c --table "0 131072 mirror core 1 1024 2 $a 0 $b 0"
dmsetup status c > $QRV_VM_OUT/status-mirror-core.txt
