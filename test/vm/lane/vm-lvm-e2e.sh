#!/bin/bash
# Run inside the VM lane by test/providers/lvm/lvm-e2e.test.ts: qrv end to end on mounted
# ext4 LVs — frozen and snapshotted by the lvm provider, copied to a QRV, the QRV checked with
# e2fsck, then updated from the provider's changed ranges (classic: the COW store; thin:
# thin_delta) and compared block for block with the snapshot; a classic snapshot that overflows
# is refused and cleaned up by doctor; an SQLite database of nobody's on the classic LV mapped to
# its volume (app list), held by the sqlite writer while snapshotted (snap --object) and
# recovered by name from the LV snapshot. Only ever inside the VM, on its blank data disk.
set -euo pipefail
. /repo/test/vm/lane/vm-lib.sh
# Snapshots of mounted filesystems allow: emulated, on a busy machine, a freeze
# window can outlast the 5 s default (meant for real hardware; the limit is tested on the host).
status() { "$QRV" "$@" >/dev/null 2>&1 && echo 0 || echo $?; }
snapid() { sed -n 's/.*"snapshot":{"id":"\(s-[0-9a-f]*\)".*/\1/p'; }
fsck() { if e2fsck -fn "$1" >/dev/null 2>&1; then echo clean; else echo unclean; fi; }
# sqlite3 that waits for another connection's lock (the idle one's first read recovers the WAL
# index), as root or (sql_nobody) as the database's owner
sql() { sqlite3 -batch -bail -cmd '.timeout 10000' "$@"; }
sql_nobody() { setpriv --reuid 65534 --regid 65534 --clear-groups sqlite3 -batch -bail -cmd '.timeout 10000' "$@"; }
# rows FIRST LAST: INSERT statements of rows FIRST..LAST, one transaction each
rows() { echo "WITH RECURSIVE c(n) AS (SELECT $1 UNION ALL SELECT n + 1 FROM c WHERE n < $2) SELECT 'INSERT INTO t VALUES(' || n || ', hex(randomblob(16)));' FROM c;" | sqlite3 -batch; }
vg_pair
mkdir -p /tmp/q
for lv in db web; do
  for i in 1 2 3; do dd if=/dev/urandom bs=1048576 count=1 status=none of="/mnt/$lv/file$i"; done
done
echo "RESULT add $(qrv volume add db --provider lvm --path /dev/vge/db)"
echo "RESULT discover $(qrv discover --lvm 'vge/w*')"

for lv in db web; do
  # The first copy keeps its snapshot: it is the base the next copy's changed ranges start from.
  echo "RESULT run-$lv $(qrv run "$lv" --to /tmp/q/ --keep-snapshot)"
  echo "RESULT fsck-$lv $(fsck "/tmp/q/$lv.qrv.img")"
  dd if=/dev/urandom bs=1048576 count=1 status=none of="/mnt/$lv/file2" conv=notrunc
  sync
  snap=$(qrv snap "$lv")
  id=$(echo "$snap" | snapid)
  echo "RESULT snap-$lv $snap"
  echo "RESULT copy-$lv $(qrv copy "$id" --to /tmp/q/)"
  echo "RESULT fsck2-$lv $(fsck "/tmp/q/$lv.qrv.img")"
  echo "RESULT deep-$lv $(qrv verify "$(qrv list --volume "$lv" | pick 'j.qrvs[0].id')" --deep)"
done

# Filling, then overflow: 32 MiB more is too much for the COW store.
snap=$(qrv snap db)
id=$(echo "$snap" | snapid)
# 20 % of 64 MiB, rounded up to whole 4 MiB extents: a 16 MiB store; 14 MiB written fill it to ≈ 88 %.
dd if=/dev/urandom bs=512K count=28 status=none of=/mnt/db/fill oflag=direct
sync
echo "RESULT filling-percent $(lvm lvs --noheadings -o snap_percent "vge/db_qrv_$id" | tr -d ' ')"
echo "RESULT filling-cron $(qrv cron)"
dd if=/dev/urandom bs=1048576 count=32 status=none of=/mnt/db/big oflag=direct 2>/dev/null || true
sync
echo "RESULT overflow-cron $(status cron)"
echo "RESULT overflow-attr $(lvm lvs --noheadings -o lv_attr "vge/db_qrv_$id" | tr -d ' ')"
echo "RESULT overflow-copy $(status copy "$id" --to /tmp/q/overflow.img)"
echo "RESULT overflow-copy-error $("$QRV" copy "$id" --to /tmp/q/overflow.img 2>&1 >/dev/null | head -1)"
echo "RESULT overflow-doctor $(status doctor)"
echo "RESULT overflow-doctor-json $(qrv doctor)"
echo "RESULT overflow-fix $(status doctor --fix)"
echo "RESULT overflow-after $(qrv show "$id")"

