#!/usr/bin/env bash
# Integration tests: node's built-in test runner drives the real build/hearth binary.
# The npm packages are installed first (the only step that needs the network); then, where the
# machine allows it (root, unshare, iproute2), the whole suite runs inside a fresh network
# namespace whose only interface is loopback — proof that hearth needs no network.
# HEARTH_NETNS=0 runs it in the normal namespace.
set -euo pipefail
cd "$(dirname "$0")/../tests/integration"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
fi
export HEARTH_BIN=${HEARTH_BIN:-$(realpath ../../build/hearth)}
export HEARTH_SHARED=${HEARTH_SHARED:-$(realpath ../../../shared 2>/dev/null || echo ../../../shared)}
run=(node --test --test-concurrency=2 ./*.test.mjs)
if [ "${HEARTH_NETNS:-1}" != 0 ] && [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null &&
    command -v ip >/dev/null && unshare -n true 2>/dev/null; then
    echo "integration: running inside a network namespace with loopback only (unshare -n)"
    exec unshare -n sh -c 'ip link set lo up && exec "$@"' sh "${run[@]}"
fi
echo "integration: no network namespace available here; running in the normal namespace"
exec "${run[@]}"
