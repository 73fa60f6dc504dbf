#!/usr/bin/env bash
# Runs a shell script as root in the VM lane's VM (test/helpers/vm.ts), for trying things out:
#   test/vm/run.sh FILE            run FILE (with /bin/sh unless it starts with #!)
#   test/vm/run.sh -c 'COMMANDS'   run COMMANDS
# Prints the script's output, then the timings on stderr; exits with the script's status.
# Environment: QRV_VM_DISK_MIB, QRV_VM_MEMORY_MIB, QRV_VM_TIMEOUT_MS, QRV_VM_OUT_DIR (receives
# the files the script writes into $QRV_VM_OUT), QRV_VM_DEBUG=1 (print the whole console).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "${1:-}" = "-c" ]; then
  [ $# -eq 2 ] || { echo "usage: $0 FILE | -c 'COMMANDS'" >&2; exit 2; }
  export QRV_VM_SCRIPT="$2"
elif [ $# -eq 1 ] && [ -f "$1" ]; then
  QRV_VM_SCRIPT="$(cat "$1")"; export QRV_VM_SCRIPT
else
  echo "usage: $0 FILE | -c 'COMMANDS'" >&2; exit 2
fi
exec node --import tsx --input-type=module -e '
const { runInVm, vmBlocker } = await import("./test/helpers/vm.ts");
const blocker = vmBlocker();
if (blocker) { console.error(`vm lane: ${blocker}`); process.exit(2); }
const env = process.env;
const result = await runInVm(env.QRV_VM_SCRIPT ?? "", {
  diskMiB: Number(env.QRV_VM_DISK_MIB ?? 1024),
  memoryMiB: Number(env.QRV_VM_MEMORY_MIB ?? 1024),
  timeoutMs: Number(env.QRV_VM_TIMEOUT_MS ?? 300000),
  outDir: env.QRV_VM_OUT_DIR || undefined,
  debug: env.QRV_VM_DEBUG === "1",
});
process.stdout.write(env.QRV_VM_DEBUG === "1" ? result.console : result.output);
console.error(`[vm: exit ${result.exitCode}, boot to script ${result.bootSeconds.toFixed(1)} s, whole run ${result.seconds.toFixed(1)} s]`);
process.exitCode = result.exitCode;
'
