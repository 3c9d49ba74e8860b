#!/bin/bash
# Boots the VM with a test script as /test and returns its exit status.
#   tests/vm/run.sh --init TEST.sh [--file SRC[:DEST]]... [--bin SRC[:DEST]]...
#                   [--modules "ip_vs ..."] [--timeout S] [--console FILE] [--out FILE]
#                   [--smp N] [--mem MiB]
# 124: timed out (qemu killed); 125: the guest reported no status (panic).
set -euo pipefail
exec python3 "$(dirname "$0")/vm.py" run "$@"
