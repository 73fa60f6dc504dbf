#!/bin/bash
# Run inside the VM lane by test/providers/lvm/lvm-provider.test.ts: qrv end to end on mounted
# ext4 LVs — frozen and snapshotted by the lvm provider, copied to a QRV, the QRV checked with
# e2fsck, then updated from the provider's changed ranges (classic: the COW store; thin:
# thin_delta) and compared block for block with the snapshot; a classic snapshot that overflows
# is refused and cleaned up by doctor. Only ever inside the VM, on its blank data disk.
set -euo pipefail
. /repo/test/vm/lane/vm-lib.sh
# Snapshots of mounted filesystems allow: emulated, on a busy machine, a freeze
# window can outlast the 5 s default (meant for real hardware; the limit is tested on the host).
status() { "$QRV" "$@" >/dev/null 2>&1 && echo 0 || echo $?; }
snapid() { sed -n 's/.*"snapshot":{"id":"\(s-[0-9a-f]*\)".*/\1/p'; }
fsck() { if e2fsck -fn "$1" >/dev/null 2>&1; then echo clean; else echo unclean; fi; }
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

for s in $(qrv list | pick 'j.snapshots.filter((s)=>s.state==="ready").map((s)=>s.id).join(" ")'); do qrv unsnap "$s" >/dev/null; done
echo "RESULT doctor $(status doctor)"
echo "RESULT lvs $(lvm lvs --noheadings -o lv_name vge | tr -s ' \n' ' ')"
