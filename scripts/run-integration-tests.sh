#!/usr/bin/env bash
# Integration tests: node's built-in test runner drives the real build/hearth binary.
set -euo pipefail
cd "$(dirname "$0")/../tests/integration"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
fi
export HEARTH_BIN=${HEARTH_BIN:-$(realpath ../../build/hearth)}
export HEARTH_SHARED=${HEARTH_SHARED:-$(realpath ../../../shared 2>/dev/null || echo ../../../shared)}
exec node --test --test-concurrency=2 ./*.test.mjs