# The sqlite writer on the LV: a WAL-mode database of nobody's (the LV's root folder is theirs, as
# an application's volume would be), kept open by an idle connection of theirs so that its WAL
# outlives each writing process. Rows 1-300 are committed before the snapshot, 301-400 after.
# (Skipped without sqlite3 in the VM: build-initramfs.sh adds it when the host has it.)
app_on_lv() {
  rm -f /mnt/db/fill /mnt/db/big # the overflow's files filled the filesystem
  chown 65534:65534 /mnt/db
  sql_nobody /mnt/db/app.db 'PRAGMA journal_mode=WAL; CREATE TABLE t(n INTEGER PRIMARY KEY, v TEXT);' >/dev/null
  mkfifo /tmp/app-idle
  sql_nobody /mnt/db/app.db </tmp/app-idle >/dev/null &
  exec 3>/tmp/app-idle
  echo 'SELECT count(*) FROM t;' >&3
  rows 1 300 | sql_nobody /mnt/db/app.db
  echo "RESULT app-wal-before $(stat -c %s /mnt/db/app.db-wal)"
  echo "RESULT app-list $(qrv app list sqlite:/mnt/db/app.db)"
  # the post-snapshot hook runs while the writer still holds the lock: who holds it
  held=$("$QRV" --json snap --object sqlite:/mnt/db/app.db --hook 'post-snapshot=ps -o user,args >/tmp/app-held')
  echo "RESULT app-snap $(echo "$held" | tail -1)"
  echo "RESULT app-step $(echo "$held" | grep '"step":"hold writers"' | grep '"state":"done"' | head -1)"
  echo "RESULT app-wal-after $(stat -c %s /mnt/db/app.db-wal)"
  echo "RESULT app-holder $(awk '$2 ~ /sqlite3$/ && / -noheader / { print $1 }' /tmp/app-held | tr '\n' ' ')"
  rows 301 400 | sql_nobody /mnt/db/app.db
  echo "RESULT app-recover $(qrv recover sqlite:/mnt/db/app.db --to /tmp/out.db)"
  echo "RESULT app-check $(sql /tmp/out.db 'PRAGMA integrity_check;' | tr '\n' ' ')"
  echo "RESULT app-rows $(sql /tmp/out.db 'SELECT count(*), min(n), max(n), sum(n) FROM t;')"
  echo "RESULT app-live $(sql /mnt/db/app.db 'SELECT count(*), max(n) FROM t;')"
  exec 3>&-
  wait
}
if command -v sqlite3 >/dev/null; then app_on_lv; fi

# Incremental write-back (issue 16): each LV back to its QRV over itself, writing only what
# differs. web's QRV still reflects a snapshot that exists (thin): the provider's ranges, from a
# snapshot of the LV taken first; db's overflowed and is gone (classic): the QRV's ledger, the LV
# read once.
for lv in web db; do
  dd if=/dev/urandom bs=1048576 count=2 status=none of="/mnt/$lv/file3" conv=fsync || true
  umount "/mnt/$lv"
  q=$(qrv list --volume "$lv" | pick "j.qrvs.find((q)=>q.destination.endsWith('/$lv.qrv.img')).id")
  echo "RESULT wb-$lv $(qrv recover "$lv" --from "$q" --force)"
  echo "RESULT wb-$lv-same $(cmp -s "/dev/vge/$lv" "/tmp/q/$lv.qrv.img" && echo same || echo differs)"
  echo "RESULT wb-$lv-fsck $(fsck "/dev/vge/$lv")"
done

for s in $(qrv list | pick 'j.snapshots.filter((s)=>s.state==="ready").map((s)=>s.id).join(" ")'); do qrv unsnap "$s" >/dev/null; done
echo "RESULT doctor $(status doctor)"
echo "RESULT lvs $(lvm lvs --noheadings -o lv_name vge | tr -s ' \n' ' ')"
