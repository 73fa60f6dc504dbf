# Sourced by vm-instant-1.sh and vm-instant-2.sh (two boots of one disk): vm-lib.sh, the qrv home on
# the disk's store LV (mounted at /store by the scripts), and their helpers.
. /repo/test/vm/lane/vm-lib.sh
export QRV_HOME=/store/home
# a short checksum of a file
sum() { sha256sum "$1" | cut -c1-16; }
fsck() { if e2fsck -fn "$1" >/dev/null 2>&1; then echo clean; else echo unclean; fi; }
# copying DEVICE: the mirror's "done total" region counts while the kernel copies, empty once it is done
copying() { dmsetup status "$1" | sed -n 's/.* \([0-9]*\)\/\([0-9]*\) .*/\1 \2/p' | awk '$1 < $2'; }
