# Sourced by the VM lane's shell scripts (test/helpers/vm-*.sh), which run inside the VM with this
# repository at /repo: the checks and small helpers they all use.
[ -n "${QRV_VM_DISK:-}" ] && [ -n "${QRV_VM_OUT:-}" ] || { echo "runs only inside the VM lane"; exit 2; }
export QRV_HOME=/tmp/qrv-home
# qrv's summary line (--json)
qrv() { node /repo/bin/qrv --json "$@" | tail -1; }
# "STATUS CODE" of a command that should fail
refused() { local out status=0; out=$(node /repo/bin/qrv --json "$@" 2>&1) || status=$?; echo "$status $(echo "$out" | sed -n 's/.*"code":"\([a-z-]*\)".*/\1/p' | head -1)"; }
# field JSON a.b.c: one value of a JSON text
field() { node -e 'const v = process.argv[2].split(".").reduce((o, k) => o?.[k], JSON.parse(process.argv[1])); console.log(v ?? "")' "$1" "$2"; }
# echo JSON | pick 'EXPRESSION OF j'
pick() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(eval("(j)=>"+process.argv[1])(JSON.parse(s))))' "$1"; }
