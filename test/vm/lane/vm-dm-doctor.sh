#!/bin/bash
# Run inside the VM lane by test/providers/dm/dm-doctor.test.ts: what a qrv killed (SIGKILL,
# through QRV_FAILPOINTS) in the middle of a dm snapshot or of its removal leaves, found by
# `qrv doctor` and removed by `qrv doctor --fix`, with the volume's data unchanged and its device
# linear again. Prints "RESULT <name> <value>" lines. Only ever inside the VM.
set -euo pipefail
. /repo/test/vm/lane/vm-lib.sh
# the exit status of a command (its output dropped)
status() { local s=0; "$QRV" --json "$@" >/tmp/out.json 2>&1 || s=$?; echo "$s"; }
sum() { timeout 30 sha256sum "$1" | cut -d' ' -f1; }
# what qrv's pieces look like now: dm devices (name:attr), the origin's table target, loop devices, COW files
state() {
  echo "RESULT $1-devices $(dmsetup info -c --noheadings --separator : -o name,attr | grep '^qrv-' | sort | tr '\n' ' ')"
  echo "RESULT $1-target $(dmsetup table qrv-x | cut -d' ' -f3)"
  echo "RESULT $1-loops $(losetup -a | wc -l)"
  echo "RESULT $1-cow $(ls /tmp/qrv-home/cow | wc -l)"
}
# doctor, doctor --fix, doctor: the findings, what was fixed, and that nothing is left. With
# "fix-only" no read-only doctor first: the findings are read from doctor --fix's summary (the
# same list, each marked fixed). Case one checks the read-only doctor; each is a 2-3 s qrv call
# under emulation.
doctor() {
  if [ "${2:-}" != fix-only ]; then
    echo "RESULT $1-doctor-status $(status doctor)"
    echo "RESULT $1-doctor $(tail -1 /tmp/out.json)"
  fi
  echo "RESULT $1-fix-status $(status doctor --fix)"
  echo "RESULT $1-fix $(tail -1 /tmp/out.json)"
  echo "RESULT $1-again-status $(status doctor)"
  state "$1-after"
}
# qrv killed at a failpoint: "RESULT killN <exit status>" and the state it left
killed() { local n=$1 point=$2; shift 2; echo "RESULT kill$n $(QRV_FAILPOINTS=$point=kill status "$@")"; state "kill$n"; }
# a snapshot of x: "RESULT snapN <its summary>", its id in $id
snapped() { local out; out=$(qrv snap x); echo "RESULT snap$1 $out"; id=$(field "$out" snapshot.id); }
# whether a device reads as $before: "RESULT <name> same|differs"
same() { [ "$(sum "$2")" = "$before" ] && echo "RESULT $1 same" || echo "RESULT $1 differs"; }
dmsetup create --verifyudev plain --table "0 131072 linear $QRV_VM_DISK 0"
dd if=/dev/urandom of=/dev/mapper/plain bs=1M count=64 status=none
echo "RESULT add $(qrv volume add x --provider dm --device /dev/mapper/plain)"
before=$(sum /dev/mapper/qrv-x)

# 1. `qrv snap` killed after the origin was suspended, before the snapshot was loaded
killed 1 dm-before-load snap x
doctor one
same one-data /dev/mapper/qrv-x

# 2. killed between prepareSnapshot (COW file, loop device, -real made) and the snapshot
killed 2 after-freeze snap x
doctor two fix-only
same two-data /dev/mapper/qrv-x

# 3. a snapshot works again; its removal killed after the snapshot device went, before the origin
# was linear again
snapped 3; id3=$id
same snap3-data "/dev/mapper/qrv-x-snap-$id3"
killed 3 dm-mid-remove unsnap "$id3"
doctor three fix-only
same three-data /dev/mapper/qrv-x

# 4. a kill beside a ready snapshot: doctor --fix leaves that snapshot's pieces alone
snapped 4; id4=$id
killed 4 dm-before-load snap x
doctor four fix-only
dd if=/dev/urandom of=/dev/mapper/qrv-x bs=1M count=2 seek=10 conv=fsync status=none
same four-snapshot "/dev/mapper/qrv-x-snap-$id4"
[ -f "/tmp/qrv-home/cow/x@$id4.cow" ] && echo "RESULT four-cow kept" || echo "RESULT four-cow gone"
echo "RESULT unsnap4 $(qrv unsnap "$id4")"
state end

# 5. `qrv snap` killed after the snapshot was loaded and the origin's snapshot-origin table was
# loaded, before the resume: the snapshot device exists, but the origin's live table is still
# linear (writes to it would not be copied to the COW store), so the snapshot must go
before=$(sum /dev/mapper/qrv-x) # case 4 wrote to it
killed 5 dm-before-resume snap x
echo "RESULT kill5-inactive $(dmsetup table --inactive qrv-x | cut -d' ' -f3)"
doctor five fix-only
same five-data /dev/mapper/qrv-x
snapped 5; id5=$id
same snap5-data "/dev/mapper/qrv-x-snap-$id5"
echo "RESULT unsnap5 $(qrv unsnap "$id5")"
state end5

# 6. the state a kill inside `dmsetup create` of the snapshot leaves (after its DM_DEV_CREATE,
# before its table load): qrv killed at dm-before-load, then the snapshot device created by hand
# without a table, with the name and UUID qrv's create would have given it
echo "RESULT kill6 $(QRV_FAILPOINTS=dm-before-load=kill status snap x)"
id6=$(ls /tmp/qrv-home/cow | sed -n 's/^x@\(s-[0-9a-f]*\)\.cow$/\1/p')
echo "RESULT id6 $id6"
dmsetup create --notable "qrv-x-snap-$id6" -u "QRV-x-snap-$id6"
state kill6
echo "RESULT kill6-snapshot-table [$(dmsetup table "qrv-x-snap-$id6")]"
doctor six fix-only
same six-data /dev/mapper/qrv-x
