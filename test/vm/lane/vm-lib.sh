# Sourced by the VM lane's shell scripts (test/vm/lane/vm-*.sh), which run inside the VM with this
# repository at /repo: the checks and small helpers they all use.
[ -n "${QRV_VM_DISK:-}" ] && [ -n "${QRV_VM_OUT:-}" ] || { echo "runs only inside the VM lane"; exit 2; }
export QRV_HOME=/tmp/qrv-home
# A freeze may last 2 minutes here, not the 5 s default (meant for real hardware; the limit itself
# is tested on the host): emulated, the CPU is ~25x slower, and on a busy machine the window of a
# snapshot of a mounted filesystem (an lvcreate, a dm suspend/load/resume) outlasted 5 s.
export QRV_FREEZE_GUARD_MS=120000
# qrv as shipped: the single executable `npm test` builds (scripts/package.mjs), its own guard
QRV=/repo/dist/qrv
# qrv's summary line (--json)
qrv() { "$QRV" --json "$@" | tail -1; }
# "STATUS CODE" of a command that should fail
refused() { local out status=0; out=$("$QRV" --json "$@" 2>&1) || status=$?; echo "$status $(echo "$out" | sed -n 's/.*"code":"\([a-z-]*\)".*/\1/p' | head -1)"; }
# field JSON a.b.c: one value of a JSON text
field() { node -e 'const v = process.argv[2].split(".").reduce((o, k) => o?.[k], JSON.parse(process.argv[1])); console.log(v ?? "")' "$1" "$2"; }
# echo JSON | pick 'EXPRESSION OF j'
pick() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(eval("(j)=>"+process.argv[1])(JSON.parse(s))))' "$1"; }
# vg_pair: volume group vge on the data disk with a classic LV db (64 MiB) and a thin LV web (64
# MiB, in a 128 MiB pool), each with ext4 mounted at /mnt/db and /mnt/web
vg_pair() {
  lvm pvcreate -q "$QRV_VM_DISK"
  lvm vgcreate -q vge "$QRV_VM_DISK"
  lvm lvcreate -q -y -L 64m -n db vge
  lvm lvcreate -q -y -L 128m -T vge/pool
  lvm lvcreate -q -y -V 64m -T vge/pool -n web
  mkdir -p /mnt/db /mnt/web
  for lv in db web; do mkfs.ext4 -q "/dev/vge/$lv"; mount "/dev/vge/$lv" "/mnt/$lv"; done
}
