#!/bin/bash
# Builds (or reuses) the VM cache: Debian's cloud kernel and the base
# initramfs (busybox, IPVS and other modules, keepalived). See vm.py.
#   tests/vm/build-initramfs.sh [--force]
set -euo pipefail
exec python3 "$(dirname "$0")/vm.py" build "$@"
